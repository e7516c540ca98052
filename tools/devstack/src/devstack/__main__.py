"""``python -m devstack run``: the whole platform on this machine, no Docker needed."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from devstack.infra import MissingPrerequisite, free_port, progress
from devstack.stack import Stack, default_state_dir


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(prog="devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start everything and wait for Ctrl-C")
    run.add_argument("--port", type=int, default=8080, help="gateway port (default 8080)")
    sub.add_parser("prereqs", help="install/check the system binaries")
    args = parser.parse_args()

    if args.command == "prereqs":
        from devstack.infra import require

        try:
            # The last two serve the compose check and the browser test of the docs.
            for binary in ("initdb", "postgres", "redis-server", "nginx", "docker-compose",
                           "chromium"):
                progress(f"{binary}: {require(binary)}")
        except MissingPrerequisite as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0

    port = args.port if _port_free(args.port) else free_port()
    stack = Stack(default_state_dir(), gateway_port=port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stack.start()
    except MissingPrerequisite as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        url = stack.gateway_url
        print(f"\nKanban platform is up.\n  Gateway:  {url}\n"
              f"  API docs: {url}/api/schema/swagger/  (per service: {url}/docs/identity/)\n"
              f"  Health:   {url}/healthz\n  Mail:     {stack.smtp.mail_dir}\n"
              f"  Logs:     {stack.state_dir / 'logs'}\nPress Ctrl-C to stop.", flush=True)
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C (or make passing its SIGINT on) must not cut the clean shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        progress("stopping")
        stack.stop()
        progress("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
