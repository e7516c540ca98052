"""Published event versions stay readable.

The JSON Schema of every published (type, version) is committed under
``libs/contracts/schemas/events/`` (``python -m contracts.catalog snapshot`` writes those of
new versions and never overwrites one). Here the current models are held to them: no field
removed or retyped, no new required field; an optional field may be added. A breaking change
needs a new version of the event, not an edit of the old one."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from contracts import catalog
from contracts.events import PAYLOADS, Payload, TaskAssigned, make_event, parse_event
from contracts.streams import STREAM_BY_PRODUCER
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SNAPSHOTS = Path(__file__).resolve().parents[1] / "schemas" / "events"
SNAPSHOT_FILES = sorted(SNAPSHOTS.glob("*.json"))


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return catalog.model_schema(model)


# --- the committed snapshots -------------------------------------------------------------


def test_snapshot_folder_is_populated() -> None:
    assert len(SNAPSHOT_FILES) >= len(PAYLOADS), "run: uv run python -m contracts.catalog snapshot"


def test_every_registered_event_has_a_snapshot() -> None:
    missing = [f"{t}.v{v}.json" for (t, v) in PAYLOADS
               if not catalog.snapshot_path(SNAPSHOTS, t, v).exists()]
    assert missing == [], ("new event versions need a snapshot: "
                           "uv run python -m contracts.catalog snapshot")


@pytest.mark.parametrize("path", SNAPSHOT_FILES, ids=lambda p: p.stem)
def test_snapshot_has_a_model(path: Path) -> None:
    event_type, version = catalog.parse_snapshot_name(path.name)
    assert (event_type, version) in PAYLOADS, (
        f"{path.name}: a published event version was dropped from contracts.events.PAYLOADS")
    document = json.loads(path.read_text())
    assert document["x-event-type"] == event_type
    assert document["x-event-version"] == version
    assert document["x-stream"] == STREAM_BY_PRODUCER[document["x-producer"]]


@pytest.mark.parametrize("path", SNAPSHOT_FILES, ids=lambda p: p.stem)
def test_current_model_is_compatible_with_snapshot(path: Path) -> None:
    event_type, version = catalog.parse_snapshot_name(path.name)
    old = json.loads(path.read_text())
    problems = catalog.compatibility_problems(old, catalog.payload_schema(event_type, version))
    assert problems == [], f"{path.name} breaks published consumers: {problems}"


@pytest.mark.parametrize("path", SNAPSHOT_FILES, ids=lambda p: p.stem)
def test_current_model_parses_a_payload_of_the_snapshot(path: Path) -> None:
    """Behavioural twin of the schema comparison: a payload built from the old schema (every
    field filled, plus a field from the future) still parses with today's model."""
    event_type, version = catalog.parse_snapshot_name(path.name)
    old = json.loads(path.read_text())
    example = catalog.example_instance(old)
    assert set(example) == set(old["properties"])
    model = PAYLOADS[(event_type, version)]
    parsed = model.model_validate({**example, "added_in_a_later_release": {"x": 1}})
    assert not hasattr(parsed, "added_in_a_later_release")
    # What the producer sends today round-trips through the old schema's field names.
    assert set(old["required"]) <= set(parsed.model_dump(mode="json"))


def test_snapshot_command_never_overwrites(tmp_path: Path) -> None:
    first = catalog.write_snapshots(tmp_path)
    assert len(first) == len(PAYLOADS)
    frozen = tmp_path / first[0].name
    frozen.write_text('{"edited": "by hand"}\n')
    again = catalog.write_snapshots(tmp_path)
    assert again == []
    assert json.loads(frozen.read_text()) == {"edited": "by hand"}
    # A version removed from the folder (i.e. a new one) is written again.
    first[1].unlink()
    assert catalog.write_snapshots(tmp_path) == [first[1]]


