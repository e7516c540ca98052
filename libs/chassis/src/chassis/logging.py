"""Structured JSON logging (structlog) carrying the request id / correlation id."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any, cast

import structlog

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Keys whose values must never reach a log line.
_SECRET_KEYS = {"password", "current_password", "new_password", "refresh_token",
                "access_token", "authorization", "token", "password_hash", "secret"}


def _redact(_: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = "[redacted]"
    return event


def _add_request_id(_: object, __: str,
                    event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    request_id = request_id_var.get()
    if request_id and "request_id" not in event:
        event["request_id"] = request_id
    return event


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stdout for this process; stdlib loggers (uvicorn...) go through it too."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # One write per line (print would write the line and its newline apart): the API
        # processes of one service process share its stdout, and lines must not interleave.
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer()],
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access logs would repeat every request line; the request middleware logs instead.
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic announces its plugins at INFO whenever it is first imported.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def broker_logging() -> dict[str, Any]:
    """Keyword arguments for a FastStream broker: its lines go through the stdlib root (JSON
    like every other line; its default handler writes its own text format) and its
    per-message lines are DEBUG, since ``event_processed`` already says it."""
    return {"logger": logging.getLogger("faststream"), "log_level": logging.DEBUG}


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return cast(structlog.stdlib.BoundLogger, structlog.get_logger(name))
