#!/bin/sh
# Container entrypoint of the gateway: renders nginx.conf.template with envsubst, restricted
# to the template's own ${UPPER_CASE} placeholders (nginx's lower-case $variables are left
# alone), refuses to start when one of them has no value, then runs nginx in the foreground.
#
#   (no arguments) / nginx ARGS...   render, then nginx -c <rendered> -p <state> -e stderr ARGS
#   anything else                    render, then exec it (e.g. "cat $STATE_DIR/nginx.conf")
#
# The same rendering as tools/devstack/src/devstack/gateway.py does natively; the values
# (defaults in gateway/Dockerfile, upstreams from docker-compose.yml) come from the environment.
set -eu

TEMPLATE="${GATEWAY_TEMPLATE:-/etc/nginx/kanban/nginx.conf.template}"
: "${STATE_DIR:?STATE_DIR must name a writable folder}"
: "${AUTH_CACHE_DIR:?AUTH_CACHE_DIR must name a writable (preferably memory-backed) folder}"

mkdir -p "$STATE_DIR/tmp" "$AUTH_CACHE_DIR"
case "${VALIDATOR_LISTEN:-}" in
    unix:*) rm -f "${VALIDATOR_LISTEN#unix:}" ;;   # left by a killed nginx: bind would fail
esac

names=$(grep -o '\${[A-Z][A-Z0-9_]*}' "$TEMPLATE" | sort -u | tr -d '${}')
missing=""
for name in $names; do
    eval "isset=\${$name+yes}"
    [ "${isset:-}" = yes ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
    echo "gateway: no value for template placeholder(s):$missing" >&2
    exit 64
fi

shell_format=""
for name in $names; do
    shell_format="$shell_format \${$name}"
done
CONF="$STATE_DIR/nginx.conf"
envsubst "$shell_format" < "$TEMPLATE" > "$CONF"

if [ "$#" -eq 0 ]; then
    set -- nginx -g "daemon off;"
fi
if [ "$1" = nginx ]; then
    shift
    exec nginx -c "$CONF" -p "$STATE_DIR/" -e stderr "$@"
fi
exec "$@"
