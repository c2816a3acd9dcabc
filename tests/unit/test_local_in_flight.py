"""The local runtime's stop waits for the HTTP requests being answered: the count must end with each answer,
whatever the client does with its connection."""

import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from happypath_local.server import InFlight

release = threading.Event()


@Request.application
def app(request: Request) -> Response:
    if request.path == "/large":  # more than the socket buffers hold: the server is still writing at the reset

        def megabytes() -> Iterator[bytes]:
            for _ in range(64):
                yield b"x" * 2**20

        return Response(megabytes())
    if request.path == "/slow":  # a streamed answer that is not over until the test says so

        def chunks() -> Iterator[bytes]:
            yield b"first "
            release.wait(10)
            yield b"last"

        return Response(chunks())
    user = request.form["username"]  # reads the body, as the sign-in form does
    return Response(f"signed in {user}", status=302, headers={"Location": "/"})


@pytest.fixture
def served() -> Iterator[tuple[InFlight, int]]:
    in_flight = InFlight()
    server = make_server("127.0.0.1", 0, in_flight.track(app), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield in_flight, server.port
    release.set()
    server.shutdown()
    server.server_close()


def wait_until(condition: Any, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_request_whose_client_resets_the_connection_is_no_longer_counted(served: tuple[InFlight, int]):
    in_flight, port = served
    client = socket.create_connection(("127.0.0.1", port))
    body = b"username=axe"
    # Bytes past the body keep the server discarding input after its answer until the connection ends.
    client.sendall(
        b"POST /authorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
        + b"more"
    )
    assert client.recv(1024).startswith(b"HTTP/1.1 302")
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # a reset, as a browser following the redirect may send

    assert wait_until(lambda: in_flight.count == 0), in_flight.describe()


def test_a_streamed_answer_is_counted_until_it_is_sent(served: tuple[InFlight, int]):
    in_flight, port = served
    release.clear()
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    assert wait_until(lambda: in_flight.count == 1)
    assert in_flight.describe()[0].startswith("GET x/slow (for ")
    time.sleep(0.2)
    assert in_flight.count == 1  # the first chunk is out, the answer is not over

    release.set()
    received = b""
    while chunk := client.recv(1024):
        received += chunk
    assert received.endswith(b"last\r\n0\r\n\r\n")
    assert wait_until(lambda: in_flight.count == 0)
    client.close()


def test_an_answer_the_client_drops_while_it_is_sent_is_no_longer_counted(served: tuple[InFlight, int]):
    in_flight, port = served
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(b"POST /large HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbodymore")
    assert client.recv(1024).startswith(b"HTTP/1.1 200")
    assert in_flight.count == 1
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # leaving the page while a large image loads

    assert wait_until(lambda: in_flight.count == 0), in_flight.describe()
