"""Memory of the native stack at rest, as a user runs it.

  * ``make run``'s own layout: ``python -m devstack run`` is started as a user starts it
    (its own state folder, a free port); once ``/healthz`` says every service and worker
    kind is ok and the stack has rested, the resident memory (RSS) of every Python process
    in its process tree is summed: the launcher, the services' process and the API
    processes it forked (none by default on two cores), and the SMTP sink. PostgreSQL, Redis and
    nginx are not Python and are not counted. RSS counts pages a fork shares with its
    parent in both, so the sum overstates what the stack holds (it is the cautious figure).
  * The same services with one process per role (as compose and Kubernetes run them), for
    comparison: what sharing one process saves.
  * Baseline: a bare Python interpreter (``python -c``, nothing imported), measured in the
    same run, so the figures can be read as multiples of it.

    uv run python bench/memory_bench.py [--rest-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from devstack.infra import ScratchArea, free_port, progress
from devstack.stack import Stack

GOAL_MIB = 400


def rss_mib(pid: int) -> float | None:
    """Resident memory of one process (MiB), or None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next(int(line.split()[1]) for line in status.splitlines()
               if line.startswith("VmRSS:"))
    return round(kib / 1024, 1)


def rss_by_name(pids: dict[str, int]) -> dict[str, float]:
    """Resident memory of each process still running (MiB)."""
    sizes = {name: rss_mib(pid) for name, pid in pids.items()}
    return {name: size for name, size in sizes.items() if size is not None}


def python_descendants(root: int) -> dict[int, str]:
    """``{pid: command line}`` of ``root`` and every process below it that runs Python."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The parent pid is the 2nd field after the parenthesised command name.
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    found = {}
    for pid in tree:
        try:
            executable = os.readlink(f"/proc/{pid}/exe")
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if "python" in Path(executable).name:
            found[pid] = " ".join(a.decode() for a in argv[1:4] if a)
    return found


def label(command: str) -> str:
    """A short name for a Python process of the stack, from its arguments."""
    for marker, name in (("devstack run", "launcher"), ("chassis.serve", "services"),
                         ("smtp_sink", "SMTP sink")):
        if marker in command:
            return name
    return command


def bare_interpreter_mib() -> float:
    """(baseline) an interpreter that imported nothing."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(1.0)
        size = rss_mib(process.pid)
        assert size is not None
        return size
    finally:
        process.kill()
        process.wait()


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`python -m devstack run` exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("the stack did not become healthy")


def native_at_rest(scratch: ScratchArea, rest_seconds: float) -> dict:
    """``python -m devstack run`` as a user starts it; its Python processes at rest."""
    port = free_port()
    state = scratch.mktemp("native")
    log = (state / "launcher.out").open("wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "devstack", "run", "--port", str(port)],
        env={**os.environ, "KANBAN_STATE_DIR": str(state)}, stdout=log,
        stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", launcher)
        progress(f"native stack up; resting {rest_seconds:.0f}s")
        time.sleep(rest_seconds)
        pids: dict[str, int] = {}
        for pid, command in sorted(python_descendants(launcher.pid).items()):
            name = label(command)
            if name in pids:   # the services' API processes: one label each
                name = f"{name} ({sum(n.startswith(name) for n in pids) + 1})"
            pids[name] = pid
        sizes = rss_by_name(pids)
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            launcher.wait(60)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
        log.close()
    return {"processes": sizes, "count": len(sizes), "total_mib": round(sum(sizes.values()), 1)}


def split_roles_at_rest(scratch: ScratchArea, rest_seconds: float) -> dict:
    """The services with one process per API and per worker kind (compose's layout)."""
    with Stack(scratch.mktemp("split"), crash_safe=False, supervise=False,
               split_roles=True) as stack:
        time.sleep(rest_seconds)
        sizes = rss_by_name(stack.python_pids())
    return {"count": len(sizes), "total_mib": round(sum(sizes.values()), 1)}


def run(*, rest_seconds: float = 10) -> dict:
    with ScratchArea("memory-bench-") as scratch:
        progress("baseline: a bare Python interpreter")
        result: dict = {"bare_interpreter_mib": bare_interpreter_mib()}
        progress("`python -m devstack run` (every service in one process)")
        result["native"] = native_at_rest(scratch, rest_seconds)
        progress("the same services, one process per role (compose's layout)")
        result["split"] = split_roles_at_rest(scratch, rest_seconds)
    result["goal_mib"] = GOAL_MIB
    result["met"] = result["native"]["total_mib"] <= GOAL_MIB
    return result


def print_report(result: dict) -> None:
    native, split, bare = result["native"], result["split"], result["bare_interpreter_mib"]
    print("\nPython memory of the native stack at rest (RSS, MiB)")
    print(f"  bare interpreter (baseline): {bare:.1f}")
    for name, size in sorted(native["processes"].items()):
        print(f"  {name:<28}{size:>8.1f}")
    print(f"  make run: {native['count']} Python processes, {native['total_mib']:.1f} MiB "
          f"({native['total_mib'] / bare:.1f}x a bare interpreter; goal <= "
          f"{result['goal_mib']}: {'met' if result['met'] else 'NOT MET'})")
    print(f"  services with one process per role: {split['count']} processes, "
          f"{split['total_mib']:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rest-seconds", type=float, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(rest_seconds=args.rest_seconds)
    print_report(result)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
