"""The platform's static API documentation, built from the code:

* ``openapi.json``: one OpenAPI 3.1 document of the whole public API, merged from every
  installed service's own schema (``<svc>.main:create_app().openapi()``). Paths are already
  the public ``/api/v1/...`` ones; ``/health/*``, ``/docs/*`` and ``/internal/*`` are left
  out (the gateway does not route them for clients).
* ``swagger/``: Swagger UI over it, with its assets served from the same folder (no CDN).
* ``events/``: the event catalog, ``asyncapi.json`` (AsyncAPI 3.0), ``index.html`` (readable
  catalog), ``schemas/<type>.v<n>.json`` and ``schemas/envelope.json``.

    python -m devstack.docs build --out .run/docs

The gateway serves the folder: ``/api/schema/`` -> ``openapi.json``, ``/api/schema/swagger/``
-> ``swagger/``, ``/docs/events/`` -> ``events/`` (see docs/adr/0005-containers-and-docs.md).
Building needs no database: creating an app only reads settings (development defaults).
"""

from __future__ import annotations

import argparse
import copy
import html
import importlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chassis.docs import SWAGGER_ASSETS, swagger_assets_dir, swagger_page
from contracts import catalog

# Every service of the platform, in the order of topology.toml; a service not installed in
# this checkout is skipped. Written here, not read from topology.toml, because the gateway
# image builds the docs from the installed packages alone; tests/deploy/test_topology.py
# checks both tuples against topology.toml.
SERVICES = ("identity", "workspace", "boards", "notifier", "scheduler")
# The services whose own docs the gateway routes (/docs/<service>/: docs = true).
PUBLIC_DOCS = ("identity", "workspace", "boards", "notifier")
# Paths that exist on every service but are not part of the public API.
PRIVATE_PREFIXES = ("/health/", "/docs/", "/internal/")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
TITLE = "Kanban platform API"


class DocsBuildError(RuntimeError):
    """The services' schemas cannot be merged (conflicting paths, operation ids...)."""


@dataclass
class BuildResult:
    out: Path
    services: list[str]
    skipped: list[str]
    operations: int
    renamed: dict[str, str] = field(default_factory=dict)  # "svc:Name" -> merged name
    events: int = 0


# --- OpenAPI ----------------------------------------------------------------------------


def installed_services(names: Iterable[str] = SERVICES) -> tuple[list[str], list[str]]:
    present: list[str] = []
    missing: list[str] = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None and \
                importlib.util.find_spec(f"{name}.main") is not None
        except ModuleNotFoundError:
            found = False
        (present if found else missing).append(name)
    return present, missing


