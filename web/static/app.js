// Herald demo client: written only against docs/protocol.md.
import { HeraldClient } from "/herald-client.js";

const $ = (id) => document.getElementById(id);
let count = 0;

// A stable device ID per browser, so a reconnect resumes after the last ack.
if (!localStorage.heraldDevice) {
  localStorage.heraldDevice = "web-" + Math.random().toString(36).slice(2, 10);
}
$("device").value = localStorage.heraldDevice;

function status(text, cls) {
  const s = $("status");
  s.textContent = text;
  s.className = "badge " + cls;
}

async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
  return data;
}

let client = null;

// The page uses the @heraldpush/client SDK (clients/js), the same code an app would.
function connect() {
  const user = $("user").value.trim();
  const device = $("device").value.trim();
  status("connecting", "wait");
  $("connect").disabled = true;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const c = new HeraldClient({
    url: `${proto}//${location.host}`,
    getToken: async () => (await post("/dev/token", { user })).token,
    device: device || undefined,
    maxBackoffMs: 5000,
  });
  client = c;
  c.on("connected", (h) => {
    status("online", "on");
    const over = c.transport === "sse" ? "Server-Sent Events" : "WebSocket";
    $("hello").textContent = `Connected as ${h.user} over ${over} on node ${h.node}, connection ${h.conn}. Your latest seq: ${h.seq}.`;
  });
  c.on("disconnected", (d) => {
    if (client !== c) return; // closed on purpose
    status("reconnecting", "wait");
    $("hello").textContent = `Closed (${d.code}${d.reason ? ": " + d.reason : ""}); reconnecting…`;
    // Every close code, kept after the reconnect's text replaces this one.
    $("hello").dataset.closes = `${$("hello").dataset.closes ?? ""} ${d.code}`.trim();
  });
  c.on("error", (e) => { $("hello").textContent = "Token refused: " + e.message; });
  c.on("message", (m) => addRow("direct", m));
  c.on("pub", (p) => addRow(p.topic === "*" ? "broadcast" : "topic", p));
  c.on("subRefused", (r) => { $("topics").textContent = `Refused ${r.topic}: ${r.message}`; });
  c.connect();
  $("disconnect").disabled = false;
  $("subscribe").disabled = false;
  $("unsubscribe").disabled = false;
  subscribed.clear();
  showTopics();
}

// Topics: the SDK subscribes now and again after every reconnect.
const subscribed = new Set();
function showTopics() {
  $("topics").textContent = "Topics: " + (subscribed.size ? [...subscribed].join(", ") : "none") + " (broadcasts always arrive)";
}
function subscribe() {
  const t = $("sub-topic").value.trim();
  if (!t || !client) return;
  client.subscribe(t);
  subscribed.add(t);
  showTopics();
}
function unsubscribe() {
  const t = $("sub-topic").value.trim();
  if (!t || !client) return;
  client.unsubscribe(t);
  subscribed.delete(t);
  showTopics();
}

function disconnect() {
  const c = client;
  client = null;
  if (c) c.close();
  status("offline", "off");
  $("hello").textContent = "Disconnected.";
  $("connect").disabled = false;
  $("disconnect").disabled = true;
  $("subscribe").disabled = true;
  $("unsubscribe").disabled = true;
}

function addRow(from, f) {
  $("empty").style.display = "none";
  count++;
  $("count").textContent = `(${count})`;
  const tr = document.createElement("tr");
  tr.className = "new";
  const latency = Math.max(0, Date.now() - f.ts);
  for (const text of [from, f.seq, f.topic || "", JSON.stringify(f.payload), latency + " ms", f.id]) {
    const td = document.createElement("td");
    if (text !== "") {
      const code = document.createElement("code");
      code.textContent = String(text);
      td.appendChild(code);
    }
    tr.appendChild(td);
  }
  $("messages").prepend(tr);
}

async function send() {
  const users = $("to").value.split(",").map((s) => s.trim()).filter(Boolean);
  let payload;
  try {
    payload = JSON.parse($("payload").value);
  } catch (e) {
    $("send-result").textContent = "Payload is not valid JSON.";
    return;
  }
  const mode = $("mode").value;
  const topic = $("topic").value.trim();
  let path = "/dev/messages";
  let body = { users, payload };
  if (mode === "topic") {
    path = `/dev/topics/${encodeURIComponent(topic)}/messages`;
    body = { payload };
  } else if (mode === "broadcast") {
    path = "/dev/broadcast";
    body = { payload };
  } else if (topic) {
    body.topic = topic;
  }
  try {
    const r = await post(path, body);
    $("send-result").textContent = r.seq ? `Stored: ${r.id} (seq ${r.seq} of ${r.topic})` : `Stored: ${r.id}`;
  } catch (e) {
    $("send-result").textContent = "Refused: " + e.message;
  }
}

// The form follows the mode: users and an optional label, a topic, or nothing.
function showMode() {
  const mode = $("mode").value;
  $("to-label").style.display = mode === "users" ? "" : "none";
  $("topic-label").style.display = mode === "broadcast" ? "none" : "";
  $("topic-label").firstChild.textContent = mode === "topic" ? "Topic " : "Topic (optional label) ";
}
$("mode").onchange = showMode;
showMode();
$("subscribe").onclick = subscribe;
$("unsubscribe").onclick = unsubscribe;
$("connect").onclick = connect;
$("disconnect").onclick = disconnect;
$("send").onclick = send;
