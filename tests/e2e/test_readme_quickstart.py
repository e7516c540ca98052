"""The README's quick start, run as written: the one ```sh quickstart block of README.md,
pasted into ``bash -euo pipefail`` against the running stack (GW and MAIL pointed at it), so
the walkthrough cannot drift from the API. Only this test registers alice@example.com and
bob@example.com (the other tests use unique addresses)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from devstack import infra

README = Path(__file__).resolve().parents[2] / "README.md"
# A fence opening with exactly "```sh quickstart", up to the next closing fence.
BLOCK = re.compile(r"^```sh quickstart[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
TITLE = "Write the README"


def quickstart_block() -> str:
    blocks = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(blocks) == 1, (
        f"README.md must hold exactly one ```sh quickstart block, found {len(blocks)}")
    return blocks[0]


def test_readme_quickstart_runs_as_written(stack, gateway_url, tmp_path):
    infra.require("curl")
    block = quickstart_block()

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        env={**os.environ, "GW": gateway_url, "MAIL": str(stack.smtp.mail_dir)},
        cwd=tmp_path, timeout=120, capture_output=True, text=True)

    shown = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.returncode == 0, f"quick start failed ({result.returncode})\n{shown}"
    out = result.stdout.replace("\r", "")
    # The registrations really happened (no 409/422 swallowed by "|| true").
    assert '"email":"alice@example.com"' in out and '"status":' not in out, shown
    # bob's notifications, printed newest first, then the headers of his e-mail.
    lines = out.splitlines()
    assigned, commented = f'You were assigned "{TITLE}"', f'New comment on "{TITLE}"'
    assert [commented, assigned] in [lines[i:i + 2] for i in range(len(lines))], shown
    assert f"Subject: {assigned}" in lines, shown
    assert any(line.startswith("To: ") and "bob@example.com" in line for line in lines), shown

    # The e-mail itself, in the sink (the block waited for it): one, to bob, multipart.
    [message] = [m for m in stack.smtp.received() if m["Subject"] == assigned]
    assert "bob@example.com" in str(message["To"])
    assert message["X-Kanban-Notification-Type"] == "task_assigned"
    assert message.get_content_type() == "multipart/alternative"
