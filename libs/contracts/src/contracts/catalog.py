"""The event catalog as documents: JSON Schema of every (event type, version) payload, the
envelope, an AsyncAPI 3.0 document of the streams, and a compatibility checker between two
payload schemas.

Generated from :mod:`contracts.events` and :mod:`contracts.streams`, never written by hand.
The JSON Schemas of published versions are committed under ``libs/contracts/schemas/events/``
(``<type>.v<version>.json``); ``libs/contracts/tests/test_event_compat.py`` checks that the
current models still accept what those snapshots describe.

    python -m contracts.catalog snapshot        # write snapshots of NEW versions only
    python -m contracts.catalog asyncapi        # print the AsyncAPI document
    python -m contracts.catalog check           # compare the models with the snapshots
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts.events import PAYLOADS, Envelope, Payload
from contracts.streams import STREAM_BY_PRODUCER

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# libs/contracts/schemas/events (exists in a checkout, not in an installed wheel).
DEFAULT_SNAPSHOT_DIR = Path(__file__).resolve().parents[2] / "schemas" / "events"

# Which service produces each event family (the first part of the type).
PRODUCER_BY_PREFIX = {
    "user": "identity",
    "team": "workspace",
    "project": "workspace",
    "board": "boards",
    "list": "boards",
    "task": "boards",
    "comment": "boards",
    "reminder": "scheduler",
}

# The consumer groups reading each stream (one group per consuming service; ADR 0001/0002).
# tools/devstack/tests/test_docs_build.py checks it against the services' consumer modules.
CONSUMERS_BY_STREAM = {
    "identity.events": ["workspace", "boards", "notifier"],
    "workspace.events": ["boards", "notifier", "scheduler"],
    "boards.events": ["notifier", "scheduler"],
    "scheduler.events": ["notifier"],
}

# One line per event type for the readable catalog.
DESCRIPTIONS = {
    "user.registered": "A user registered.",
    "user.updated": "A user changed their profile (full name).",
    "team.created": "A team was created; its creator is the owner.",
    "team.deleted": "A team was deleted, and with it its projects.",
    "team.member_added": "A user was added to a team.",
    "team.member_role_changed": "A team member's role changed (also ownership transfers).",
    "team.member_removed": "A user left or was removed from a team.",
    "project.created": "A project was created in a team.",
    "project.updated": "A project's name or description changed.",
    "project.deleted": "A project was deleted, and with it its boards.",
    "project.member_added": "A user got a role in a project (explicit, or implicit as a "
                            "team owner/admin).",
    "project.member_role_changed": "A project member's role changed.",
    "project.member_removed": "A user lost their role in a project.",
    "board.created": "A board was created in a project.",
    "board.updated": "A board was renamed.",
    "board.deleted": "A board was deleted, and with it its lists and tasks.",
    "list.created": "A list was appended to a board.",
    "list.updated": "A list's name or WIP limit changed.",
    "list.moved": "A list moved to another position in its board.",
    "list.deleted": "A list was deleted, and with it its tasks.",
    "task.created": "A task was created at the end of a list.",
    "task.updated": "Task fields changed (other than assignee and due date, which have "
                    "their own events).",
    "task.moved": "A task moved within its list or to another list.",
    "task.assigned": "A task got a (new) assignee.",
    "task.unassigned": "A task's assignee was removed.",
    "task.due_date_changed": "A task's due date was set, changed or cleared.",
    "task.deleted": "A task was deleted.",
    "comment.created": "A comment was posted on a task.",
    "comment.deleted": "A comment was deleted.",
    "reminder.due_soon": "A task's due date falls within the reminder window (once per "
                         "due date).",
    "reminder.overdue": "A task's due date has passed (once per due date).",
}


@dataclass(frozen=True)
class EventInfo:
    event_type: str
    version: int
    model: type[Payload]
    producer: str
    stream: str

    @property
    def key(self) -> str:
        """``<type>.v<version>``: file stem of the snapshot, AsyncAPI message id."""
        return f"{self.event_type}.v{self.version}"

    @property
    def description(self) -> str:
        return DESCRIPTIONS.get(self.event_type, (self.model.__doc__ or "").strip())

    @property
    def consumers(self) -> list[str]:
        return CONSUMERS_BY_STREAM.get(self.stream, [])


def producer_of(event_type: str) -> str:
    prefix = event_type.split(".", 1)[0]
    try:
        return PRODUCER_BY_PREFIX[prefix]
    except KeyError:
        raise LookupError(f"no producer known for event family {prefix!r} "
                          f"(add it to contracts.catalog.PRODUCER_BY_PREFIX)") from None


def events() -> list[EventInfo]:
    """Every registered (type, version), in registry order."""
    infos = []
    for (event_type, version), model in PAYLOADS.items():
        producer = producer_of(event_type)
        infos.append(EventInfo(event_type, version, model, producer,
                               STREAM_BY_PRODUCER[producer]))
    return infos


# --- JSON Schema --------------------------------------------------------------------------


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The validation JSON Schema of a model, as pydantic generates it (draft 2020-12)."""
    return model.model_json_schema(mode="validation")


