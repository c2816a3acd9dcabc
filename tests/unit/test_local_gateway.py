"""The local HTTP API keeps the template's stage throttle, with API Gateway's answer, unless lifted, its
payload quota, and its choice of the most specific route."""

import http.client
import io
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from happypath_local import gateway as gateway_module
from happypath_local.gateway import ApiGateway
from happypath_local.server import JsonErrorRequestHandler

BURST = 100  # template.yaml: ThrottlingBurstLimit
RATE = 50  # template.yaml: ThrottlingRateLimit


@contextmanager
def serving(wsgi_app: Any) -> Iterator[int]:
    """`wsgi_app` behind the HTTP server the local runtime gives the API port (its error pages in JSON): the port."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True, request_handler=JsonErrorRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()


def answers(gateway: ApiGateway, count: int) -> Counter[int]:
    client = Client(gateway)
    return Counter(client.get("/no-such-route").status_code for _ in range(count))


class FrozenClock:
    """Stands in for `time` in the gateway: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_requests_past_the_burst_are_refused_with_429_until_the_bucket_refills(app, monkeypatch):
    clock = FrozenClock()
    monkeypatch.setattr(gateway_module, "time", clock)
    gateway = ApiGateway(app.stack, app.invoker)
    codes = answers(gateway, BURST + 50)  # all at one instant: nothing refills
    assert codes == Counter({404: BURST, 429: 50})  # admitted (then not found: no function runs), then refused
    response = Client(gateway).get("/no-such-route")
    assert response.status_code == 429
    assert response.json == {"message": "Too Many Requests"}
    clock.now += 0.5  # RATE tokens a second
    assert answers(gateway, 30) == Counter({404: int(RATE * 0.5), 429: 30 - int(RATE * 0.5)})


def test_the_throttle_can_be_lifted_for_load_tests(app):
    assert answers(ApiGateway(app.stack, app.invoker, throttle=False), BURST + 50) == Counter({404: BURST + 50})


def test_a_body_over_the_payload_quota_is_refused_with_413_before_any_function_runs(app):
    client = Client(ApiGateway(app.stack, app.invoker, throttle=False))
    response = client.post("/places", data=b"{" + b" " * gateway_module.MAX_PAYLOAD_BYTES + b"}")
    assert response.status_code == 413
    assert response.json == {"message": "Request Entity Too Large"}
    assert client.post("/no-such-route", data=b" " * 1000).status_code == 404  # a small body goes on

    for size, status in ((gateway_module.MAX_PAYLOAD_BYTES + 1, 413), (1000, 404)):
        # Sent in chunks, a body declares no Content-Length: the server reads until the last chunk.
        body = io.BytesIO(b" " * size)
        environ = EnvironBuilder(path="/no-such-route", method="POST", input_stream=body).get_environ()
        del environ["CONTENT_LENGTH"]
        environ |= {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}
        _, answered, _ = run_wsgi_app(client.application, environ)
        assert int(answered.split()[0]) == status


def test_a_body_cut_short_or_in_broken_chunks_is_a_400_in_json(app):
    """As API Gateway answers it: not werkzeug's HTML page for the exception reading the body raises."""
    head = b"Host: x\r\nContent-Type: application/json\r\n"
    with serving(ApiGateway(app.stack, app.invoker, throttle=False)) as port:
        for request in (
            b"POST /places HTTP/1.1\r\n" + head + b'Content-Length: 100\r\n\r\n{"a":',
            b"POST /places HTTP/1.1\r\n" + head + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n",
            b"GET /places?lat=1&lng=1 HTTP/1.1\r\n" + head + b"Content-Length: 50\r\n\r\n{",
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
                connection.sendall(request)
                connection.shutdown(socket.SHUT_WR)
                answer = http.client.HTTPResponse(connection)
                answer.begin()
                assert (answer.status, answer.getheader("Content-Type")) == (400, "application/json"), request[:30]
                assert json.loads(answer.read()) == {
                    "message": "Bad Request: the request body was cut short or is malformed"
                }


def test_a_literal_path_is_taken_before_a_path_variable_that_also_matches(app):
    """GET /photos/mine (signed in) and GET /photos/{photo_id} (public) both match /photos/mine."""
    gateway = ApiGateway(app.stack, app.invoker, throttle=False)
    mine, _ = gateway._match("GET", "/photos/mine")
    assert mine is not None
    assert (mine.path, mine.authorizer) == ("/photos/mine", "JwtAuthorizer")
    photo, parameters = gateway._match("GET", "/photos/abc123")
    assert photo is not None
    assert (photo.path, photo.authorizer, parameters) == ("/photos/{photo_id}", None, {"photo_id": "abc123"})
    response = Client(gateway).get("/photos/mine?ids=abc")
    assert (response.status_code, response.json) == (401, {"message": "Unauthorized"})


def test_what_the_http_server_refuses_itself_is_answered_as_json_on_the_api_port():
    """A URL or a header past the server's 64 KB: `{"message"}`, as every other error of the API, not Python's
    HTML error page."""

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    with serving(app) as port:
        for path, headers, status in [
            ("/places?x=" + "a" * 70_000, {}, 414),
            ("/uploads/abc", {"Authorization": "a" * 70_000}, 431),
            ("/places", {}, 200),
        ]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            assert (response.status, response.getheader("Content-Type")) == (status, "application/json"), path[:20]
            body = json.loads(response.read())
            if status != 200:
                assert body == {"message": response.reason}
            connection.close()
