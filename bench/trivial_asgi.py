"""The smallest Python upstream: a bare ASGI app (no framework) answering a fixed JSON body,
and the JWKS the gateway asks for. Stands in for "a service" in the gateway benchmark, so
the token check is measured against the kind of upstream every real route has.

    python -m uvicorn trivial_asgi:app --app-dir bench   (TRIVIAL_JWKS = the JWKS as JSON)
"""

from __future__ import annotations

import os

BODY = b'{"ok":true}'
JWKS = os.environ.get("TRIVIAL_JWKS", '{"keys":[]}').encode()
HEADERS = [(b"content-type", b"application/json")]


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    body = JWKS if scope["path"] == "/.well-known/jwks.json" else BODY
    await send({"type": "http.response.start", "status": 200,
                "headers": [*HEADERS, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