@contextmanager
def _scratch_environment(services: Iterable[str]) -> Iterator[None]:
    """Point each service's state folder at a scratch directory while its app is created
    (identity would otherwise generate a development key under ``.run/``), quietly."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="kanban-docs-") as scratch:
        for name in services:
            os.environ.setdefault(f"{name.upper()}_STATE_DIR", scratch)
            os.environ.setdefault(f"{name.upper()}_LOG_LEVEL", "ERROR")  # quiet build
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def service_openapi(name: str) -> dict[str, Any]:
    """The OpenAPI document a service publishes at ``/docs/<name>/openapi.json``."""
    module = importlib.import_module(f"{name}.main")
    app = module.create_app()
    return copy.deepcopy(app.openapi())


def _rewrite_refs(node: Any, renames: dict[str, str], section: str = "schemas") -> Any:
    prefix = f"#/components/{section}/"
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(prefix):
                name = value[len(prefix):]
                out[key] = prefix + renames.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renames, section)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames, section) for item in node]
    return node


def _service_prefix(service: str) -> str:
    return service[:1].upper() + service[1:]


def _merge_schemas(merged: dict[str, Any], service: str, doc: dict[str, Any],
                   renamed: dict[str, str]) -> dict[str, Any]:
    """Add ``doc``'s component schemas to ``merged``: identical ones are shared; a name that
    means something else in another service is renamed ``<Service><Name>`` (and every $ref
    of this service rewritten). Returns ``doc`` with its refs rewritten."""
    original: dict[str, Any] = doc.get("components", {}).get("schemas", {})
    renames: dict[str, str] = {}
    while True:
        current = {renames.get(k, k): _rewrite_refs(v, renames) for k, v in original.items()}
        clashes = [k for k in original
                   if renames.get(k, k) in merged and merged[renames.get(k, k)]
                   != current[renames.get(k, k)]]
        if not clashes:
            break
        for name in clashes:
            if name in renames:
                raise DocsBuildError(
                    f"schema {name!r} of {service} conflicts with {renames[name]!r} even "
                    "after renaming; rename the model in the service")
            target = _service_prefix(service) + name
            if target in original:
                raise DocsBuildError(f"cannot rename {service}'s {name!r}: {target!r} exists")
            renames[name] = target
    for name, schema in current.items():
        merged.setdefault(name, schema)
    for old, new in renames.items():
        renamed[f"{service}:{old}"] = new
    out = _rewrite_refs(doc, renames)
    out.setdefault("components", {})["schemas"] = current
    return dict(out)


def merge_openapi(documents: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge per-service documents into one. Fails loudly on a path+method served by two
    services, a duplicate operationId, or clashing security schemes."""
    paths: dict[str, dict[str, Any]] = {}
    owner: dict[tuple[str, str], str] = {}
    operation_ids: dict[str, str] = {}
    schemas: dict[str, Any] = {}
    security: dict[str, Any] = {}
    tags: dict[str, dict[str, Any]] = {}
    renamed: dict[str, str] = {}
    described = []
    for service, raw in documents.items():
        doc = _merge_schemas(schemas, service, raw, renamed)
        own_docs = f" Per-service docs: `/docs/{service}/`." if service in PUBLIC_DOCS else ""
        described.append(f"* **{service}** ({raw.get('info', {}).get('title', service)}): "
                         f"{raw.get('info', {}).get('description', '').strip()}{own_docs}")
        for name, scheme in doc.get("components", {}).get("securitySchemes", {}).items():
            known = security.get(name)
            strip = {k: v for k, v in scheme.items() if k != "description"}
            if known is not None and {k: v for k, v in known.items()
                                      if k != "description"} != strip:
                raise DocsBuildError(f"security scheme {name!r} differs between services")
            security.setdefault(name, scheme)
        for tag in doc.get("tags", []):
            tags.setdefault(tag["name"], tag)
        for path, item in doc.get("paths", {}).items():
            if path.startswith(PRIVATE_PREFIXES):
                continue
            target = paths.setdefault(path, {})
            for method, operation in item.items():
                if method not in HTTP_METHODS:
                    if method in target and target[method] != operation:
                        raise DocsBuildError(f"{path}: conflicting path-level {method!r}")
                    target[method] = operation
                    continue
                if (path, method) in owner:
                    raise DocsBuildError(f"{method.upper()} {path} is served by both "
                                         f"{owner[(path, method)]} and {service}")
                owner[(path, method)] = service
                op_id = operation.get("operationId")
                if op_id is not None:
                    if op_id in operation_ids:
                        raise DocsBuildError(f"operationId {op_id!r} used by "
                                             f"{operation_ids[op_id]} and {service}")
                    operation_ids[op_id] = service
                target[method] = {**operation, "x-service": service}
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": "1.0.0",
            "description": (
                "The whole public HTTP API of the Kanban platform, as served by the gateway "
                "(paths are the full public paths). Authenticate with `POST "
                "/api/v1/auth/login` and use the access token as a bearer token. Errors are "
                "RFC 9457 `application/problem+json`. Events: `/docs/events/`.\n\n"
                + "\n".join(described)),
        },
        "servers": [{"url": "/", "description": "the gateway this page is served from"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    if security:
        merged["components"]["securitySchemes"] = security
    if tags:
        merged["tags"] = list(tags.values())
    return merged, renamed


def check_refs(document: dict[str, Any]) -> list[str]:
    """Local ``$ref``s that point nowhere."""
    broken = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                target: Any = document
                for part in ref[2:].split("/"):
                    part = part.replace("~1", "/").replace("~0", "~")
                    if not isinstance(target, dict) or part not in target:
                        broken.append(ref)
                        return
                    target = target[part]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return broken


# --- event catalog page ------------------------------------------------------------------


def type_text(node: dict[str, Any], root: dict[str, Any]) -> str:
    """A short human description of a JSON Schema node (``string (uuid) | null``)."""
    parts = []
    for alt in catalog._alternatives(node, root):
        kind = alt.get("type")
        if "enum" in alt:
            parts.append(" | ".join(json.dumps(v) for v in alt["enum"]))
        elif kind == "array":
            items = alt.get("items")
            parts.append(f"array of {type_text(items, root) if items else 'any'}")
        elif kind == "object" and "title" in alt and "properties" in alt:
            parts.append(str(alt["title"]))
        elif kind is None:
            parts.append("any")
        else:
            parts.append(f"{kind} ({alt['format']})" if "format" in alt else str(kind))
    return " | ".join(dict.fromkeys(parts))


def _fields_table(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        default = ""
        if "default" in prop:
            default = json.dumps(prop["default"])
        elif name not in required:
            default = "[]" if prop.get("type") == "array" else "-"
        rows.append(
            f"<tr><td><code>{html.escape(name)}</code></td>"
            f"<td>{html.escape(type_text(prop, schema))}</td>"
            f"<td>{'yes' if name in required else 'no'}</td>"
            f"<td><code>{html.escape(default)}</code></td></tr>")
    return ("<table><thead><tr><th>field</th><th>type</th><th>required</th>"
            "<th>default</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; margin-top: 2.5rem; }
h3 { margin: 1.8rem 0 .3rem; font-family: ui-monospace, monospace; }
table { border-collapse: collapse; margin: .5rem 0 1rem; width: 100%; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left;
         vertical-align: top; font-size: .92rem; }
th { background: #f5f5f5; } code { font-family: ui-monospace, monospace; }
.meta { color: #555; font-size: .9rem; } nav ul { columns: 3; }
"""


def events_page() -> str:
    infos = catalog.events()
    envelope = catalog.envelope_schema()
    by_stream: dict[str, list[catalog.EventInfo]] = {}
    for info in infos:
        by_stream.setdefault(info.stream, []).append(info)
    toc = "".join(f'<li><a href="#{html.escape(i.key)}">{html.escape(i.event_type)}</a>'
                  f' v{i.version}</li>' for i in infos)
    sections = []
    for stream, members in by_stream.items():
        consumers = ", ".join(catalog.CONSUMERS_BY_STREAM.get(stream, [])) or "none"
        sections.append(
            f'<h2 id="stream-{html.escape(stream)}">Stream <code>{html.escape(stream)}</code>'
            f'</h2><p class="meta">Producer: <b>{html.escape(members[0].producer)}</b> '
            f"(outbox relay). Consumer groups: {html.escape(consumers)}. Poison messages: "
            f"<code>&lt;group&gt;.dead-letter</code>.</p>")
        for info in members:
            schema = catalog.payload_schema(info.event_type, info.version)
            sections.append(
                f'<section class="event" id="{html.escape(info.key)}" '
                f'data-event-type="{html.escape(info.event_type)}">'
                f"<h3>{html.escape(info.event_type)} <small>v{info.version}</small></h3>"
                f"<p>{html.escape(info.description)}</p>"
                f'<p class="meta">Stream <code>{html.escape(info.stream)}</code>, producer '
                f"<b>{html.escape(info.producer)}</b>, payload model "
                f"<code>{html.escape(info.model.__name__)}</code>, JSON Schema "
                f'<a href="schemas/{html.escape(info.key)}.json">'
                f"{html.escape(info.key)}.json</a></p>"
                f"{_fields_table(schema)}</section>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kanban platform event catalog</title><style>{PAGE_STYLE}</style></head>
<body>
<h1>Event catalog</h1>
<p class="meta">{len(infos)} event versions on {len(by_stream)} Redis Streams. Generated from
<code>libs/contracts</code>; machine-readable: <a href="asyncapi.json">asyncapi.json</a>
(AsyncAPI 3.0), <a href="schemas/envelope.json">envelope.json</a>. HTTP API:
<a href="../../api/schema/swagger/">/api/schema/swagger/</a>.</p>
<p>Every message is an <b>envelope</b> whose <code>data</code> is the payload of its
(type, version). Consumers ignore unknown fields, so producers may add optional fields; a
breaking change is published as a new version. Delivery is at-least-once; consumers drop
duplicates by <code>event_id</code>.</p>
<h2 id="envelope">Envelope</h2>
{_fields_table(envelope)}
<nav><h2>Events</h2><ul>{toc}</ul></nav>
{''.join(sections)}
</body></html>
"""


# --- build -------------------------------------------------------------------------------


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def build(out: Path, services: Iterable[str] = SERVICES) -> BuildResult:
    """Write the whole docs folder to ``out`` (replacing what a previous build left)."""
    present, missing = installed_services(services)
    with _scratch_environment(present):
        documents = {name: service_openapi(name) for name in present}
    merged, renamed = merge_openapi(documents)
    broken = check_refs(merged)
    if broken:
        raise DocsBuildError(f"merged schema has dangling $refs: {sorted(set(broken))}")

    out = out.resolve()
    staging = Path(tempfile.mkdtemp(prefix=".docs-", dir=out.parent if out.parent.exists()
                                    else None))
    try:
        _write_json(staging / "openapi.json", merged)
        swagger = staging / "swagger"
        swagger.mkdir()
        page = bytes(swagger_page(TITLE, "../openapi.json", ".").body).decode()
        # A static file carries no charset header: declare it, or a browser may decode the
        # page, and so the (non-ASCII) Swagger bundle it loads, as windows-1252.
        page = page.replace("<head>", '<head>\n<meta charset="utf-8">', 1)
        (swagger / "index.html").write_text(page, encoding="utf-8")
        for asset in SWAGGER_ASSETS:
            shutil.copyfile(swagger_assets_dir() / asset, swagger / asset)
        events_dir = staging / "events"
        _write_json(events_dir / "asyncapi.json", catalog.asyncapi_document())
        _write_json(events_dir / "schemas" / "envelope.json", catalog.envelope_schema())
        for info in catalog.events():
            _write_json(events_dir / "schemas" / f"{info.key}.json",
                        catalog.payload_schema(info.event_type, info.version))
        (events_dir / "index.html").write_text(events_page(), encoding="utf-8")
        # nginx workers (another user, e.g. nobody) read it: world-readable whatever umask.
        for path in staging.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        staging.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(out))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    operations = sum(1 for item in merged["paths"].values() for m in item if m in HTTP_METHODS)
    return BuildResult(out=out, services=present, skipped=missing, operations=operations,
                       renamed=renamed, events=len(catalog.events()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.docs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("build", help="build the docs folder")
    cmd.add_argument("--out", type=Path, required=True)
    cmd.add_argument("--services", default=",".join(SERVICES),
                     help="comma-separated services to include (default: all installed)")
    args = parser.parse_args(argv)
    try:
        result = build(args.out, [s for s in args.services.split(",") if s])
    except DocsBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"[docs] {result.out}: {result.operations} operations from "
          f"{', '.join(result.services) or 'no service'}"
          + (f" (not installed: {', '.join(result.skipped)})" if result.skipped else "")
          + f"; {result.events} event versions", file=sys.stderr)
    for origin, name in result.renamed.items():
        print(f"[docs] renamed schema {origin} -> {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
