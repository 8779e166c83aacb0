// The Server-Sent Events transport of @heraldpush/client (docs/protocol.md,
// "Server-Sent Events"), for networks that break WebSocket upgrades. It
// looks like a WebSocket to the client (SocketLike): the stream's events
// are its messages, and what the client sends is POSTed to /sse/frames,
// batched per tick. It reads the stream with fetch rather than EventSource:
// the same code runs in browsers and Node, and the client, not the
// browser, decides when and where to reconnect (with a fresh token and its
// own resume position, which is what EventSource's Last-Event-ID carries).
/** Largest POST body: the server's default --max-frame. */
const MAX_POST = 4096;
export class EventStreamSocket {
    base;
    token;
    readyState = 0;
    onopen = null;
    onmessage = null;
    onclose = null;
    onerror = null;
    abort = new AbortController();
    conn = "";
    queue = [];
    posting = false;
    /** base is http(s)://host:port; query the GET /sse parameters (with the
     * token, also sent as a bearer token with every POST). */
    constructor(base, query, token) {
        this.base = base;
        this.token = token;
        void this.run(`${base}/sse?${query}`);
    }
    async run(url) {
        let code = 1006;
        let reason = "";
        try {
            const r = await fetch(url, { signal: this.abort.signal, cache: "no-store", headers: { Accept: "text/event-stream" } });
            if (r.status !== 200 || !r.body) {
                reason = `GET /sse: HTTP ${r.status}`;
                this.onerror?.({ message: reason });
                return;
            }
            this.readyState = 1;
            this.onopen?.({});
            for await (const data of events(r.body)) {
                let f;
                try {
                    f = JSON.parse(data);
                }
                catch {
                    continue;
                }
                if (f?.type === "close") {
                    code = typeof f.code === "number" ? f.code : 1006;
                    reason = typeof f.reason === "string" ? f.reason : "";
                    break;
                }
                if (f?.type === "hello" && typeof f.conn === "string")
                    this.conn = f.conn;
                if (this.readyState !== 1)
                    break;
                this.onmessage?.({ data });
            }
        }
        catch {
            // Aborted by close(), or the network failed: the same end.
        }
        finally {
            this.end(code, reason);
        }
    }
    send(data) {
        if (this.readyState !== 1)
            return;
        if (data.includes('"refresh"')) {
            // A new token for the connection: the POSTs that follow carry it.
            try {
                const f = JSON.parse(data);
                if (f.type === "refresh" && typeof f.token === "string")
                    this.token = f.token;
            }
            catch {
                // not a refresh frame
            }
        }
        this.queue.push(data);
        if (!this.posting) {
            this.posting = true;
            queueMicrotask(() => void this.post());
        }
    }
    /** POSTs the queued frames in order, as few requests as fit in MAX_POST. */
    async post() {
        while (this.queue.length && this.readyState === 1) {
            let n = 1;
            let size = this.queue[0].length + 2;
            while (n < this.queue.length && size + this.queue[n].length + 1 <= MAX_POST)
                size += this.queue[n++].length + 1;
            const batch = this.queue.splice(0, n);
            const body = batch.length === 1 ? batch[0] : `[${batch.join(",")}]`;
            let status = 0;
            try {
                const r = await fetch(`${this.base}/sse/frames?conn=${encodeURIComponent(this.conn)}`, {
                    method: "POST",
                    headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.token}` },
                    body,
                });
                status = r.status;
            }
            catch {
                // status 0: the network failed
            }
            if (status !== 204) {
                // 400 closes the stream with its close event; 404 and 503 mean the
                // stream is gone or unreachable, and a network failure that the
                // frames may be lost: end it, and the client's reconnect resumes.
                this.end(status === 400 ? 1008 : 1006, `POST /sse/frames: HTTP ${status}`);
            }
        }
        this.posting = false;
    }
    close(_code, _reason) {
        this.end(_code ?? 1000, _reason ?? "");
    }
    end(code, reason) {
        if (this.readyState === 3)
            return;
        this.readyState = 3;
        this.queue = [];
        this.abort.abort();
        this.onclose?.({ code, reason });
    }
}
/** The data of each event of a text/event-stream body, parsed as the SSE
 * spec says: lines end in CRLF, LF or CR; "data" fields join with "\n"; a
 * blank line ends an event; comments and other fields are skipped. */
async function* events(body) {
    const decoder = new TextDecoder();
    const reader = body.getReader();
    let buf = "";
    let data = null;
    let first = true;
    try {
        for (;;) {
            const { value, done } = await reader.read();
            if (done)
                return;
            buf += decoder.decode(value, { stream: true });
            if (first && buf.length) {
                if (buf.charCodeAt(0) === 0xfeff)
                    buf = buf.slice(1);
                first = false;
            }
            let start = 0;
            for (let i = 0; i < buf.length; i++) {
                const ch = buf.charCodeAt(i);
                if (ch !== 10 && ch !== 13)
                    continue;
                // A CR last in the buffer may be half of a CRLF: wait for more.
                if (ch === 13 && i === buf.length - 1)
                    break;
                const line = buf.slice(start, i);
                if (ch === 13 && buf.charCodeAt(i + 1) === 10)
                    i++;
                start = i + 1;
                if (line === "") {
                    if (data)
                        yield data.join("\n");
                    data = null;
                    continue;
                }
                if (line.charCodeAt(0) === 58)
                    continue; // ":" a comment (heartbeat)
                const colon = line.indexOf(":");
                const field = colon < 0 ? line : line.slice(0, colon);
                let v = colon < 0 ? "" : line.slice(colon + 1);
                if (v.charCodeAt(0) === 32)
                    v = v.slice(1);
                if (field === "data")
                    (data ??= []).push(v);
            }
            buf = buf.slice(start);
        }
    }
    finally {
        reader.releaseLock();
    }
}
