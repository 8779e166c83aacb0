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

// The page uses the herald-client SDK (clients/js), the same code an app would.
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
    $("hello").textContent = `Connected as ${h.user} on node ${h.node}, connection ${h.conn}. Your latest seq: ${h.seq}.`;
  });
  c.on("disconnected", (d) => {
    if (client !== c) return; // closed on purpose
    status("reconnecting", "wait");
    $("hello").textContent = `Closed (${d.code}${d.reason ? ": " + d.reason : ""}); reconnecting…`;
  });
  c.on("error", (e) => { $("hello").textContent = "Token refused: " + e.message; });
  c.on("message", (m) => addRow(m));
  c.connect();
  $("disconnect").disabled = false;
}

function disconnect() {
  const c = client;
  client = null;
  if (c) c.close();
  status("offline", "off");
  $("hello").textContent = "Disconnected.";
  $("connect").disabled = false;
  $("disconnect").disabled = true;
}

function addRow(f) {
  $("empty").style.display = "none";
  count++;
  $("count").textContent = `(${count})`;
  const tr = document.createElement("tr");
  tr.className = "new";
  const latency = Math.max(0, Date.now() - f.ts);
  for (const text of [f.seq, f.topic || "", JSON.stringify(f.payload), latency + " ms", f.id]) {
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
  const body = { users, payload };
  if ($("topic").value.trim()) body.topic = $("topic").value.trim();
  try {
    const r = await post("/dev/messages", body);
    $("send-result").textContent = `Stored: ${r.id}`;
  } catch (e) {
    $("send-result").textContent = "Refused: " + e.message;
  }
}

$("connect").onclick = connect;
$("disconnect").onclick = disconnect;
$("send").onclick = send;
