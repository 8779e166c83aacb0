// Herald demo client: written only against docs/protocol.md.
const $ = (id) => document.getElementById(id);
let ws = null;
let lastSeq = 0;
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

async function connect() {
  const user = $("user").value.trim();
  const device = $("device").value.trim();
  status("connecting", "wait");
  $("connect").disabled = true;
  let token;
  try {
    token = (await post("/dev/token", { user })).token;
  } catch (e) {
    status("error", "off");
    $("hello").textContent = "Token refused: " + e.message;
    $("connect").disabled = false;
    return;
  }
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const q = new URLSearchParams({ token });
  if (device) q.set("device", device);
  ws = new WebSocket(`${proto}//${location.host}/ws?${q}`);
  ws.onmessage = (ev) => onFrame(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    status("offline", "off");
    $("hello").textContent = `Closed (${ev.code}${ev.reason ? ": " + ev.reason : ""}).`;
    $("connect").disabled = false;
    $("disconnect").disabled = true;
    ws = null;
  };
  $("disconnect").disabled = false;
}

function onFrame(f) {
  if (f.type === "hello") {
    status("online", "on");
    lastSeq = 0;
    $("hello").textContent = `Connected as ${f.user} on node ${f.node}, connection ${f.conn}. Your latest seq: ${f.seq}.`;
    return;
  }
  if (f.type !== "msg") return;
  if (f.seq <= lastSeq) return; // at-least-once: drop repeats by seq
  lastSeq = f.seq;
  addRow(f);
  ws.send(JSON.stringify({ type: "ack", seq: f.seq }));
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
$("disconnect").onclick = () => ws && ws.close(1000, "bye");
$("send").onclick = send;
