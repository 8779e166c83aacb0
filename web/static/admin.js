// Herald admin page: reads only the public admin API (docs/api.md).
const $ = (id) => document.getElementById(id);
const history = [];
let timer = null;

$("key").value = sessionStorage.heraldKey || "";

async function get(path) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + $("key").value } });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
  return data;
}

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text;
  tr.appendChild(td);
}

function rows(tbody, items, fill) {
  tbody.replaceChildren();
  for (const it of items) {
    const tr = document.createElement("tr");
    fill(tr, it);
    tbody.appendChild(tr);
  }
}

function ago(ms) {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  return s < 60 ? s.toFixed(1) + " s ago" : Math.round(s / 60) + " min ago";
}

function draw() {
  const c = $("chart");
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const max = Math.max(10, ...history.flatMap((h) => [h.in, h.out]));
  g.strokeStyle = "#22304f";
  g.fillStyle = "#94a3b8";
  g.font = "12px system-ui";
  for (let i = 0; i <= 4; i++) {
    const y = 10 + (i * (c.height - 20)) / 4;
    g.beginPath(); g.moveTo(40, y); g.lineTo(c.width, y); g.stroke();
    g.fillText(Math.round(max * (1 - i / 4)), 0, y + 4);
  }
  const line = (key, color) => {
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
    history.forEach((h, i) => {
      const x = 40 + (i * (c.width - 40)) / 59;
      const y = 10 + (1 - h[key] / max) * (c.height - 20);
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
  };
  line("in", "#38bdf8");
  line("out", "#22c55e");
}

async function tick() {
  try {
    const [nodes, online, errors] = await Promise.all([get("/v1/admin/nodes"), get("/v1/admin/online"), get("/v1/admin/errors")]);
    $("state").textContent = "watching"; $("state").className = "badge on";
    $("node-count").textContent = `(${nodes.nodes.length})`;
    rows($("nodes"), nodes.nodes, (tr, n) => {
      const st = n.stats || {};
      cell(tr, n.id); cell(tr, n.addr); cell(tr, new Date(n.epoch).toLocaleString());
      cell(tr, st.beat ? ago(st.beat) : "-"); cell(tr, st.connections ?? "-");
      cell(tr, (st.in_per_sec ?? 0).toFixed(1)); cell(tr, (st.out_per_sec ?? 0).toFixed(1));
    });
    $("user-count").textContent = `(${online.users.length})`;
    rows($("users"), online.users, (tr, u) => {
      cell(tr, u.user);
      cell(tr, u.connections.map((c) => `${c.node} / ${c.device || "-"}`).join(", "));
    });
    rows($("errors"), errors.errors.slice(0, 20), (tr, e) => {
      cell(tr, new Date(e.time).toLocaleTimeString()); cell(tr, e.level); cell(tr, e.message);
    });
    history.push({
      in: nodes.nodes.reduce((a, n) => a + ((n.stats && n.stats.in_per_sec) || 0), 0),
      out: nodes.nodes.reduce((a, n) => a + ((n.stats && n.stats.out_per_sec) || 0), 0),
    });
    if (history.length > 60) history.shift();
    draw();
  } catch (e) {
    $("state").textContent = e.message; $("state").className = "badge off";
  }
}

$("load").onclick = () => {
  sessionStorage.heraldKey = $("key").value;
  if (timer) clearInterval(timer);
  tick();
  timer = setInterval(tick, 2000);
};
if ($("key").value) $("load").onclick();

// Lookups and actions. Each is one call of the public API, under the key
// typed above: a key without the scope an action needs gets its 403.
async function call(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: { Authorization: "Bearer " + $("key").value, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
  return data;
}

function payloadOf(id) {
  const v = $(id).value.trim();
  try {
    return JSON.parse(v);
  } catch {
    return v; // plain text goes as a JSON string
  }
}

// A lookup's answer is shown only if no newer lookup began meanwhile.
let topicLookups = 0;

async function lookTopic() {
  const t = encodeURIComponent($("topic").value.trim());
  const mine = ++topicLookups;
  try {
    const [st, page] = await Promise.all([call("GET", `/v1/topics/${t}/presence/stats`), call("GET", `/v1/topics/${t}/presence?limit=100`)]);
    if (mine !== topicLookups) return;
    $("topic-stats").textContent = `${st.users} users, ${st.connections} connections subscribed` + (page.next_cursor ? " (first 100 shown)" : "");
    rows($("topic-members"), page.members, (tr, m) => {
      cell(tr, m.user); cell(tr, m.device || "-"); cell(tr, m.node); cell(tr, new Date(m.since).toLocaleTimeString());
    });
  } catch (e) {
    $("topic-stats").textContent = e.message;
    rows($("topic-members"), [], () => {});
  }
}

async function lookUser() {
  const u = encodeURIComponent($("user").value.trim());
  try {
    const p = await call("GET", `/v1/users/${u}/presence`);
    $("user-state").textContent = p.online ? `online, ${p.connections.length} connection(s)` : "offline";
    rows($("user-conns"), p.connections, (tr, c) => {
      cell(tr, c.id); cell(tr, c.device || "-"); cell(tr, c.node); cell(tr, new Date(c.since).toLocaleTimeString());
      const td = document.createElement("td");
      if (c.device) {
        const b = document.createElement("button");
        b.className = "danger small";
        b.textContent = "Disconnect device";
        b.dataset.device = c.device;
        b.onclick = () => disconnectDevice(decodeURIComponent(u), c.device);
        td.appendChild(b);
      }
      tr.appendChild(td);
    });
    // A store without registrations (or a key without the read scope)
    // leaves the table empty; the rest of the lookup stands.
    const regs = await call("GET", `/v1/users/${u}/push`).catch(() => ({ registrations: [] }));
    rows($("user-push"), regs.registrations, (tr, r) => {
      cell(tr, r.device); cell(tr, r.provider);
      cell(tr, r.provider === "webpush" ? new URL(r.subscription.endpoint).host : r.provider === "apns" ? `${r.topic} (${r.environment})` : "token " + r.token.slice(0, 12) + "…");
      cell(tr, (r.topics || []).join(", ") || "-");
      cell(tr, new Date(r.updated).toLocaleString());
    });
    const head = await call("GET", `/v1/users/${u}/messages?since=0&limit=1`);
    const inbox = await call("GET", `/v1/users/${u}/messages?since=${Math.max(0, head.last_seq - 20)}&limit=20`);
    const msgs = inbox.messages.reverse();
    const receipts = await Promise.all(msgs.map((m) => call("GET", `/v1/messages/${m.id}`).catch(() => null)));
    rows($("user-inbox"), msgs, (tr, m) => {
      const rc = receipts[msgs.indexOf(m)];
      const mine = rc && rc.recipients.find((x) => x.user === $("user").value.trim());
      const p = JSON.stringify(m.payload);
      cell(tr, m.seq); cell(tr, m.id); cell(tr, p.length > 80 ? p.slice(0, 80) + "…" : p); cell(tr, mine ? mine.status : "-");
    });
  } catch (e) {
    $("user-state").textContent = e.message;
  }
}

async function act(out, fn) {
  try {
    $(out).textContent = await fn();
  } catch (e) {
    $(out).textContent = "Refused: " + e.message;
  }
}

$("topic-look").onclick = lookTopic;
$("user-look").onclick = lookUser;
$("topic-send").onclick = () => act("topic-result", async () => {
  const r = await call("POST", `/v1/topics/${encodeURIComponent($("topic").value.trim())}/messages`, { payload: payloadOf("topic-payload") });
  return `Stored: ${r.id} (seq ${r.seq})`;
});
$("user-send").onclick = () => act("user-result", async () => {
  const r = await call("POST", "/v1/messages", { users: [$("user").value.trim()], payload: payloadOf("user-payload") });
  return `Stored: ${r.id}`;
});
$("user-disconnect").onclick = () => act("user-result", async () => {
  const u = $("user").value.trim();
  if (!confirm(`Disconnect ${u} everywhere? Their tokens issued until now stop working.`)) return "Not disconnected.";
  await call("POST", `/v1/users/${encodeURIComponent(u)}/disconnect`, { reason: "disconnected by an operator" });
  return `${u} disconnected.`;
});
// A device's connections close (4003) and nothing is revoked: its SDK asks
// the application for a new token before it connects again.
function disconnectDevice(user, device) {
  act("user-result", async () => {
    if (!confirm(`Disconnect ${user}'s device ${device}?`)) return "Not disconnected.";
    await call("POST", `/v1/users/${encodeURIComponent(user)}/disconnect`, { device, reason: "disconnected by an operator" });
    setTimeout(lookUser, 300);
    return `${user}'s ${device} disconnected.`;
  });
}

$("msg-look").onclick = () => act("msg-out", async () => JSON.stringify(await call("GET", `/v1/messages/${encodeURIComponent($("msg-id").value.trim())}`), null, 2));
