"""``python -m devstack.docs build``: the merged OpenAPI document, Swagger UI and the event
catalog, built from the installed services (no database needed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chassis.docs import SWAGGER_ASSETS
from contracts import catalog
from contracts.events import PAYLOADS
from devstack import docs

HTTP_METHODS = set(docs.HTTP_METHODS)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> docs.BuildResult:
    return docs.build(tmp_path_factory.mktemp("docs") / "out")


@pytest.fixture(scope="module")
def merged(built: docs.BuildResult) -> dict[str, Any]:
    return json.loads((built.out / "openapi.json").read_text())


@pytest.fixture(scope="module")
def service_documents(built: docs.BuildResult) -> dict[str, dict[str, Any]]:
    with docs._scratch_environment(built.services):
        return {name: docs.service_openapi(name) for name in built.services}


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(path, method) for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS]


# --- the merged OpenAPI document ---------------------------------------------------------


def test_identity_is_installed_and_built(built: docs.BuildResult) -> None:
    # identity is the reference service; without it the build would prove little.
    assert "identity" in built.services
    assert set(built.services) | set(built.skipped) == set(docs.SERVICES)


def test_merged_paths_hold_every_public_operation_of_every_service(
        merged: dict[str, Any], service_documents: dict[str, dict[str, Any]]) -> None:
    merged_ops = set(operations(merged))
    expected = set()
    for name, document in service_documents.items():
        public = [(p, m) for p, m in operations(document) if not p.startswith(
            docs.PRIVATE_PREFIXES)]
        assert public or name == "scheduler", f"{name} publishes no public operation"
        for path, method in public:
            assert merged["paths"][path][method]["x-service"] == name
        expected |= set(public)
    assert merged_ops == expected
    assert ("/api/v1/auth/login", "post") in merged_ops
    assert ("/.well-known/jwks.json", "get") in merged_ops


def test_private_paths_are_left_out(merged: dict[str, Any]) -> None:
    assert [p for p in merged["paths"] if p.startswith(("/health", "/docs", "/internal"))] == []
    assert all(p.startswith(("/api/v1/", "/.well-known/")) for p in merged["paths"])


def test_no_duplicate_operations_or_operation_ids(merged: dict[str, Any]) -> None:
    ops = operations(merged)
    assert len(ops) == len(set(ops))
    ids = [merged["paths"][p][m]["operationId"] for p, m in ops]
    assert len(ids) == len(set(ids))


def test_merged_document_is_valid_openapi_3_1(merged: dict[str, Any]) -> None:
    assert merged["openapi"] == "3.1.0"
    assert merged["info"]["title"] and merged["info"]["version"]
    assert docs.check_refs(merged) == []
    assert merged["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, item in merged["paths"].items():
        assert path.startswith("/")
        params = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            assert operation["responses"], f"{method} {path}"
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == params, f"{method} {path}: path parameters {declared}"
    try:
        from openapi_spec_validator import validate
    except ImportError:  # full validation when the dev group has openapi-spec-validator
        return
    validate(merged)


def test_protected_operations_keep_the_bearer_requirement(merged: dict[str, Any]) -> None:
    me = merged["paths"]["/api/v1/users/me"]["get"]
    assert me["security"] == [{"HTTPBearer": []}]
    assert "security" not in merged["paths"]["/api/v1/auth/login"]["post"]


# --- merging rules -----------------------------------------------------------------------


def _doc(paths: dict[str, Any], schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths,
            "components": {"schemas": schemas or {}}}


def _op(op_id: str, ref: str | None = None) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}} \
        if ref else {}
    return {"operationId": op_id, "responses": {"200": {"description": "ok",
                                                        **({"content": content} if ref else {})}}}


def test_same_path_and_method_in_two_services_fails() -> None:
    a = _doc({"/api/v1/x": {"get": _op("a")}})
    b = _doc({"/api/v1/x": {"get": _op("b")}})
    with pytest.raises(docs.DocsBuildError, match="GET /api/v1/x is served by both a and b"):
        docs.merge_openapi({"a": a, "b": b})


def test_same_path_other_method_merges() -> None:
    a = _doc({"/api/v1/x": {"get": _op("a")}})
    b = _doc({"/api/v1/x": {"post": _op("b")}})
    merged, _ = docs.merge_openapi({"a": a, "b": b})
    assert set(merged["paths"]["/api/v1/x"]) == {"get", "post"}


def test_duplicate_operation_id_fails() -> None:
    a = _doc({"/api/v1/x": {"get": _op("same")}})
    b = _doc({"/api/v1/y": {"get": _op("same")}})
    with pytest.raises(docs.DocsBuildError, match="operationId 'same'"):
        docs.merge_openapi({"a": a, "b": b})


def test_identical_schemas_are_shared_and_different_ones_renamed() -> None:
    member_a = {"type": "object", "properties": {"role": {"enum": ["owner", "member"]}}}
    member_b = {"type": "object", "properties": {"role": {"enum": ["admin", "viewer"]}}}
    page_b = {"type": "object", "properties": {"items": {"type": "array", "items": {
        "$ref": "#/components/schemas/Member"}}}}
    error = {"type": "object", "properties": {"detail": {"type": "string"}}}
    a = _doc({"/api/v1/a": {"get": _op("a", "Member")}}, {"Member": member_a, "Error": error})
    b = _doc({"/api/v1/b": {"get": _op("b", "Page")}},
             {"Member": member_b, "Page": page_b, "Error": error})
    merged, renamed = docs.merge_openapi({"a": a, "b": b})
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {"Member", "BMember", "Page", "Error"}
    assert renamed == {"b:Member": "BMember"}
    assert schemas["Member"] == member_a and schemas["BMember"] == member_b
    assert schemas["Page"]["properties"]["items"]["items"]["$ref"] == \
        "#/components/schemas/BMember"
    assert docs.check_refs(merged) == []


def test_schema_identical_by_text_but_referring_to_a_renamed_one_is_renamed_too() -> None:
    role_a, role_b = {"enum": ["x"]}, {"enum": ["y"]}
    holder = {"type": "object", "properties": {"role": {"$ref": "#/components/schemas/Role"}}}
    a = _doc({"/api/v1/a": {"get": _op("a", "Holder")}}, {"Role": role_a, "Holder": holder})
    b = _doc({"/api/v1/b": {"get": _op("b", "Holder")}}, {"Role": role_b, "Holder": holder})
    merged, renamed = docs.merge_openapi({"a": a, "b": b})
    assert renamed == {"b:Role": "BRole", "b:Holder": "BHolder"}
    assert merged["paths"]["/api/v1/b"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["$ref"] == "#/components/schemas/BHolder"
    assert docs.check_refs(merged) == []


def test_conflicting_security_schemes_fail() -> None:
    a = _doc({})
    b = _doc({})
    a["components"]["securitySchemes"] = {"HTTPBearer": {"type": "http", "scheme": "bearer"}}
    b["components"]["securitySchemes"] = {"HTTPBearer": {"type": "http", "scheme": "basic"}}
    with pytest.raises(docs.DocsBuildError, match="security scheme"):
        docs.merge_openapi({"a": a, "b": b})


def test_dangling_ref_is_reported() -> None:
    assert docs.check_refs(_doc({"/x": {"get": _op("x", "Nope")}})) == [
        "#/components/schemas/Nope"]


# --- Swagger UI and the event catalog ----------------------------------------------------


def test_swagger_page_uses_local_assets_only(built: docs.BuildResult) -> None:
    page = (built.out / "swagger" / "index.html").read_text()
    assert "url: '../openapi.json'" in page
    assert not re.search(r"(src|href)=\"https?://", page), "no CDN"
    for asset in SWAGGER_ASSETS:
        assert f"./{asset}" in page
        assert (built.out / "swagger" / asset).stat().st_size > 0


def test_asyncapi_lists_every_event_type(built: docs.BuildResult) -> None:
    document = json.loads((built.out / "events" / "asyncapi.json").read_text())
    assert document["asyncapi"].startswith("3.")
    messages = document["components"]["messages"]
    assert {(m["name"], m["x-event-version"]) for m in messages.values()} == set(PAYLOADS)
    addresses = {c["address"] for c in document["channels"].values()}
    assert addresses == {"identity.events", "workspace.events", "boards.events",
                         "scheduler.events"}
    for info in catalog.events():
        channel = document["channels"][info.stream.replace(".", "_")]
        assert info.key in channel["messages"], info.key
    assert docs.check_refs(document) == []
    sends = {op["channel"]["$ref"] for op in document["operations"].values()
             if op["action"] == "send"}
    assert len(sends) == len(addresses)
    # The payload schema of a message is the model's.
    assigned = messages["task.assigned.v1"]["payload"]["properties"]["data"]["$ref"]
    assert document["components"]["schemas"][assigned.rsplit("/", 1)[1]]["properties"][
        "previous_assignee_id"]


def test_event_catalog_page_lists_every_event_with_fields(built: docs.BuildResult) -> None:
    page = (built.out / "events" / "index.html").read_text()
    assert not re.search(r"(src|href)=\"https?://", page), "no CDN"
    for info in catalog.events():
        section = page.split(f'id="{info.key}"', 1)[1].split("</section>", 1)[0]
        assert f"<code>{info.stream}</code>" in section
        assert f"<b>{info.producer}</b>" in section
        for field in info.model.model_fields:
            assert f"<code>{field}</code>" in section, (info.key, field)
        schema_file = built.out / "events" / "schemas" / f"{info.key}.json"
        assert json.loads(schema_file.read_text())["x-event-type"] == info.event_type
    assert "string (uuid) | null" in page  # readable types, e.g. an optional assignee


def test_cli_builds_and_replaces_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / "stale.txt").write_text("old build")
    run = subprocess.run([sys.executable, "-m", "devstack.docs", "build", "--out", str(out),
                          "--services", "identity"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "operations from identity" in run.stderr
    assert not (out / "stale.txt").exists()
    document = json.loads((out / "openapi.json").read_text())
    assert {p.split("/")[3] for p in document["paths"] if p.startswith("/api/v1/")} == {
        "auth", "users"}


def test_catalog_consumer_groups_match_the_services_consumers() -> None:
    """contracts.catalog documents who reads each stream; the services' consumer modules
    (read as text, not imported) are the truth."""
    import importlib.util

    from contracts import streams

    constants = {name: value for name, value in vars(streams).items()
                 if name.endswith("_EVENTS") and isinstance(value, str)}
    checked = 0
    for service in docs.SERVICES:
        try:
            spec = importlib.util.find_spec(f"{service}.events.consumer")
        except ModuleNotFoundError:
            spec = None
        if spec is None or spec.origin is None:
            continue
        source = Path(spec.origin).read_text()
        used = {value for name, value in constants.items()
                if re.search(rf"\b{name}\b", source)}
        used |= {value for value in constants.values() if f'"{value}"' in source}
        documented = {stream for stream, groups in catalog.CONSUMERS_BY_STREAM.items()
                      if service in groups}
        assert used == documented, (f"{service} consumes {sorted(used)}; the catalog says "
                                    f"{sorted(documented)} (contracts.catalog."
                                    "CONSUMERS_BY_STREAM)")
        checked += 1
    assert checked >= 1, "no consumer module installed to check against"