def payload_schema(event_type: str, version: int) -> dict[str, Any]:
    """A standalone JSON Schema document of one event payload (what a snapshot holds)."""
    model = PAYLOADS[(event_type, version)]
    producer = producer_of(event_type)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:kanban:events:{event_type}:v{version}",
        "x-event-type": event_type,
        "x-event-version": version,
        "x-producer": producer,
        "x-stream": STREAM_BY_PRODUCER[producer],
        **model_schema(model),
    }


def envelope_schema() -> dict[str, Any]:
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": "urn:kanban:events:envelope",
            **model_schema(Envelope)}


def snapshot_path(directory: Path, event_type: str, version: int) -> Path:
    return directory / f"{event_type}.v{version}.json"


SNAPSHOT_NAME = re.compile(r"^(?P<type>[a-z_]+\.[a-z_]+)\.v(?P<version>\d+)\.json$")


def parse_snapshot_name(name: str) -> tuple[str, int]:
    match = SNAPSHOT_NAME.match(name)
    if match is None:
        raise ValueError(f"not a snapshot file name: {name!r} (expected <type>.v<n>.json)")
    return match["type"], int(match["version"])


def dump_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_snapshots(directory: Path = DEFAULT_SNAPSHOT_DIR) -> list[Path]:
    """Write the schema of every (type, version) that has no snapshot yet; never overwrite
    one (a published version is frozen). Returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for info in events():
        path = snapshot_path(directory, info.event_type, info.version)
        if path.exists():
            continue
        path.write_text(dump_json(payload_schema(info.event_type, info.version)), encoding="utf-8")
        written.append(path)
    return written


# --- compatibility -----------------------------------------------------------------------


def compatibility_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why a consumer built on ``new`` could not read every payload ``old`` describes (and a
    consumer built on ``old`` could not read ``new``'s). Empty list = compatible.

    Rules: every old field still exists; its new type accepts every value the old type
    accepted (same type or wider: int -> number, more enum values, no new format/length
    limits); no field is required now that was optional or absent before; unknown fields
    stay accepted. Adding an optional field is compatible."""
    return _object_problems(old, new, old, new, "")


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, got {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        extra = {k: v for k, v in node.items() if k != "$ref"}
        node = {**target, **extra}
        seen += 1
        if seen > 50:
            raise ValueError(f"$ref cycle at {ref}")
    return node


def _alternatives(node: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    """The node as a list of single-type alternatives (anyOf/oneOf/type lists flattened)."""
    node = _resolve(node, root)
    for key in ("anyOf", "oneOf"):
        if key in node:
            alts: list[dict[str, Any]] = []
            for option in node[key]:
                alts.extend(_alternatives(option, root))
            return alts
    if "allOf" in node and len(node["allOf"]) == 1:
        rest = {k: v for k, v in node.items() if k != "allOf"}
        return _alternatives({**_resolve(node["allOf"][0], root), **rest}, root)
    if "const" in node:
        node = {**{k: v for k, v in node.items() if k != "const"}, "enum": [node["const"]]}
    kind = node.get("type")
    if isinstance(kind, list):
        return [{**node, "type": one} for one in kind]
    if kind is None and "enum" in node:
        return [{**node, "type": _json_type(value)} for value in node["enum"]]
    return [node]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _describe(alt: dict[str, Any]) -> str:
    if "enum" in alt:
        return "one of " + ", ".join(json.dumps(v) for v in alt["enum"])
    text = str(alt.get("type", "any"))
    if "format" in alt:
        text += f" ({alt['format']})"
    return text


def _narrower(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why ``new`` (one alternative) rejects some value ``old`` accepts; None if it doesn't."""
    checks = [("maxLength", max), ("maxItems", max), ("maximum", max),
              ("minLength", min), ("minItems", min), ("minimum", min),
              ("exclusiveMaximum", max), ("exclusiveMinimum", min)]
    for key, wider in checks:
        if key in new and (key not in old or wider(old[key], new[key]) != new[key]):
            return f"{key} tightened to {new[key]}"
    if "pattern" in new and new.get("pattern") != old.get("pattern"):
        return f"pattern {new['pattern']!r} added"
    if "format" in new and new["format"] != old.get("format"):
        return f"format {new['format']!r} added"
    return None


def _accepts(old: dict[str, Any], new: dict[str, Any], old_root: dict[str, Any],
             new_root: dict[str, Any], path: str) -> list[str] | None:
    """None if ``new`` cannot hold ``old``'s values at all; else nested problems (maybe [])."""
    new_type, old_type = new.get("type"), old.get("type")
    if new_type is not None:
        if old_type is None:
            return None  # old accepted anything
        if new_type != old_type and not (old_type == "integer" and new_type == "number"):
            return None
    if "enum" in new and ("enum" not in old or any(v not in new["enum"] for v in old["enum"])):
        return None
    if _narrower(old, new) is not None:
        return None
    if new_type == "array" and "items" in new:
        if "items" not in old:
            return None
        return _type_problems(old["items"], new["items"], old_root, new_root, f"{path}[]")
    if new_type == "object" and ("properties" in new or new.get("additionalProperties") is False):
        if "properties" not in old:
            return None
        return _object_problems(old, new, old_root, new_root, path)
    return []


def _type_problems(old: dict[str, Any], new: dict[str, Any], old_root: dict[str, Any],
                   new_root: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    new_alts = _alternatives(new, new_root)
    for old_alt in _alternatives(old, old_root):
        best: list[str] | None = None
        for new_alt in new_alts:
            result = _accepts(old_alt, new_alt, old_root, new_root, path)
            if result is not None and (best is None or len(result) < len(best)):
                best = result
        if best is None:
            problems.append(f"{path}: retyped, {_describe(old_alt)} is no longer accepted "
                            f"(now {' | '.join(_describe(a) for a in new_alts)})")
        else:
            problems.extend(best)
    return problems


def _object_problems(old: dict[str, Any], new: dict[str, Any], old_root: dict[str, Any],
                     new_root: dict[str, Any], prefix: str) -> list[str]:
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    problems: list[str] = []
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name, old_field in old_props.items():
        path = f"{prefix}.{name}" if prefix else name
        if name not in new_props:
            problems.append(f"{path}: field removed")
            continue
        problems.extend(_type_problems(old_field, new_props[name], old_root, new_root, path))
    for name in sorted(new_required - old_required):
        path = f"{prefix}.{name}" if prefix else name
        problems.append(f"{path}: new required field" if name not in old_props
                        else f"{path}: was optional, now required")
    if new.get("additionalProperties") is False and old.get("additionalProperties") is not False:
        problems.append(f"{prefix or '(payload)'}: unknown fields are now rejected")
    return problems


def example_instance(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A value valid for ``schema`` with every property filled in (optional ones too), used
    to show that a current model still parses what an old snapshot describes."""
    root = root if root is not None else schema
    alts = _alternatives(schema, root)
    alt = next((a for a in alts if a.get("type") != "null"), alts[0])
    if "enum" in alt:
        return alt["enum"][0]
    kind = alt.get("type")
    if kind == "object":
        return {name: example_instance(sub, root)
                for name, sub in alt.get("properties", {}).items()}
    if kind == "array":
        items = alt.get("items")
        return [example_instance(items, root)] if items else []
    if kind == "integer":
        return max(1, int(alt.get("minimum", 1)))
    if kind == "number":
        return max(1.5, float(alt.get("minimum", 1.5)))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    formats = {"uuid": "00000000-0000-4000-8000-000000000001",
               "date-time": "2026-01-02T03:04:05Z", "date": "2026-01-02",
               "email": "someone@example.com", "uri": "https://example.com/"}
    if "format" in alt and alt["format"] in formats:
        return formats[alt["format"]]
    return "x" * max(1, int(alt.get("minLength", 1)))


def snapshot_problems(directory: Path = DEFAULT_SNAPSHOT_DIR) -> list[str]:
    """Every incompatibility between the committed snapshots and the current models, every
    snapshot without a model and every model without a snapshot."""
    problems = []
    seen = set()
    for path in sorted(directory.glob("*.json")):
        event_type, version = parse_snapshot_name(path.name)
        seen.add((event_type, version))
        if (event_type, version) not in PAYLOADS:
            problems.append(f"{path.name}: no model registered for {event_type} v{version}")
            continue
        old = json.loads(path.read_text(encoding="utf-8"))
        new = payload_schema(event_type, version)
        problems.extend(f"{path.name}: {p}" for p in compatibility_problems(old, new))
    for key in PAYLOADS:
        if key not in seen:
            problems.append(f"{key[0]} v{key[1]}: no snapshot (python -m contracts.catalog "
                            "snapshot)")
    return problems


# --- AsyncAPI ----------------------------------------------------------------------------


def _channel_id(stream: str) -> str:
    return stream.replace(".", "_")


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0 document: one channel per stream, one message per (type, version), a
    send operation per producer and a receive operation per consumer group."""
    infos = events()
    models: list[type[BaseModel]] = [Envelope, *dict.fromkeys(i.model for i in infos)]
    _, defs = models_json_schema([(m, "validation") for m in models],
                                 ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for stream in dict.fromkeys(i.stream for i in infos):
        producer = next(i.producer for i in infos if i.stream == stream)
        channels[_channel_id(stream)] = {
            "address": stream,
            "title": stream,
            "description": (f"Redis Stream of every event {producer} publishes (via its "
                            f"outbox relay). Consumer groups: "
                            f"{', '.join(CONSUMERS_BY_STREAM.get(stream, [])) or 'none'}. "
                            "Poison messages of a group go to `<group>.dead-letter`."),
            "messages": {},
        }
    for info in infos:
        channel = channels[_channel_id(info.stream)]
        messages[info.key] = {
            "name": info.event_type,
            "title": f"{info.event_type} v{info.version}",
            "summary": info.description,
            "contentType": "application/json",
            "headers": {"type": "object", "properties": {
                "event_type": {"type": "string", "const": info.event_type},
                "correlation_id": {"type": "string"}}},
            "payload": {
                "allOf": [{"$ref": "#/components/schemas/Envelope"}],
                "type": "object",
                "properties": {
                    "type": {"const": info.event_type},
                    "version": {"const": info.version},
                    "producer": {"const": info.producer},
                    "data": {"$ref": f"#/components/schemas/{info.model.__name__}"},
                },
            },
            "correlationId": {"location": "$message.payload#/correlation_id"},
            "x-event-type": info.event_type,
            "x-event-version": info.version,
            "x-producer": info.producer,
            "x-consumers": info.consumers,
        }
        channel["messages"][info.key] = {"$ref": f"#/components/messages/{info.key}"}
    for channel_id, channel in channels.items():
        refs = [{"$ref": f"#/channels/{channel_id}/messages/{key}"}
                for key in channel["messages"]]
        producer = next(i.producer for i in infos if _channel_id(i.stream) == channel_id)
        operations[f"{producer}.publish"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{producer} publishes its events (transactional outbox + relay).",
            "messages": refs}
        for group in CONSUMERS_BY_STREAM.get(channel["address"], []):
            operations[f"{group}.consume.{channel_id}"] = {
                "action": "receive", "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"Consumer group `{group}` reads {channel['address']} "
                           "(idempotent by event_id; unknown types and fields ignored).",
                "messages": refs}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Kanban platform events",
            "version": "1.0.0",
            "description": (
                "Every event the services exchange. Each message is an envelope (event_id, "
                "type, version, occurred_at, producer, actor_id, correlation_id) whose `data` "
                "is the typed payload of its (type, version). Consumers ignore unknown "
                "fields; a breaking change is a new version."),
        },
        "defaultContentType": "application/json",
        "servers": {"redis": {"host": "redis:6379", "protocol": "redis",
                              "description": "Redis Streams (one stream per producer)."}},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


# --- command line ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.catalog",
                                     description="Event catalog documents and snapshots.")
    sub = parser.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot", help="write JSON Schemas of new (type, version)s")
    snap.add_argument("--dir", type=Path, default=DEFAULT_SNAPSHOT_DIR)
    check = sub.add_parser("check", help="compare the current models with the snapshots")
    check.add_argument("--dir", type=Path, default=DEFAULT_SNAPSHOT_DIR)
    sub.add_parser("asyncapi", help="print the AsyncAPI document")
    args = parser.parse_args(argv)
    if args.command == "snapshot":
        written = write_snapshots(args.dir)
        for path in written:
            print(f"wrote {path}")
        print(f"{len(written)} new snapshot(s); existing ones are never overwritten")
        return 0
    if args.command == "check":
        problems = snapshot_problems(args.dir)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    sys.stdout.write(dump_json(asyncapi_document()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
