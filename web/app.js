// The daemon's live picture from its own /metrics (same origin, no network beyond it):
// create/delete rates, tasks per state, exit causes, queue depth. Every figure drawn is also
// written into the page as text (data-metric), which the tests read in headless Chromium.
"use strict";

const STATES = ["queued", "admitted", "created", "started"];
const POINTS = 60;

function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/);
    if (!m) continue;
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let l;
    while ((l = re.exec(m[3] || "")) !== null)
      labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
    samples.push({ name: m[1], labels, value: parseFloat(m[4]) });
  }
  return samples;
}

function sum(samples, name, want = {}) {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(want).every(([k, v]) => (s.labels[k] || "") === v)) total += s.value;
  }
  return total;
}

function chart(id, type, labels, datasets, extra = {}) {
  return new Chart(document.getElementById(id), {
    type, data: { labels, datasets },
    options: Object.assign({ animation: false, responsive: true,
                             scales: { y: { beginAtZero: true, suggestedMax: 1 } },
                             plugins: { legend: { display: datasets.length > 1 } } }, extra),
  });
}

const rates = chart("rates", "line", [], [
  { label: "created/s", data: [], borderColor: "#2a7", tension: 0.2 },
  { label: "deleted/s", data: [], borderColor: "#c44", tension: 0.2 }]);
const states = chart("states", "bar", STATES, [{ label: "tasks", data: [0, 0, 0, 0],
                                                  backgroundColor: "#48c" }]);
const exits = chart("exits", "bar", [], [{ label: "exits", data: [], backgroundColor: "#c84" }]);
const queue = chart("queue", "line", [], [{ label: "queued", data: [], borderColor: "#84c",
                                             tension: 0.2 }]);

let previous = null;
let updates = 0;

function push(c, label, values) {
  c.data.labels.push(label);
  values.forEach((v, i) => c.data.datasets[i].data.push(v));
  if (c.data.labels.length > POINTS) {
    c.data.labels.shift();
    c.data.datasets.forEach((d) => d.data.shift());
  }
}

function setText(selector, text) {
  for (const el of document.querySelectorAll(selector)) el.textContent = text;
}

function figures(id, entries) {
  const box = document.getElementById(id);
  box.textContent = "";
  for (const [name, value] of entries) {
    const span = document.createElement("span");
    span.dataset.metric = name;
    span.dataset.value = String(value);
    span.textContent = name + " " + value;
    box.appendChild(span);
  }
}

async function update() {
  let text;
  try {
    const r = await fetch("metrics", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    text = await r.text();
  } catch (e) {
    document.getElementById("status").textContent = "cannot reach the daemon: " + e.message;
    return;
  }
  const s = parseMetrics(text);
  const now = Date.now();
  const created = sum(s, "clawcage_container_changes_total", { operation: "create" });
  const deleted = sum(s, "clawcage_container_changes_total", { operation: "delete" });
  const label = new Date(now).toLocaleTimeString();
  if (previous) {
    const dt = (now - previous.at) / 1000;
    push(rates, label, [(created - previous.created) / dt, (deleted - previous.deleted) / dt]);
  }
  previous = { at: now, created, deleted };
  setText('[data-metric="create_total"]', String(created));
  setText('[data-metric="delete_total"]', String(deleted));

  const perState = STATES.map((st) => sum(s, "clawcage_tasks", { state: st }));
  states.data.datasets[0].data = perState;
  figures("state-figures", STATES.map((st, i) => [st, perState[i]]));

  const causes = {};
  for (const x of s) {
    if (x.name !== "clawcage_task_exits_total") continue;
    let key = x.labels.cause || "?";
    if (key === "exited") key += x.labels.exit_code === "zero" ? "_zero" : "_nonzero";
    causes[key] = (causes[key] || 0) + x.value;
  }
  const keys = Object.keys(causes).sort();
  exits.data.labels = keys;
  exits.data.datasets[0].data = keys.map((k) => causes[k]);
  figures("exit-figures", keys.map((k) => [k, causes[k]]));

  const depth = sum(s, "clawcage_queue_depth");
  push(queue, label, [depth]);
  setText('[data-metric="queue_depth"]', String(depth));
  setText('[data-metric="stuck"]', String(sum(s, "clawcage_stuck_sandboxes")));
  setText('[data-metric="leaked"]', String(sum(s, "clawcage_leaked_kernel_resources")));

  for (const c of [rates, states, exits, queue]) c.update();
  updates += 1;
  document.body.dataset.updates = String(updates);
  document.getElementById("status").textContent =
    (sum(s, "clawcage_healthy") === 1 ? "healthy" : "UNHEALTHY") + " · updated " + label;
}

update();
setInterval(update, 2000);
