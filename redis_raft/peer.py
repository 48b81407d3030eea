"""Links to the other nodes: ``RAFT.MSG <sender> <payload>`` over their RESP ports.

Each peer gets one outgoing connection with a send queue. Messages are written in
order and pipelined (the ``+OK`` replies are read and dropped); a broken or refused
connection is retried every :data:`RECONNECT_S`, and what was queued for it is dropped
(Raft resends). A queue that grows past :data:`MAX_QUEUE_BYTES` while the link is
stuck (a blackholed TCP stream fills its buffers) drops new messages instead of
growing without bound. Incoming messages arrive through the node's RESP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

from labkit.resp import encode_command
from redis_raft.codec import encode_message
from redis_raft.core.messages import Message
from redis_raft.driver.respclient import LinkError, RespClient

__all__ = ["MAX_QUEUE_BYTES", "PeerLink", "PeerLinks"]

log = logging.getLogger("redis_raft.peer")

RECONNECT_S = 0.1
CONNECT_TIMEOUT_S = 1.0
MAX_QUEUE_BYTES = 64 * 1024 * 1024
MAX_BUFFERED_BYTES = 16 * 1024 * 1024  # in the transport, while the peer does not read


class PeerLink:
    """The outgoing connection to one peer."""

    def __init__(self, sender: str, peer: str, host: str, port: int, password: str | None) -> None:
        self.sender = sender
        self.peer = peer
        self.host = host
        self.port = port
        self.password = password
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.dropped = 0
        self.sent = 0
        self.connected = False
        self.connects = 0
        self.last_error = ""
        self.connected_since: float | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: RespClient | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            self._client.close()

    def send(self, payload: bytes) -> None:
        """Queue a message; :meth:`flush` or the link's task writes it."""
        frame = encode_command(b"RAFT.MSG", self.sender.encode(), payload)
        if self.queued_bytes + len(frame) > MAX_QUEUE_BYTES:
            self.dropped += 1
            return
        self.queue.append(frame)
        self.queued_bytes += len(frame)
        self._wake.set()

    def flush(self) -> None:
        """Write what is queued now, in one write, if the link is up and not backed up
        (saves a wake-up of the link's task per batch); else the task does it."""
        client = self._client
        if (
            not self.queue
            or client is None
            or client.closed
            or not self.connected
            or client.buffered_bytes > MAX_BUFFERED_BYTES
        ):
            return
        batch = list(self.queue)
        self.queue.clear()
        self.queued_bytes = 0
        try:
            client.write_raw(b"".join(batch))
        except LinkError:
            return  # the task sees the closed client and reconnects
        self.sent += len(batch)

    async def _run(self) -> None:
        while True:
            try:
                self._client = await RespClient.connect(
                    self.host,
                    self.port,
                    timeout_s=CONNECT_TIMEOUT_S,
                    password=self.password,
                    name=f"raft-peer-{self.sender}",
                )
            except LinkError as exc:
                self._disconnected(str(exc))
                await asyncio.sleep(RECONNECT_S)
                continue
            self.connected = True
            self.connects += 1
            self.connected_since = time.monotonic()
            try:
                await self._pump(self._client)
            except LinkError as exc:
                self._disconnected(str(exc))
            finally:
                self._client.close()
            await asyncio.sleep(RECONNECT_S)

    def _disconnected(self, reason: str) -> None:
        if self.connected or reason != self.last_error:
            log.debug("link %s -> %s: %s", self.sender, self.peer, reason)
        self.connected = False
        self.connected_since = None
        self.last_error = reason
        self.dropped += len(self.queue)
        self.queue.clear()
        self.queued_bytes = 0

    async def _pump(self, client: RespClient) -> None:
        while not client.closed:
            if not self.queue:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                continue
            if client.buffered_bytes > MAX_BUFFERED_BYTES:
                await client.drain()
                continue
            batch = list(self.queue)
            self.queue.clear()
            self.queued_bytes = 0
            client.write_raw(b"".join(batch))
            self.sent += len(batch)
            await asyncio.sleep(0)
        raise LinkError(client.error or "closed")


class PeerLinks:
    """The links of one node to the other members.

    ``peers`` is the node's address book, shared (not copied): a member added at run
    time gets its link on the first message to it once its address is in the book.
    """

    def __init__(
        self,
        node_id: str,
        peers: dict[str, tuple[str, int]],
        password: str | None,
        on_encode_error: Callable[[str], None] | None = None,
    ) -> None:
        self.node_id = node_id
        self.book = peers
        self.password = password
        self.links = {
            peer: PeerLink(node_id, peer, host, port, password)
            for peer, (host, port) in peers.items()
            if peer != node_id
        }
        self._on_encode_error = on_encode_error
        self._started = False
        self._closing: set[asyncio.Task[None]] = set()
        self._dirty: set[PeerLink] = set()

    def start(self) -> None:
        self._started = True
        for link in self.links.values():
            link.start()

    async def close(self) -> None:
        self._started = False
        for link in self.links.values():
            await link.close()
        for task in list(self._closing):
            await task

    def send(self, to: str, message: Message) -> None:
        link = self.links.get(to) or self._open(to)
        if link is None:
            return  # no address for it yet (a member added elsewhere): Raft resends
        link.send(encode_message(message))
        self._dirty.add(link)

    def flush(self) -> None:
        """Write the messages queued since the last flush (see :meth:`PeerLink.flush`)."""
        for link in self._dirty:
            link.flush()
        self._dirty.clear()

    def _open(self, peer: str) -> PeerLink | None:
        address = self.book.get(peer)
        if address is None or peer == self.node_id or not self._started:
            return None
        link = PeerLink(self.node_id, peer, address[0], address[1], self.password)
        self.links[peer] = link
        link.start()
        return link

    def forget(self, peer: str) -> None:
        """Close the link to ``peer`` (removed, or its address changed)."""
        link = self.links.pop(peer, None)
        if link is not None:
            task = asyncio.get_running_loop().create_task(link.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
