"""The sender: Herald's collect API for back ends, standard library only.

Every call is safe to retry, and is retried: each request carries an
Idempotency-Key (the caller's, or one made up for the call), so a retry
after a timeout, a dropped connection or a 503, to the same collect
instance or the next, stores nothing twice and returns the first answer.
A returned ID means the message is on disk.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Sequence


class HeraldError(Exception):
    """A refusal from the server: its status and the API's error code
    (invalid_request, unauthorized, not_found, ...). 408, 429 and 5xx are
    retried before one is raised."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"herald: {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass
class Notification:
    """What a push service shows on a device that is woken."""

    title: str = ""
    body: str = ""
    data: dict[str, Any] | None = None
    collapse_key: str = ""
    ttl_seconds: int = 0
    priority: str = ""  # normal or high

    def wire(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass
class Published:
    """The answer to a topic message or broadcast; seq is None for a
    scheduled one until it goes."""

    id: str
    topic: str
    seq: int | None = None
    deliver_at: int | None = None


@dataclass
class Recalled:
    id: str
    status: str  # recalled, or cancelled (it was scheduled)
    recalled_at: int | None = None


def _ms(t: datetime | int | float | None) -> int | None:
    if t is None:
        return None
    if isinstance(t, datetime):
        return int(t.timestamp() * 1000)
    return int(t)


def _message(payload: Any, users: Sequence[str] | None = None, *, topic: str = "", ttl_seconds: int = 0,
             expires_at: datetime | int | None = None, collapse_key: str = "", deliver_at: datetime | int | None = None,
             notification: Notification | None = None, push: str = "") -> dict[str, Any]:
    m: dict[str, Any] = {"payload": payload}
    if users is not None:
        m["users"] = list(users)
    for key, value in (("topic", topic), ("ttl_seconds", ttl_seconds), ("expires_at", _ms(expires_at)),
                       ("collapse_key", collapse_key), ("deliver_at", _ms(deliver_at)), ("push", push)):
        if value:
            m[key] = value
    if notification is not None:
        m["notification"] = notification.wire()
    return m


class _Retry(Exception):
    def __init__(self, cause: Exception, after: float) -> None:
        super().__init__(str(cause))
        self.cause, self.after = cause, after


class Sender:
    """Sends to one or more collect instances (base URLs, comma-separated
    or a list); each retry goes to the next.

    ``attempts`` tries in all (6), the pause from ``backoff`` (0.1 s)
    doubling with jitter to ``max_backoff`` (5 s), a Retry-After honoured;
    ``on_retry`` is told of each failed try that will be tried again.
    """

    def __init__(self, api_key: str, base_urls: str | Sequence[str], *, auth_url: str = "", attempts: int = 6,
                 backoff: float = 0.1, max_backoff: float = 5.0, timeout: float = 30.0, max_batch: int = 1000,
                 on_retry: Callable[[Exception], None] | None = None) -> None:
        urls = base_urls.split(",") if isinstance(base_urls, str) else list(base_urls)
        self.base_urls = [u.strip().rstrip("/") for u in urls if u.strip()]
        if not self.base_urls or not api_key:
            raise ValueError("heraldpush: an API key and a base URL are required")
        self.api_key, self.auth_url = api_key, auth_url or self.base_urls[0]
        self.attempts, self.backoff, self.max_backoff = attempts, backoff, max_backoff
        self.timeout, self.max_batch, self.on_retry = timeout, max_batch, on_retry

    def send(self, users: Sequence[str], payload: Any, *, key: str = "", **options: Any) -> str:
        """Stores one message to users and returns its ID. Options:
        topic, ttl_seconds, expires_at, collapse_key, deliver_at,
        notification (a Notification), push."""
        return self._call("POST", "/v1/messages", _message(payload, users, **options), key)["id"]

    def send_batch(self, messages: Sequence[dict[str, Any]], *, key: str = "") -> list[str]:
        """Stores messages (dicts of send's arguments: users, payload, and
        options), max_batch to a request, each request one durable write;
        returns their IDs in order. With a key, each part's key is the key,
        "#" and its number, so the whole call can be retried with it."""
        ids: list[str] = []
        for part, i in enumerate(range(0, len(messages), self.max_batch)):
            chunk = messages[i:i + self.max_batch]
            k = key
            if key and (part > 0 or len(chunk) < len(messages)):
                k = f"{key}#{part}"
            body = {"messages": [_message(m["payload"], m["users"], **{o: v for o, v in m.items() if o not in ("users", "payload")})
                                 for m in chunk]}
            ids += self._call("POST", "/v1/messages/batch", body, k)["ids"]
        return ids

    def publish(self, topic: str, payload: Any, *, key: str = "", **options: Any) -> Published:
        """Stores a message to every subscriber of topic."""
        out = self._call("POST", f"/v1/topics/{urllib.parse.quote(topic, safe='')}/messages", _message(payload, **options), key)
        return Published(out["id"], out["topic"], out.get("seq"), out.get("deliver_at"))

    def broadcast(self, payload: Any, *, key: str = "", **options: Any) -> Published:
        """Stores a message to every connection."""
        out = self._call("POST", "/v1/broadcast", _message(payload, **options), key)
        return Published(out["id"], out["topic"], out.get("seq"), out.get("deliver_at"))

    def status(self, message_id: str) -> dict[str, Any]:
        """What became of a message, per recipient and device (GET /v1/messages/{id})."""
        return self._call("GET", f"/v1/messages/{urllib.parse.quote(message_id, safe='')}")

    def recall(self, message_id: str) -> Recalled:
        """Takes a message back: a scheduled one never goes out; a stored one is replayed to no one any more."""
        out = self._call("DELETE", f"/v1/messages/{urllib.parse.quote(message_id, safe='')}")
        return Recalled(out["id"], out["status"], out.get("recalled_at"))

    def token(self, user: str, *, topics: Sequence[str] | None = None, ttl_seconds: int = 0) -> str:
        """A token for a user's connection (POST /v1/tokens on the auth service)."""
        body: dict[str, Any] = {"user": user}
        if topics is not None:
            body["topics"] = list(topics)
        if ttl_seconds:
            body["ttl_seconds"] = ttl_seconds
        return self._call("POST", "/v1/tokens", body, only=self.auth_url)["token"]

    def _call(self, method: str, path: str, body: Any = None, key: str = "", only: str = "") -> Any:
        idem = key or "sdk-" + uuid.uuid4().hex
        raw = None if body is None else json.dumps(body).encode()
        start = random.randrange(len(self.base_urls))
        pause = self.backoff
        last: Exception = RuntimeError("heraldpush: no attempt")
        for i in range(self.attempts):
            if i > 0:
                wait = pause / 2 + random.random() * pause  # jitter: many senders' retries do not come together
                if isinstance(last, _Retry):
                    wait = max(wait, last.after)
                time.sleep(wait)
                pause = min(pause * 2, self.max_backoff)
            base = only or self.base_urls[(start + i) % len(self.base_urls)]
            try:
                return self._once(method, base + path, idem, raw)
            except _Retry as e:
                last = e
                if self.on_retry and i + 1 < self.attempts:
                    self.on_retry(e.cause)
        raise last.cause if isinstance(last, _Retry) else last

    def _once(self, method: str, url: str, key: str, raw: bytes | None) -> Any:
        req = urllib.request.Request(url, data=raw, method=method)
        req.add_header("Authorization", f"Bearer {self.api_key}")
        req.add_header("Idempotency-Key", key)
        if raw is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = resp.read()
                return json.loads(data) if data else {}
        except urllib.error.HTTPError as e:
            data = e.read()
            code, message = "", data.decode(errors="replace").strip()
            try:
                err = json.loads(data)["error"]
                code, message = err["code"], err["message"]
            except (ValueError, KeyError, TypeError):
                pass
            herr = HeraldError(e.code, code, message)
            if e.code in (408, 429) or e.code >= 500:
                after = e.headers.get("Retry-After", "")
                raise _Retry(herr, min(int(after), 60) if after.isdigit() else 0) from None
            raise herr from None
        except (urllib.error.URLError, OSError) as e:
            raise _Retry(e, 0) from None  # the message may be stored: the key makes the retry safe
