"""The contracts are data: every module imports pydantic, the standard library or another
contracts module, and nothing else (no web framework, database, broker or service kit).

Two checks: the import statements of every source file, read with ``ast``, and a fresh
interpreter importing every module while a meta-path hook refuses the service stack."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import contracts

SOURCE = Path(contracts.__file__).resolve().parent
MODULES = sorted(f"contracts.{p.stem}" for p in SOURCE.glob("*.py") if p.stem != "__init__")
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core", "annotated_types", "typing_extensions"}
FORBIDDEN = ("chassis", "fastapi", "starlette", "sqlalchemy", "alembic", "faststream", "redis",
             "httpx", "psycopg", "structlog", "jwt", "pydantic_settings", "uvicorn")


def imported_roots(path: Path) -> set[str]:
    """Top-level package of every absolute import in ``path`` (relative ones stay inside)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_every_module_is_found() -> None:
    assert {"contracts.catalog", "contracts.events", "contracts.streams"} <= set(MODULES)


def test_sources_import_only_pydantic_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | ALLOWED_THIRD_PARTY | {"contracts", "__future__"}
    for path in sorted(SOURCE.glob("*.py")):
        extra = imported_roots(path) - allowed
        assert not extra, f"{path.name} imports {sorted(extra)}"


def test_importing_every_module_loads_none_of_the_service_stack() -> None:
    script = f"""
import importlib, importlib.abc, json, sys

FORBIDDEN = {FORBIDDEN!r}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"contracts must not import {{name}}")
        return None

sys.meta_path.insert(0, Refuse())
for module in {MODULES!r}:
    importlib.import_module(module)
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    loaded = set(json.loads(run.stdout))
    assert not loaded & set(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