def test_snapshot_cli(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "contracts.catalog", "snapshot", "--dir",
                          str(tmp_path)], capture_output=True, text=True, check=True)
    assert f"{len(PAYLOADS)} new snapshot(s)" in run.stdout
    check = subprocess.run([sys.executable, "-m", "contracts.catalog", "check", "--dir",
                            str(tmp_path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    (tmp_path / "user.registered.v1.json").write_text(json.dumps(
        {"type": "object", "properties": {"gone": {"type": "string"}}, "required": []}))
    check = subprocess.run([sys.executable, "-m", "contracts.catalog", "check", "--dir",
                            str(tmp_path)], capture_output=True, text=True)
    assert check.returncode == 1
    assert "gone: field removed" in check.stderr


def test_check_reports_snapshots_without_models_and_models_without_snapshots(
        tmp_path: Path) -> None:
    catalog.write_snapshots(tmp_path)
    (tmp_path / "user.registered.v1.json").rename(tmp_path / "user.registered.v9.json")
    problems = catalog.snapshot_problems(tmp_path)
    assert "user.registered.v9.json: no model registered for user.registered v9" in problems
    assert any(p.startswith("user.registered v1: no snapshot") for p in problems)


# --- the checker itself ------------------------------------------------------------------


class V1(BaseModel):
    model_config = ConfigDict(extra="ignore")
    task_id: uuid.UUID
    title: str
    priority: Literal["low", "high"] = "low"
    due_at: AwareDatetime | None = None
    labels: list[str] = Field(default_factory=list)
    count: int = 0


def test_identical_schemas_are_compatible() -> None:
    assert catalog.compatibility_problems(schema_of(V1), schema_of(V1)) == []


def test_added_optional_field_passes() -> None:
    class V2(V1):
        note: str | None = None
        tags: list[str] = Field(default_factory=list)

    assert catalog.compatibility_problems(schema_of(V1), schema_of(V2)) == []


def test_removed_field_fails() -> None:
    class V2(BaseModel):
        task_id: uuid.UUID
        priority: Literal["low", "high"] = "low"
        due_at: AwareDatetime | None = None
        labels: list[str] = Field(default_factory=list)
        count: int = 0

    assert catalog.compatibility_problems(schema_of(V1), schema_of(V2)) == [
        "title: field removed"]


def test_retyped_field_fails() -> None:
    class V2(V1):
        title: int  # type: ignore[assignment]

    problems = catalog.compatibility_problems(schema_of(V1), schema_of(V2))
    assert len(problems) == 1 and problems[0].startswith("title: retyped")


def test_new_required_field_fails() -> None:
    class V2(V1):
        board_id: uuid.UUID

    assert catalog.compatibility_problems(schema_of(V1), schema_of(V2)) == [
        "board_id: new required field"]


def test_optional_field_becoming_required_fails() -> None:
    class V2(V1):
        due_at: AwareDatetime

    problems = catalog.compatibility_problems(schema_of(V1), schema_of(V2))
    assert "due_at: was optional, now required" in problems
    assert any(p.startswith("due_at: retyped, null") for p in problems)


def test_narrowed_enum_fails_and_widened_enum_passes() -> None:
    class Narrow(V1):
        priority: Literal["low"] = "low"

    class Wide(V1):
        priority: Literal["low", "high", "urgent"] = "low"  # type: ignore[assignment]

    assert catalog.compatibility_problems(schema_of(V1), schema_of(Narrow))[0].startswith(
        "priority: retyped")
    assert catalog.compatibility_problems(schema_of(V1), schema_of(Wide)) == []


def test_widened_number_passes_and_narrowed_fails() -> None:
    class Wider(V1):
        count: float = 0  # type: ignore[assignment]

    class Bounded(V1):
        count: int = Field(default=0, le=10)

    assert catalog.compatibility_problems(schema_of(V1), schema_of(Wider)) == []
    assert catalog.compatibility_problems(schema_of(Wider), schema_of(V1))[0].startswith(
        "count: retyped")
    assert catalog.compatibility_problems(schema_of(V1), schema_of(Bounded))[0].startswith(
        "count: retyped")


def test_retyped_array_items_and_new_format_fail() -> None:
    class Items(V1):
        labels: list[int] = Field(default_factory=list)  # type: ignore[assignment]

    class Formatted(V1):
        title: uuid.UUID  # type: ignore[assignment]

    assert catalog.compatibility_problems(schema_of(V1), schema_of(Items))[0].startswith(
        "labels[]: retyped")
    assert catalog.compatibility_problems(schema_of(V1), schema_of(Formatted))[0].startswith(
        "title: retyped")


def test_nested_models_are_compared_field_by_field() -> None:
    class Inner(BaseModel):
        a: str
        b: int = 0

    class InnerLess(BaseModel):
        a: str

    class Outer(BaseModel):
        inner: Inner

    class OuterLess(BaseModel):
        inner: InnerLess

    assert catalog.compatibility_problems(schema_of(Outer), schema_of(Outer)) == []
    assert catalog.compatibility_problems(schema_of(Outer), schema_of(OuterLess)) == [
        "inner.b: field removed"]


def test_rejecting_unknown_fields_fails() -> None:
    class Strict(V1):
        model_config = ConfigDict(extra="forbid")

    assert catalog.compatibility_problems(schema_of(V1), schema_of(Strict)) == [
        "(payload): unknown fields are now rejected"]


def test_example_instance_is_valid_for_its_model() -> None:
    example = catalog.example_instance(schema_of(V1))
    assert V1.model_validate(example).title == "x"
    assert set(example) == set(V1.model_fields)


# --- tolerant reader ---------------------------------------------------------------------


def test_consumers_ignore_unknown_fields_in_envelope_and_payload() -> None:
    assert PAYLOADS[("task.assigned", 1)] is TaskAssigned
    task_id, user_id = uuid.uuid4(), uuid.uuid4()
    raw = {
        "event_id": str(uuid.uuid4()), "type": "task.assigned", "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(), "producer": "boards",
        "actor_id": str(user_id), "correlation_id": "req-1",
        "trace_parent": "00-abc-def-01",  # unknown envelope field
        "data": {
            "task_id": str(task_id), "project_id": str(uuid.uuid4()),
            "board_id": str(uuid.uuid4()), "list_id": str(uuid.uuid4()), "title": "Ship",
            "assignee_id": str(user_id), "created_by": str(user_id), "version": 3,
            "estimate_hours": 5, "watchers": [str(uuid.uuid4())],  # unknown payload fields
        },
    }
    envelope = parse_event(raw)
    typed = envelope.payload()
    assert isinstance(typed, TaskAssigned)
    assert typed.task_id == task_id and typed.version == 3
    assert "estimate_hours" not in typed.model_dump()
    assert "trace_parent" not in envelope.model_dump()


def test_every_payload_model_is_a_tolerant_reader() -> None:
    for (event_type, version), model in PAYLOADS.items():
        assert issubclass(model, Payload)
        assert model.model_config.get("extra") == "ignore", f"{event_type} v{version}"


def test_make_event_round_trips_through_the_snapshot_schema() -> None:
    """What a producer emits today satisfies every required field of the snapshot."""
    for path in SNAPSHOT_FILES:
        event_type, version = catalog.parse_snapshot_name(path.name)
        old = json.loads(path.read_text())
        model = PAYLOADS[(event_type, version)]
        payload = model.model_validate(catalog.example_instance(old))
        envelope = make_event(event_type, payload, producer=old["x-producer"], version=version)
        assert set(old["required"]) <= set(envelope.data), path.name
        assert parse_event(json.loads(envelope.model_dump_json())).payload() == payload
