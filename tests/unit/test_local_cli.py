"""The local runtime's command line: the client commands say plainly when no app is running."""

import socket

import pytest

from happypath_local.__main__ import main


@pytest.mark.parametrize("command", ["token", "executions", "seed", "upload"])
def test_client_commands_without_a_running_app_print_one_line_and_fail(command, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    extra = ["--place", "p", "photo.jpg"] if command == "upload" else []
    assert main([command, "--app", url, *extra]) != 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"no local app at {url}: start it with `make dev`, or pass --app\n"
