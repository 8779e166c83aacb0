"""An asyncio client for Herald's WebSocket protocol (docs/protocol.md).

It keeps one connection open, reconnects with jittered exponential backoff,
resumes after the last message it handed out, drops repeats by seq, acks
each message once the application asks for the next one, resubscribes to
its topics (each resumed after the last seq handed out), and answers the
server's token refreshes. Needs the ``websockets`` package.

    async with Client("ws://127.0.0.1:8080", get_token=token_for_alice, device="laptop") as client:
        async for m in client:
            print(m.seq, m.payload)
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import websockets

BROADCAST = "*"


@dataclass
class Message:
    """A message as the application sees it: a user's own (topic None
    unless the sender labelled it) or, with kind "pub", a topic's or a
    broadcast's (topic "*"); seq counts in its stream."""

    kind: str  # msg or pub
    id: str
    seq: int
    ts: int
    payload: Any
    topic: str | None = None


@dataclass
class _State:
    last_seq: int = 0
    epoch: str | None = None
    topics: dict[str, int | None] = field(default_factory=lambda: {BROADCAST: None})


class Client:
    """A connection to Herald that outlives networks and server restarts.

    ``token`` or ``get_token`` (called, sync or async, before every
    connection and when the server asks for a refresh); ``device``: a
    stable ID per install, so that the server remembers its acks;
    ``topics``: subscribed on every connection (``subscribe`` adds more);
    ``last_value``: a new topic in a namespace with last_value starts at
    its newest message.
    """

    def __init__(self, url: str, *, token: str | None = None, get_token: Callable[[], str | Awaitable[str]] | None = None,
                 device: str = "", since: int | None = None, topics: tuple[str, ...] | list[str] = (), last_value: bool = False,
                 min_backoff: float = 0.25, max_backoff: float = 30.0, stable_after: float = 5.0) -> None:
        if not token and not get_token:
            raise ValueError("heraldpush: token or get_token is required")
        self.url = url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        self._token, self._get_token, self.device, self.last_value = token, get_token, device, last_value
        self.min_backoff, self.max_backoff, self.stable_after = min_backoff, max_backoff, stable_after
        self._s = _State(last_seq=since or 0)
        self._since_given = since is not None
        for t in topics:
            self._s.topics[t] = None
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._unacked: int | None = None
        self.connects = 0  # connections that said hello

    async def __aenter__(self) -> "Client":
        self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def connect(self) -> None:
        """Starts the connection loop (it runs until close)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Acks the last message handed out (the application is done with
        it) and closes for good."""
        self._closed = True
        ws = self._ws
        if ws is not None:
            if self._unacked is not None:
                try:
                    await ws.send(json.dumps({"type": "ack", "seq": self._unacked}))
                except websockets.ConnectionClosed:
                    pass
                self._unacked = None
            await ws.close(1000, "bye")
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    @property
    def last_seq(self) -> int:
        """The seq of the last user message handed out."""
        return self._s.last_seq

    def subscribe(self, *topics: str) -> None:
        new = [t for t in topics if t not in self._s.topics]
        for t in new:
            self._s.topics[t] = None
        if new:
            self._send({"type": "sub", "topics": new, **({"last": True} if self.last_value else {})})

    def unsubscribe(self, *topics: str) -> None:
        for t in topics:
            if t != BROADCAST:
                self._s.topics.pop(t, None)
        self._send({"type": "unsub", "topics": list(topics)})

    async def drop_connection(self) -> None:
        """Closes the current connection as a network failure would; the client reconnects."""
        if self._ws is not None:
            await self._ws.close(4999, "dropped")

    def __aiter__(self) -> "Client":
        return self

    async def __anext__(self) -> Message:
        # Asking for the next message says the last one was processed.
        if self._unacked is not None:
            self._send({"type": "ack", "seq": self._unacked})
            self._unacked = None
        m = await self._queue.get()
        if m.kind == "msg":
            self._unacked = m.seq
        return m

    async def next(self, timeout: float | None = None) -> Message:
        """The next message, within timeout seconds (asyncio.TimeoutError otherwise)."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    def _send(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is not None and ws.open:
            asyncio.get_running_loop().create_task(self._send_quietly(ws, json.dumps(frame)))

    @staticmethod
    async def _send_quietly(ws: Any, data: str) -> None:
        try:
            await ws.send(data)
        except websockets.ConnectionClosed:
            pass  # the next connection resumes: nothing is lost

    async def _token_now(self) -> str:
        if self._get_token is None:
            return self._token or ""
        t = self._get_token()
        return await t if inspect.isawaitable(t) else t

    def _connect_url(self, token: str) -> str:
        q = {"token": token}
        if self.device:
            q["device"] = self.device
        if self._s.last_seq or self._since_given:
            q["since"] = str(self._s.last_seq)
            if self._s.epoch:
                q["epoch"] = self._s.epoch
        b = self._s.topics.get(BROADCAST)
        if b is not None:
            q["broadcast_since"] = str(b)
        return f"{self.url}/ws?{urllib.parse.urlencode(q)}"

    async def _run(self) -> None:
        backoff = self.min_backoff
        while not self._closed:
            opened = 0.0
            try:
                async with websockets.connect(self._connect_url(await self._token_now()), ping_interval=20, max_size=1 << 20) as ws:
                    self._ws = ws
                    hello = json.loads(await ws.recv())
                    if hello.get("type") != "hello":
                        raise ConnectionError(f"first frame is {hello.get('type')!r}, not hello")
                    opened = time.monotonic()
                    self._hello(hello)
                    self._resubscribe()
                    async for raw in ws:
                        await self._frame(json.loads(raw))
            except asyncio.CancelledError:
                raise
            except Exception:  # refused, dropped, unreachable: try again
                pass
            finally:
                self._ws = None
            if self._closed:
                return
            if opened and time.monotonic() - opened >= self.stable_after:
                backoff = self.min_backoff
            await asyncio.sleep(random.random() * backoff)  # full jitter: no reconnect storm
            backoff = min(backoff * 2, self.max_backoff)

    def _hello(self, f: dict[str, Any]) -> None:
        self.connects += 1
        s = self._s
        # A new epoch, or a stream behind what was handed out: the store
        # was wiped or restored, and its seqs began again (docs/protocol.md).
        if (s.epoch is not None and f.get("epoch") != s.epoch) or f.get("seq", 0) < s.last_seq:
            s.last_seq = 0
        s.epoch = f.get("epoch")
        if s.topics.get(BROADCAST) is None or f.get("broadcast_seq", 0) < (s.topics[BROADCAST] or 0):
            s.topics[BROADCAST] = f.get("broadcast_seq", 0)

    def _resubscribe(self) -> None:
        topics = [t for t in self._s.topics if t != BROADCAST]
        since = {t: v for t, v in self._s.topics.items() if t != BROADCAST and v is not None}
        for i in range(0, len(topics), 100):
            frame: dict[str, Any] = {"type": "sub", "topics": topics[i:i + 100], "since": since}
            if self.last_value:
                frame["last"] = True
            self._send(frame)

    async def _frame(self, f: dict[str, Any]) -> None:
        t = f.get("type")
        s = self._s
        if t == "msg":
            if f["seq"] <= s.last_seq:
                return  # a repeat: handed out already
            s.last_seq = f["seq"]
            self._queue.put_nowait(Message("msg", f["id"], f["seq"], f.get("ts", 0), f.get("payload"), f.get("topic")))
        elif t == "pub":
            topic = f["topic"]
            if topic not in s.topics:
                return  # unsubscribed meanwhile
            last = s.topics[topic]
            if last is not None and f["seq"] <= last:
                return
            s.topics[topic] = f["seq"]
            self._queue.put_nowait(Message("pub", f["id"], f["seq"], f.get("ts", 0), f.get("payload"), topic))
        elif t == "subscribed":
            last = s.topics.get(f["topic"], 0)
            if f["topic"] in s.topics and not f.get("already") and (last is None or f["seq"] < last):
                s.topics[f["topic"]] = f["seq"]
        elif t == "sub_refused":
            s.topics.pop(f["topic"], None)
        elif t == "refresh" and self._get_token is not None:
            self._send({"type": "refresh", "token": await self._token_now()})
