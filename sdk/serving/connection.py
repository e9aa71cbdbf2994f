"""What a client can hold before the app sees a request: the HTTP connection guards of `sdk serve` (uvicorn).

uvicorn bounds none of it: a connection may stay open sending nothing, trickle its headers forever, or send 32 MiB
of them (httptools buffers whatever comes, and joins a header's pieces by concatenation). So each connection of
``guarded_protocol(config)`` is held to the operator's limits (``ServeConfig``), counted as bytes arrive:

- ``max_connections``: the connection past it is answered 503 with ``Retry-After`` and closed at once, so half-open
  connections cannot take every file descriptor of the process;
- ``max_header_bytes`` (the request line and headers) and ``max_header_count``: 431, counted before the parser
  buffers them;
- ``header_timeout_s``: from the connection's start, or a later request's first byte, to the end of its headers: 408;
- ``keep_alive_s`` (uvicorn's ``timeout_keep_alive``): an idle connection between requests is closed.

The body's own deadline is the app's (``http.OipApp``). Bytes that do not parse as HTTP get a 400; when they follow a
valid request in the same packet, that request is answered first (uvicorn alone dropped its answer). Every answer
from this layer is ``{"error": ...}`` JSON and closes the connection.
"""

from __future__ import annotations

import asyncio
import http
from collections.abc import Callable
from typing import Any

from sdk.extras import require
from sdk.protocol.codec import encode_error
from sdk.serving.config import ServeConfig

# A refusal from this layer: (peer, status, bytes sent) for the access log.
Refusals = Callable[[str, int, int], None]


def canned(status: int, message: str, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A complete HTTP/1.1 error response that closes the connection: JSON ``{"error": message}``."""
    body = encode_error(message)
    lines = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in extra),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Corked:
    """A transport whose writes within one turn of the event loop leave as one send: uvicorn writes a response's
    status line and headers, then its body, each with its own ``write``, which on loopback cost two system calls and
    two TCP segments per answer (a fifth of the event loop's time per request at 32 clients, issue #20 item 3).
    The writes are joined and sent at the end of the loop's current turn, or at once before ``close``."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data if isinstance(data, bytes) else bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        if self._held:
            data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
            self._held.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(chunk) for chunk in self._held)

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, ... as the transport's
        return getattr(self._transport, name)


def guarded_protocol(config: ServeConfig, on_refusal: Refusals | None = None) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol held to ``config``'s connection limits (pass it as ``uvicorn.Config(http=...)``)."""
    # The guards count bytes around httptools' parser: uvicorn's h11 has no such hooks.
    httptools = require("httptools", purpose="sdk serve (its HTTP parser)")
    require("uvicorn", purpose="sdk serve (the HTTP server)")
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # typed: the class below overrides it

    max_connections = config.max_connections
    max_header_bytes = config.max_header_bytes
    max_header_count = config.max_header_count
    header_timeout_s = config.header_timeout_s
    busy = canned(
        503,
        f"this server holds {max_connections} connections, its most; retry after {config.retry_after_s} s",
        (("retry-after", str(config.retry_after_s)),),
    )

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head = True  # reading a request line and headers (or waiting for one)
            self._head_bytes = 0
            self._header_count = 0
            self._head_timer: asyncio.TimerHandle | None = None
            self._refusal: tuple[int, str] | None = None  # why a parser callback stopped the parser
            self._pending: tuple[int, str] | None = None  # an error to answer once the request in flight is
            self._shut = False  # refused or failed: nothing more is read
            self._refused = False  # over max_connections: closed in connection_made, never set up

        # --- connection -------------------------------------------------------------------------------------

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= max_connections:
                self.transport, self._shut, self._refused = transport, True, True
                transport.write(busy)
                transport.close()
                self._report(transport, 503, len(busy))
                return
            super().connection_made(Corked(transport, self.loop))  # type: ignore[arg-type]
            self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            if not self._refused:
                super().connection_lost(exc)

        # --- bytes in -----------------------------------------------------------------------------------------

        def data_received(self, data: bytes) -> None:
            if self._shut or self._pending is not None:
                return  # the connection is being refused; what it sends now is not read
            self._unset_keepalive_if_required()
            while data:
                if self._head:
                    room = max_header_bytes - self._head_bytes
                    if room <= 0:
                        self._fail(431, f"request line and headers exceed {max_header_bytes} bytes, this server's most")
                        return
                    chunk, data = data[:room], data[room:]
                    self._head_bytes += len(chunk)
                else:
                    chunk, data = data, b""
                try:
                    self.parser.feed_data(chunk)
                except httptools.HttpParserUpgrade:
                    return  # Upgrade or CONNECT: no protocol switch here; the request itself is answered (404/405)
                except httptools.HttpParserError:
                    status, message = self._refusal or (400, "the request is not valid HTTP/1.1")
                    self._fail(status, message)
                    return
            if self._head and self._head_bytes and self._head_timer is None:
                # A request's head began and is not complete: its time runs from now. (Armed only here, so that
                # the usual head, whole in one packet, costs no timer.)
                self._arm_head_timer()

        # --- parser callbacks ---------------------------------------------------------------------------------

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._header_count = 0

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            if self._header_count > max_header_count:
                self._refusal = (431, f"the request has more than {max_header_count} headers, this server's most")
                raise ValueError(self._refusal[1])  # stops the parser: httptools raises HttpParserCallbackError
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._head, self._head_bytes = False, 0
            self._cancel_head_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._head = True  # the next request's head; its timer starts with its first byte

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._pending is not None and not self.pipeline and (self.cycle is None or self.cycle.response_complete):
                status, message = self._pending
                self._pending = None
                self._fail(status, message)

        # --- refusals -----------------------------------------------------------------------------------------

        def _fail(self, status: int, message: str) -> None:
            """Answer ``status`` and close; after the answer to a request still in flight, if there is one."""
            if self.cycle is not None and not self.cycle.response_complete:
                self._pending = (status, message)
                self.flow.pause_reading()
                return
            self._shut = True
            self._cancel_head_timer()
            if not self.transport.is_closing():
                response = canned(status, message)
                self.transport.write(response)
                self.transport.close()
                self._report(self.transport, status, len(response))

        def _arm_head_timer(self) -> None:
            self._cancel_head_timer()
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_timed_out)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._head and not self._shut:
                self._fail(408, f"the request's headers did not arrive within {header_timeout_s:g} s")

        @staticmethod
        def _report(transport: asyncio.Transport, status: int, size: int) -> None:
            if on_refusal is not None:
                peer = transport.get_extra_info("peername")
                on_refusal(f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "-", status, size)

    return GuardedHttpToolsProtocol
