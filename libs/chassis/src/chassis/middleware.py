"""The one ASGI middleware in front of every service's routes.

One layer instead of several (each layer costs a coroutine frame and a wrapped ``send`` per
request on the hot path). In order, for each HTTP request it:

1. takes ``X-Request-ID`` from the caller (or makes one), binds it to the request's logs and
   echoes it on the response;
2. refuses a body over 1 MiB (by ``Content-Length`` before reading, and by counting a streamed
   body) with 413: the gateway has the same limit, but a service must be safe to expose alone;
3. refuses a body that is not JSON on a JSON route with 415 (naming the expected type), so a
   form post gets a clear answer instead of a puzzling 422;
4. turns an unexpected exception into a 500 problem+json *without* re-raising it: Starlette's
   own handler re-raises after answering and uvicorn then closes the keep-alive connection,
   which nginx may reuse for an unrelated client's POST and answer 502;
5. logs one line per request (not for health probes)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis.errors import problem
from chassis.logging import get_logger, request_id_var

log = get_logger("http")

REQUEST_ID_HEADER = b"x-request-id"
MAX_BODY_BYTES = 1024 * 1024
JSON = "application/json"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# application/json or application/<anything>+json, with any parameters (charset...).
_JSON_TYPE = re.compile(r"application/(?:[\w.+-]+\+)?json\s*(?:;.*)?", re.IGNORECASE)


class _TooLarge(HTTPException):
    """Raised while the body is read; the middleware answers 413 if nothing was sent yet."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body is larger than {max_bytes} bytes")


def is_json_media_type(content_type: str) -> bool:
    return _JSON_TYPE.fullmatch(content_type.strip()) is not None


class RequestMiddleware:
    """See the module docstring. ``other_bodies`` maps a path pattern (a regular expression
    matched against the whole path) to the one media type that route takes instead of JSON
    (an upload's ``multipart/form-data``); every other route with a body takes JSON."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = MAX_BODY_BYTES,
                 other_bodies: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.other_bodies = [(re.compile(pattern), media_type)
                             for pattern, media_type in (other_bodies or {}).items()]

    def _media_type_problem(self, path: str, headers: dict[bytes, bytes]) -> str | None:
        """Why the body's type is refused, or None. Only requests that carry a body count."""
        length = headers.get(b"content-length")
        if length in (None, b"0") and b"transfer-encoding" not in headers:
            return None
        given = headers.get(b"content-type", b"").decode("latin-1")
        for pattern, media_type in self.other_bodies:
            if pattern.fullmatch(path):
                if given.split(";", 1)[0].strip().lower() == media_type:
                    return None
                return f"This route takes {media_type}; the body's Content-Type is " \
                       f"{given or 'missing'}"
        if is_json_media_type(given):
            return None
        return f"This route takes {JSON}; the body's Content-Type is {given or 'missing'}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(REQUEST_ID_HEADER)
        request_id = incoming.decode("latin-1")[:200] if incoming else str(uuid.uuid4())
        token = request_id_var.set(request_id)
        started_at = time.perf_counter()
        status = 500
        response_started = False
        received = 0
        max_bytes = self.max_body_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _TooLarge(max_bytes)
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            refusal = self._refusal(scope, headers)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
            else:
                await self.app(scope, counting_receive, send_with_id)
        except _TooLarge as exc:
            if response_started:
                raise
            await problem(413, str(exc.detail))(scope, receive, send_with_id)
        except Exception as exc:
            log.error("unhandled_error", exc_info=exc, path=scope.get("path"))
            if response_started:
                raise
            await problem(500, "Internal server error")(scope, receive, send_with_id)
        finally:
            if not scope["path"].startswith("/health"):
                log.info("request", method=scope["method"], path=scope["path"], status=status,
                         duration_ms=round((time.perf_counter() - started_at) * 1000, 2))
            request_id_var.reset(token)

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> JSONResponse | None:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return problem(413, f"The request body is larger than {self.max_body_bytes} bytes")
        if scope["method"] in BODY_METHODS:
            why = self._media_type_problem(scope["path"], headers)
            if why is not None:
                return problem(415, why)
        return None

