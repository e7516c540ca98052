"""Where the time of the hot path goes: py-spy samples the services' process while wrk
drives one request kind through the gateway, and the samples are grouped by the layer they
are in (database driver, SQLAlchemy, FastAPI, our code...).

    uv run python bench/profile_hot_path.py [--seconds 20] [--case task_get|users_me|task_post]

py-spy is not a dependency of the platform: give its path with PY_SPY (``pip install
py-spy`` anywhere) or have it on PATH. It runs as root (it reads another process's memory).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from devstack.infra import ScratchArea, progress  # noqa: E402
from devstack.stack import Stack  # noqa: E402
from gateway_bench import run_wrk  # noqa: E402
from stack_bench import FAST_HASHING, RATES, seed  # noqa: E402

# (label, substring of a frame's file or function), first match wins, from the leaf up:
# a sample is charged to the innermost frame that names a known layer.
LAYERS = [
    ("psycopg (driver)", "psycopg/"),
    ("SQLAlchemy pool", "sqlalchemy/pool/"),
    ("SQLAlchemy ORM/session", "sqlalchemy/orm/"),
    ("SQLAlchemy async bridge", "sqlalchemy/util/_concurrency"),
    ("SQLAlchemy Core", "sqlalchemy/"),
    ("greenlet", "greenlet"),
    ("JWT / crypto", "jwt/"),
    ("JWT / crypto", "cryptography/"),
    ("pydantic", "pydantic"),
    ("logging", "structlog/"),
    ("logging", "logging/"),
    ("FastAPI", "fastapi/"),
    ("Starlette", "starlette/"),
    ("uvicorn / HTTP parsing", "uvicorn/"),
    ("uvicorn / HTTP parsing", "h11/"),
    ("uvicorn / HTTP parsing", "httptools/"),
    ("chassis", "chassis/"),
    ("boards", "boards/"),
    ("identity", "identity/"),
    ("asyncio / event loop", "asyncio/"),
]


def layer_of(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for label, marker in LAYERS:
            if marker in frame:
                return label
    return "other"


def breakdown(collapsed: Path) -> dict[str, float]:
    """Share of the samples (%) per layer, from py-spy's collapsed output."""
    counts: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if n.isdigit():
            counts[layer_of(stack)] += int(n)
    total = sum(counts.values()) or 1
    return {label: round(100 * n / total, 1) for label, n in counts.most_common()}


def py_spy() -> str:
    found = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy is needed: pip install py-spy (any environment), then "
                         "PY_SPY=/path/to/py-spy")
    return found


CASES = {
    "task_get": lambda data: ("GET", f"/api/v1/tasks/{data['tasks'][0]}", None),
    "users_me": lambda data: ("GET", "/api/v1/users/me", None),
    "task_post": lambda data: ("POST", "/api/v1/tasks",
                               f'{{"list_id": "{data["list"]}", "title": "Profiled"}}'),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--case", choices=sorted(CASES), default="task_get")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--keep", type=Path, help="copy py-spy's collapsed stacks here")
    args = parser.parse_args()
    spy = py_spy()
    with ScratchArea("profile-") as scratch, \
            Stack(scratch.mktemp("stack"), env=FAST_HASHING, gateway_rates=RATES,
                  crash_safe=False) as stack:
        with httpx.Client(base_url=stack.gateway_url, timeout=30) as api:
            data = seed(api)
        method, path, body = CASES[args.case](data)
        script = scratch.root / "request.lua"
        script.write_text(textwrap.dedent(f"""
            wrk.method = "{method}"
            wrk.headers["Authorization"] = "Bearer {data['token']}"
            wrk.headers["Content-Type"] = "application/json"
            {f"wrk.body = '{body}'" if body else ""}
        """))
        url = stack.gateway_url + path
        run_wrk(url, duration=2, connections=args.connections, script=script)
        out = scratch.root / "profile.txt"
        assert stack.host is not None
        progress(f"py-spy on the services' process while wrk runs {method} {path}")
        spy_process = subprocess.Popen([spy, "record", "--pid", str(stack.host.pid),
                                        "--format", "raw", "--rate", "200", "--nonblocking",
                                        "--duration", str(args.seconds), "--output", str(out)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = run_wrk(url, duration=args.seconds, connections=args.connections,
                         script=script)
        spy_process.wait(args.seconds + 30)
        shares = breakdown(out)
        if args.keep is not None:
            shutil.copy(out, args.keep)
    print(f"\n{method} {path}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
          f"p99 {result['p99_ms']:.1f} ms (wrk -c{args.connections}, {args.seconds}s)")
    print("Samples of the services' process by layer (innermost known frame):")
    for label, share in shares.items():
        print(f"  {label:<28}{share:>6.1f} %")


if __name__ == "__main__":
    main()
