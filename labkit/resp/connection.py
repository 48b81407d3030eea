"""Per-connection state of the RESP server, and the connection's reply channel."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from labkit.resp.codec import RequestParser
from labkit.resp.encoder import encode
from labkit.resp.frames import Frame

if TYPE_CHECKING:
    from labkit.resp.server import RespServer

__all__ = ["ClientConnection"]

log = logging.getLogger("labkit.resp.server")

_FLUSH_AT_BYTES = 64 * 1024


def _peer(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address or "")


class ClientConnection:
    """One client: identity, protocol, auth, subscriptions, and buffered replies.

    Handlers get this object. ``send(frame)`` queues a reply encoded for the
    connection's protocol; replies are written in order, at the latest when the
    current batch of pipelined requests is done.
    """

    def __init__(self, server: RespServer, cid: int, writer: asyncio.StreamWriter) -> None:
        config = server.config
        self.server = server
        self.id = cid
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.protocol = 2
        self.user = "default"
        self.authenticated = not server.auth_required
        self.db = 0
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.created = time.monotonic()
        self.last_interaction = self.created
        self.last_command = "NULL"
        self.close_after_reply = False
        self.closed = False
        self.net_input_bytes = 0
        self.net_output_bytes = 0
        self.parser = RequestParser(
            max_multibulk_len=config.max_multibulk_len,
            max_bulk_len=config.proto_max_bulk_len,
        )
        self.parser.authenticated = self.authenticated
        self._writer = writer
        self._transport = writer.transport
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._batching = False
        self.addr = _peer(writer.get_extra_info("peername"))
        self.laddr = _peer(writer.get_extra_info("sockname"))
        sock = writer.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1

    @property
    def subscribed(self) -> bool:
        """Whether the connection has any channel or pattern subscription."""
        return bool(self.channels or self.patterns)

    @property
    def subscription_count(self) -> int:
        return len(self.channels) + len(self.patterns)

    @property
    def client_type(self) -> str:
        """Redis's client type for ``CLIENT LIST TYPE`` / ``KILL TYPE``."""
        return "pubsub" if self.subscribed else "normal"

    @property
    def output_bytes(self) -> int:
        """Replies queued here and in the transport, not yet taken by the kernel."""
        pending = self._transport.get_write_buffer_size() if not self.closed else 0
        return self._out_bytes + pending

    def send(self, frame: Frame) -> None:
        """Queue a reply; it is written at the end of the batch (or sooner if large)."""
        if self.closed:
            return
        data = encode(frame, self.protocol)
        self._out.append(data)
        self._out_bytes += len(data)
        if not self._batching or self._out_bytes >= _FLUSH_AT_BYTES:
            self.flush()

    def deliver(self, frame: Frame) -> None:
        """Send an out-of-band frame (a pub/sub message) now."""
        self.send(frame)
        self.flush()

    def begin_batch(self) -> None:
        self._batching = True

    def end_batch(self) -> None:
        self._batching = False
        self.flush()

    def flush(self) -> None:
        """Hand queued replies to the transport; drop the client past its output limit."""
        if self.closed or not self._out:
            return
        data = b"".join(self._out)
        self._out.clear()
        self._out_bytes = 0
        self._transport.write(data)
        self.net_output_bytes += len(data)
        self.server.stats.net_output_bytes += len(data)
        limit = self.server.config.output_buffer_limit_bytes
        if limit and self._transport.get_write_buffer_size() > limit:
            log.warning(
                "Client id=%d addr=%s scheduled to be closed ASAP for overcoming of output "
                "buffer limits.",
                self.id,
                self.addr,
            )
            self.server.stats.output_limit_disconnections += 1
            self.close(abort=True)

    def close(self, abort: bool = False) -> None:
        """Close the connection: after writing queued replies, or at once (``abort``)."""
        if self.closed:
            return
        if not abort:
            self.flush()
        self.closed = True
        self._out.clear()
        self._out_bytes = 0
        if abort:
            self._transport.abort()
        else:
            self._transport.close()

    def info_line(self) -> str:
        """This client as a ``CLIENT LIST`` line (Redis 7.2 fields), without newline."""
        now = time.monotonic()
        flags = "P" if self.subscribed else ""
        flags += "c" if self.close_after_reply else ""
        omem = self.output_bytes
        qbuf = self.parser.buffered
        fields = [
            ("id", str(self.id)),
            ("addr", self.addr),
            ("laddr", self.laddr),
            ("fd", str(self.fd)),
            ("name", self.name.decode("utf-8", "replace")),
            ("age", str(int(now - self.created))),
            ("idle", str(int(now - self.last_interaction))),
            ("flags", flags or "N"),
            ("db", str(self.db)),
            ("sub", str(len(self.channels))),
            ("psub", str(len(self.patterns))),
            ("ssub", "0"),
            ("multi", "-1"),
            ("qbuf", str(qbuf)),
            ("qbuf-free", "0"),
            ("argv-mem", "0"),
            ("multi-mem", "0"),
            ("rbs", "0"),
            ("rbp", "0"),
            ("obl", "0"),
            ("oll", "0"),
            ("omem", str(omem)),
            ("tot-mem", str(qbuf + omem)),
            ("events", "r"),
            ("cmd", self.last_command),
            ("user", self.user),
            ("redir", "-1"),
            ("resp", str(self.protocol)),
            ("lib-name", self.lib_name.decode("utf-8", "replace")),
            ("lib-ver", self.lib_ver.decode("utf-8", "replace")),
        ]
        return " ".join(f"{key}={value}" for key, value in fields)
