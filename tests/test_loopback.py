"""The tests' loopback server: a client that hangs up mid-answer is quiet; any other fault of a stand-in still shows."""

from __future__ import annotations

import socket
import struct
import time

import httpx
import pytest

from tests.loopback import Loopback, QuietHandler


class Handler(QuietHandler):
    def do_GET(self) -> None:
        if self.path == "/fault":
            raise ValueError("a stand-in's own bug")
        self.send_response(200)
        self.send_header("content-length", str(1 << 30))
        self.end_headers()
        while True:  # until the client is gone
            self.wfile.write(b"x" * 65536)

    def do_POST(self) -> None:
        with httpx.Client(base_url=self.headers["x-upstream"]) as upstream:
            self.relay(upstream, self.body())


def test_a_client_that_hangs_up_mid_answer_prints_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    with Loopback(Handler) as server:
        port = int(server.url.rsplit(":", 1)[1])
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(1024).startswith(b"HTTP/1.1 200")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # a reset, as a killed one
        client.close()
        time.sleep(0.5)
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(server.url + "/fault")
        time.sleep(0.2)
    err = capfd.readouterr().err
    assert "ConnectionResetError" not in err and "BrokenPipeError" not in err
    assert "ValueError: a stand-in's own bug" in err


def test_relay_forwards_the_request_and_answers_with_the_upstreams_reply() -> None:
    class Upstream(QuietHandler):
        def do_POST(self) -> None:
            self.reply(201, {"x-seen": self.path, "content-length": "999"}, self.body()[::-1])

    with Loopback(Upstream) as upstream, Loopback(Handler) as proxy:
        answer = httpx.post(proxy.url + "/p?q=1", content=b"abc", headers={"x-upstream": upstream.url})
    assert (answer.status_code, answer.content, answer.headers["x-seen"]) == (201, b"cba", "/p?q=1")
    assert answer.headers["content-length"] == "3"  # the body's own length, whatever a handler said
