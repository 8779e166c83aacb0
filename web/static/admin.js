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
