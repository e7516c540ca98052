"""A development SMTP server (aiosmtpd) that stores every accepted message as one RFC 5322
``.eml`` file, as received, in a folder. ``python -m devstack.smtp_sink --port 1025``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class SaveToFolder:
    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.mail_dir / f".{name}.tmp"
        content = envelope.original_content or envelope.content or b""
        tmp.write_bytes(content if isinstance(content, bytes) else content.encode())
        tmp.rename(self.mail_dir / name)  # atomic: readers never see half a message
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--mail-dir", type=Path, default=Path(".run/mail"))
    args = parser.parse_args()
    args.mail_dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(SaveToFolder(args.mail_dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"smtp sink on {args.host}:{args.port} -> {args.mail_dir}", flush=True)

    async def wait_forever() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait_forever())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
