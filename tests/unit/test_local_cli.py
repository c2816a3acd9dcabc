"""The local runtime's command line: the client commands say plainly when no app is running."""

import http.server
import json
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import typing
import urllib.parse

import pytest

from happypath_local.__main__ import main
from happypath_local.client import ApiError


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


class NotTheApp(http.server.BaseHTTPRequestHandler):
    """Another server (the API's or the S3 port, say): JSON, but not the app's, or not JSON at all."""

    def do_GET(self) -> None:
        body = b"<Error/>" if self.path.startswith("/config") else b'{"message": "Not Found"}'
        self.send_response(404 if self.path.startswith("/_local") else 200)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("command", ["token", "executions", "seed"])
def test_client_commands_pointed_at_another_server_or_a_malformed_url_say_so_in_one_line(command, capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotTheApp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for url in (f"http://127.0.0.1:{server.server_port}", f"127.0.0.1:{server.server_port}"):
            assert main([command, "--app", url]) == 1
            out, err = capsys.readouterr()
            assert err.startswith(f"{url} is not the local app: pass the App URL"), err
            assert "Traceback" not in out + err
    finally:
        server.shutdown()


class AppAskingForAnAudience(http.server.BaseHTTPRequestHandler):
    """The app run with `serve --parameter AuthAudience=...`: its sign-in asks for the API's audience."""

    forms: typing.ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        self._json({"apiUrl": "http://127.0.0.1:9", "auth": {"audience": "https://api.happypath.test"}})

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.forms.append(urllib.parse.parse_qs(self.rfile.read(length).decode()))
        self._json({"access_token": "t"})

    def _json(self, body: object) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args: object) -> None:
        pass


def test_the_token_command_asks_for_the_api_audience_the_app_signs_in_with(capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AppAskingForAnAudience)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert main(["token", "--app", f"http://127.0.0.1:{server.server_port}", "--user", "al"]) == 0
    finally:
        server.shutdown()
    assert capsys.readouterr().out == "t\n"
    (form,) = AppAskingForAnAudience.forms
    assert form["audience"] == ["https://api.happypath.test"]  # without it the API would answer 401


def test_ctrl_c_is_acted_on_whichever_thread_the_kernel_hands_it_to():
    # The main thread blocks SIGINT, so the kernel delivers it to the other thread: Python still runs the
    # handler in the main thread, but only once that thread wakes.
    script = textwrap.dedent(
        """
        import signal, threading, time
        from happypath_local.server import wait_for_ctrl_c
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        threading.Timer(0.5, print, args=("ready",), kwargs={"flush": True}).start()
        wait_for_ctrl_c()
        print("stopped", flush=True)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    assert out == "stopped\n"


def test_serve_takes_template_parameters_as_name_value_pairs(monkeypatch, capsys):
    started = []
    monkeypatch.setattr("happypath_local.server.serve", lambda options: started.append(options) or 0)
    assert main(["serve", "--parameter", "DailyUploadsPerUser=1000", "--parameter", "DailyPlacesPerUser=5"]) == 0
    assert started[0].parameters == {"DailyUploadsPerUser": "1000", "DailyPlacesPerUser": "5"}
    with pytest.raises(SystemExit):
        main(["serve", "--parameter", "DailyUploadsPerUser"])
    assert "expected NAME=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("parameter", "said"),
    [
        ("LogRetentionDays=10", "template parameter LogRetentionDays='10' is refused: it must be one of 1, 3,"),
        ("FrontendOrigin=https://photos.example.org", "the local runtime sets FrontendOrigin itself"),
        ("Nonsense=1", "the template has no parameter Nonsense"),
    ],
)
def test_serve_refuses_a_parameter_it_cannot_take_in_one_line(parameter, said, tmp_path):
    """Said as the runtime's other refusals are, before anything is served: not a traceback."""
    command = [sys.executable, "-m", "happypath_local", "serve", "--no-persist", "--port=9", f"--parameter={parameter}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(said), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("port", ["65534", "0", "http"])
def test_serve_refuses_an_app_port_whose_api_or_s3_port_would_not_be_one(port, monkeypatch, capsys):
    started = []
    monkeypatch.setattr("happypath_local.server.serve", lambda options: started.append(options.port) or 0)
    with pytest.raises(SystemExit):
        main(["serve", "--port", port])
    assert "argument --port" in capsys.readouterr().err
    assert main(["serve", "--port", "65533"]) == 0  # the highest that leaves two ports after it
    assert started == [65533]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False)],  # noqa: S104
)
def test_serving_beyond_this_machine_is_recognised_for_its_warning(host, loopback):
    from happypath_local.server import loopback_only

    assert loopback_only(host) is loopback


def test_refusals_print_what_the_api_or_storage_said_not_the_whole_answer():
    validation = {"message": "invalid request: contentType: Input should be 'image/jpeg'", "errors": [{"field": "x"}]}
    assert str(ApiError(400, validation)) == "400: invalid request: contentType: Input should be 'image/jpeg'"
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code><Message>Your proposed upload'
        " exceeds the maximum allowed size</Message><MaxSizeAllowed>1000</MaxSizeAllowed></Error>"
    )
    assert str(ApiError(400, xml)) == "400: EntityTooLarge: Your proposed upload exceeds the maximum allowed size"
    assert str(ApiError(502, "Bad Gateway")) == "502: Bad Gateway"


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`python -m happypath_local executions | head`: no traceback when head has read enough."""
    script = textwrap.dedent(
        """
        import sys
        import happypath_local.__main__ as cli
        def many_lines(args):
            for number in range(1_000_000):
                print(f"execution {number}")
            return 0
        cli._executions = many_lines
        sys.exit(cli.main(["executions"]))
        """
    )
    command = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert command.stdout is not None
    assert command.stderr is not None
    assert command.stdout.readline() == b"execution 0\n"
    command.stdout.close()
    assert command.wait(timeout=60) == 1
    assert command.stderr.read() == b""


def test_the_start_up_banner_names_the_command_that_reaches_this_app():
    from happypath_local import DEFAULT_APP_URL
    from happypath_local.server import _command

    assert _command("executions", DEFAULT_APP_URL).endswith("python -m happypath_local executions")
    moved = _command("executions", "http://127.0.0.1:9700")
    assert moved.endswith("python -m happypath_local executions --app http://127.0.0.1:9700")
    assert not moved.startswith("python ")  # the venv's interpreter: plain `python` has no happypath_local
