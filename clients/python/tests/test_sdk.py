"""The SDK against a real `herald all`, whose address and API key the Go
test (e2e TestPythonSDK) passes in HERALD_URL and HERALD_API_KEY."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.server
import json
import os
import threading
import time
import unittest
import urllib.request
import uuid

from heraldpush import HeraldError, Notification, Sender, verify_webhook
from heraldpush.client import Client

BASE = os.environ["HERALD_URL"]
KEY = os.environ["HERALD_API_KEY"]


def run_id() -> str:
    return uuid.uuid4().hex[:8]


class SenderTest(unittest.TestCase):
    def test_calls(self) -> None:
        s = Sender(KEY, BASE)
        r = run_id()
        mid = s.send([f"s-{r}"], {"text": "hi"}, ttl_seconds=3600, collapse_key="greeting", notification=Notification(title="Hi"))
        st = s.status(mid)
        self.assertEqual(st["collapse_key"], "greeting")
        self.assertEqual([x["user"] for x in st["recipients"]], [f"s-{r}"])
        msgs = [{"users": [f"b-{r}"], "payload": i} for i in range(5)]
        batch = Sender(KEY, BASE, max_batch=2)
        ids = batch.send_batch(msgs, key=f"batch-{r}")
        self.assertEqual(len(ids), 5)
        self.assertEqual(batch.send_batch(msgs, key=f"batch-{r}"), ids, "the same key: stored once")
        p = s.publish(f"news-{r}", "goal")
        self.assertEqual(p.seq, 1)
        later = s.publish(f"news-{r}", "later", deliver_at=int(time.time() * 1000) + 3_600_000)
        self.assertIsNone(later.seq)
        self.assertEqual(s.recall(later.id).status, "cancelled")
        self.assertEqual(s.recall(mid).status, "recalled")
        self.assertEqual(s.broadcast("all").topic, "*")
        self.assertTrue(s.token(f"t-{r}", topics=["news"]).startswith("ey"))
        with self.assertRaises(HeraldError) as e:
            s.send(["bad user"], 1)
        self.assertEqual((e.exception.status, e.exception.code), (400, "invalid_request"))
        with self.assertRaises(HeraldError) as e:
            s.recall("0123456789abcdef0123456789abcdef")
        self.assertEqual(e.exception.status, 404)

    def test_lost_answer_is_retried_and_stored_once(self) -> None:
        calls = []

        class Proxy(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                calls.append(1)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                req = urllib.request.Request(BASE + self.path, data=body, method="POST")
                for h in ("Authorization", "Idempotency-Key", "Content-Type"):
                    req.add_header(h, self.headers[h])
                with urllib.request.urlopen(req) as up:
                    answer, status = up.read(), up.status
                if len(calls) == 1:  # passed on, but the answer is lost
                    answer, status = b'{"error":{"code":"unavailable","message":"lost"}}', 503
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            retried: list[Exception] = []
            s = Sender(KEY, f"http://127.0.0.1:{srv.server_address[1]}", backoff=0.01, on_retry=retried.append)
            user = f"r-{run_id()}"
            mid = s.send([user], "once")
            self.assertEqual(len(calls), 2)
            self.assertEqual(retried[0].status, 503)
            hist = Sender(KEY, BASE)._call("GET", f"/v1/users/{user}/messages")
            self.assertEqual([m["id"] for m in hist["messages"]], [mid])
        finally:
            srv.shutdown()

    def test_webhook_signatures(self) -> None:
        secret, body = "webhook-secret-0123456789", b'{"events":[{"type":"acked"}]}'
        ts = str(int(time.time()))
        sig = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        self.assertTrue(verify_webhook(secret, ts, sig, body))
        self.assertTrue(verify_webhook(secret, ts, sig, body.decode()))
        self.assertFalse(verify_webhook(secret, ts, sig, body + b" "))
        self.assertFalse(verify_webhook("another-secret-0000", ts, sig, body))
        self.assertFalse(verify_webhook(secret, ts, sig, body, now=time.time() + 600))
        self.assertFalse(verify_webhook(secret, None, sig, body))


class ClientTest(unittest.IsolatedAsyncioTestCase):
    async def test_order_resume_acks_topics(self) -> None:
        s = Sender(KEY, BASE)
        r = run_id()
        user, topic = f"c-{r}", f"news-{r}"
        tokens = []

        def get_token() -> str:
            tokens.append(1)
            return s.token(user, topics=[topic])

        client = Client(BASE, get_token=get_token, device="py-1", topics=[topic], min_backoff=0.02, max_backoff=0.2)
        async with client:
            for i in range(5):
                await asyncio.to_thread(s.send, [user], {"i": i})
            got = [await client.next(10) for _ in range(5)]
            self.assertEqual([m.payload["i"] for m in got], list(range(5)))
            self.assertEqual([m.seq for m in got], [1, 2, 3, 4, 5])

            await client.drop_connection()
            for i in range(5, 8):
                await asyncio.to_thread(s.send, [user], {"i": i})
            await asyncio.to_thread(s.publish, topic, "goal")
            more = [await client.next(10) for _ in range(4)]
            self.assertEqual(sorted(m.payload["i"] for m in more if m.kind == "msg"), [5, 6, 7], "no loss, no repeat")
            pubs = [m for m in more if m.kind == "pub"]
            self.assertEqual((pubs[0].topic, pubs[0].payload), (topic, "goal"))
            self.assertGreaterEqual(client.connects, 2)
            self.assertGreaterEqual(len(tokens), 2, "a token asked before each connection")
        # Closing acked the last message handed out: a new client on the
        # same device resumes after it, with no replay.
        again = Client(BASE, get_token=get_token, device="py-1")
        async with again:
            mid = await asyncio.to_thread(s.send, [user], {"i": 8})
            m = await again.next(10)
            self.assertEqual((m.id, m.seq), (mid, 9))


if __name__ == "__main__":
    unittest.main()
