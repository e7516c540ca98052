"""The gateway port `make run` chooses when the user did not name one."""

from __future__ import annotations

import os
import socket

import pytest
from devstack.__main__ import DEFAULT_PORT, choose_port, port_holder, port_is_free


def test_a_taken_default_port_falls_back_in_one_visible_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    holder = None
    if port_is_free(DEFAULT_PORT):
        holder = socket.socket()
        holder.bind(("127.0.0.1", DEFAULT_PORT))
        holder.listen()
    try:
        port = choose_port(None)
        err = capsys.readouterr().err
        assert port != DEFAULT_PORT
        assert port_is_free(port)
        lines = [line for line in err.splitlines() if str(DEFAULT_PORT) in line]
        assert len(lines) == 1, err
        assert f"port {DEFAULT_PORT} is taken" in lines[0]
        assert f"uses port {port} instead" in lines[0]
        if holder is not None:
            assert port_holder(DEFAULT_PORT) is not None
            assert f"pid {os.getpid()})" in lines[0]
    finally:
        if holder is not None:
            holder.close()


def test_an_explicit_free_port_is_used_exactly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert choose_port(port) == port


def test_an_explicit_taken_port_is_an_error_naming_it() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit, match=rf"port {port} is taken \(by .*, pid {os.getpid()}\)"):
            choose_port(port)
