// bintap dashboard: polls /status every 2 s and /history every 4 s, and
// sends snapshot actions to the same API as `bintap snapshot`.
"use strict";

const $ = (id) => document.getElementById(id);
const STATUS_EVERY = 2000, HISTORY_EVERY = 4000;
let last = null;        // last status
let lastOK = 0;         // when the stream last answered
let tokenRequired = false;
const selected = new Set();

const fmtInt = (n) => (n == null ? "–" : Number(n).toLocaleString("en-US"));
const STATE_SIGNS = { streaming: "●", snapshotting: "◐", starting: "○", retrying: "▲", stopping: "■", failed: "✖", standby: "◌" };

function fmtTime(t) {
  if (!t || t.startsWith("0001-")) return "–";
  const d = new Date(t);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function fmtAgo(t) {
  if (!t || t.startsWith("0001-")) return "–";
  return fmtDuration((Date.now() - new Date(t).getTime()) / 1000) + " ago";
}

function fmtDuration(s) {
  if (s == null || s < 0 || !isFinite(s)) return "unknown";
  s = Math.round(s);
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  if (h > 0) return h + " h " + (m % 60) + " min";
  return m + " min " + (s % 60) + " s";
}

function fmtBytes(n) {
  if (!n) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function text(id, v) { const el = $(id); if (el.textContent !== v) el.textContent = v; }

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function banner(msg, kind) {
  const b = $("banner");
  if (!msg) { b.hidden = true; return; }
  b.hidden = false;
  b.className = "banner " + (kind || "warn");
  b.textContent = msg;
}

// ---- status ----

async function poll() {
  try {
    const r = await fetch("/status", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    const st = await r.json();
    lastOK = Date.now();
    render(st);
  } catch (e) {
    const since = lastOK ? " (last answer " + fmtDuration((Date.now() - lastOK) / 1000) + " ago)" : "";
    banner("bintap is not answering: " + e.message + since + ". The figures below are stale.", "error");
    $("state").className = "badge s-unknown";
    text("state", "? not answering");
  } finally {
    setTimeout(poll, STATUS_EVERY);
  }
}

function render(st) {
  last = st;
  tokenRequired = !!st.token_required;
  text("version", st.version || "");
  const sign = STATE_SIGNS[st.state] || "?";
  $("state").className = "badge s-" + st.state;
  text("state", sign + " " + st.state);
  text("health", st.healthy ? "healthy" : "UNHEALTHY");
  $("health").className = st.healthy ? "ok-text" : "bad-text";
  let role = st.role || "single";
  if (st.ha_group) {
    role += " · group " + st.ha_group;
    if (st.role === "standby" && st.ha_holder) role += " (held by " + st.ha_holder + ")";
  }
  text("role", role);
  text("since", fmtTime(st.state_since));
  if (st.error) banner("Failed: " + st.error, "error");
  else if (st.reason) banner("Retrying: " + st.reason, "warn");
  else banner("");

  text("source", st.source || "–");
  text("flavor", st.flavor || "–");
  text("position", st.checkpoint ? st.checkpoint + " (written " + fmtAgo(st.checkpoint_written) + ")" : "none yet");
  text("lag", st.lag_seconds == null ? "unknown" : st.lag_seconds.toFixed(1) + " s");
  text("last-commit", fmtTime(st.last_commit));
  text("events", fmtInt(st.events) + " in " + fmtInt(st.batches) + " batches");
  text("uptime", fmtDuration((Date.now() - new Date(st.started).getTime()) / 1000));
  renderTables(st);
  renderOutputs(st);
  renderNotices(st.notices || []);
  $("act-pause").disabled = !!st.snapshot_paused;
  $("act-resume").disabled = !st.snapshot_paused;
}

// migration returns, per table, the status a database target keeps
// (waiting_for_migration, migrating, streaming), from the outputs' sections.
function migration(st) {
  const m = new Map();
  for (const o of st.outputs || []) {
    const sec = st.sections && st.sections[o.name];
    if (sec && sec.tables && typeof sec.tables === "object") {
      for (const [t, s] of Object.entries(sec.tables)) if (typeof s === "string") m.set(t, s.replaceAll("_", " "));
    }
  }
  return m;
}

function snapshotCell(p, paused) {
  if (!p) return el("span", { class: "muted" }, "–");
  const est = Math.max(p.estimated || 0, p.rows);
  const pct = p.done ? 100 : est > 0 ? Math.min(100, Math.floor((p.rows * 100) / est)) : 0;
  let state = p.done ? "done" : p.rows > 0 ? "reading" : "queued";
  if (!p.done && paused && p.kind === "incremental") state = "paused";
  const eta = p.done ? "" : p.eta_seconds >= 0 && p.rows_per_second > 0 ? ", ETA " + fmtDuration(p.eta_seconds) : "";
  const bar = el("progress", { max: 100, value: pct, "aria-label": p.kind + " snapshot of " + p.table });
  bar.setAttribute("data-pct", String(pct));
  return el("div", { class: "snap" },
    el("span", { class: "snap-state snap-" + state }, p.kind + ": " + state + " " + pct + "%"),
    bar,
    el("span", { class: "snap-figures" }, fmtInt(p.rows) + " / ~" + fmtInt(p.estimated) + " rows" + eta));
}

function renderTables(st) {
  const rows = new Map();
  for (const t of st.tables || []) rows.set(t.name, { t });
  for (const p of st.snapshots || []) {
    const r = rows.get(p.table) || {};
    // the incremental snapshot, when there is one, is the newer news
    if (!r.p || p.kind === "incremental") r.p = p;
    rows.set(p.table, r);
  }
  const mig = migration(st);
  $("th-migration").hidden = mig.size === 0;
  const names = [...rows.keys()].sort();
  $("no-tables").hidden = names.length > 0;
  const body = $("tables").tBodies[0];
  const frag = document.createDocumentFragment();
  for (const name of names) {
    const { t = {}, p } = rows.get(name);
    const cb = el("input", { type: "checkbox", checked: selected.has(name), "aria-label": "select " + name });
    cb.addEventListener("change", () => (cb.checked ? selected.add(name) : selected.delete(name)));
    const tr = el("tr", { "data-table": name },
      el("td", {}, cb),
      el("th", { scope: "row", class: "mono" }, name),
      el("td", { class: "num", "data-col": "inserts" }, fmtInt(t.inserts || 0)),
      el("td", { class: "num", "data-col": "updates" }, fmtInt(t.updates || 0)),
      el("td", { class: "num", "data-col": "deletes" }, fmtInt(t.deletes || 0)),
      el("td", { class: "num", "data-col": "reads" }, fmtInt(t.reads || 0)),
      el("td", {}, fmtTime(t.last_change)),
      el("td", {}, snapshotCell(p, st.snapshot_paused)));
    if (mig.size) tr.append(el("td", {}, mig.get(name) || "–"));
    frag.append(tr);
  }
  // keep focus on a checkbox across redraws
  const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("#tables tr");
  const focusName = focused && focused.getAttribute("data-table");
  body.replaceChildren(frag);
  if (focusName) {
    const cb = body.querySelector('tr[data-table="' + CSS.escape(focusName) + '"] input');
    if (cb) cb.focus();
  }
}

function renderOutputs(st) {
  const body = $("outputs").tBodies[0];
  const frag = document.createDocumentFragment();
  for (const o of st.outputs || []) {
    const sign = { ok: "✔", retrying: "▲", failed: "✖" }[o.state] || "?";
    const health = el("div", {}, el("span", { class: "badge o-" + o.state }, sign + " " + o.state));
    if (o.error) health.append(el("div", { class: "reason" }, o.error));
    const sec = st.sections && st.sections[o.name];
    frag.append(el("tr", { "data-output": o.name },
      el("th", { scope: "row", class: "mono" }, o.name),
      el("td", {}, health),
      el("td", { class: "mono" }, o.position || "–"),
      el("td", { class: "num" }, fmtInt(o.messages)),
      el("td", { class: "num" }, fmtBytes(o.bytes)),
      el("td", {}, sec ? details(sec) : "–")));
  }
  body.replaceChildren(frag);
}

function details(sec) {
  const d = el("details", {}, el("summary", {}, "show"));
  d.append(el("pre", {}, JSON.stringify(sec, null, 1)));
  return d;
}

function renderNotices(list) {
  $("no-notices").hidden = list.length > 0;
  const frag = document.createDocumentFragment();
  for (const n of list.slice(0, 20)) {
    frag.append(el("li", { class: "n-" + n.level.toLowerCase() },
      el("time", {}, fmtTime(n.time)), " ", el("b", {}, n.level === "ERROR" ? "✖ ERROR" : "▲ WARN"), " ", n.message));
  }
  $("notices").replaceChildren(frag);
}

// ---- history charts ----

async function pollHistory() {
  try {
    const r = await fetch("/history", { cache: "no-store" });
    if (r.ok) drawHistory(await r.json());
  } catch (e) { /* the status poll reports the outage */ }
  setTimeout(pollHistory, HISTORY_EVERY);
}

function drawHistory(h) {
  const now = Date.now(), span = h.window_seconds * 1000;
  const pts = h.samples.map((s) => ({ x: new Date(s.t).getTime(), lag: s.lag_seconds, eps: s.events_per_second }));
  chart("chart-lag", pts, "lag", now, span, "s");
  chart("chart-eps", pts, "eps", now, span, "events/s");
}

function chart(id, pts, key, now, span, unit) {
  const svg = $(id);
  const vals = pts.filter((p) => p[key] != null);
  const max = Math.max(1, ...vals.map((p) => p[key]));
  const x = (t) => (300 * (t - (now - span))) / span;
  const y = (v) => 98 - (94 * v) / max;
  const ns = "http://www.w3.org/2000/svg";
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", vals.map((p) => x(p.x).toFixed(1) + "," + y(p[key]).toFixed(1)).join(" "));
  line.setAttribute("class", "line");
  const grid = document.createElementNS(ns, "line");
  grid.setAttribute("x1", 0); grid.setAttribute("x2", 300); grid.setAttribute("y1", 4); grid.setAttribute("y2", 4);
  grid.setAttribute("class", "grid");
  svg.replaceChildren(grid, line);
  const cur = vals.length ? vals[vals.length - 1][key] : null;
  const desc = cur == null ? "no data yet" : "now " + cur.toFixed(1) + " " + unit + ", top of scale " + max.toFixed(1) + " " + unit;
  svg.setAttribute("aria-label", svg.getAttribute("aria-label").split(":")[0] + ": " + desc);
  text(id + "-max", "top " + max.toFixed(1) + " " + unit + (cur == null ? "" : " · now " + cur.toFixed(1)));
}

// ---- actions ----

function ask(dialogId, prepare) {
  return new Promise((resolve) => {
    const d = $(dialogId);
    prepare && prepare(d);
    d.returnValue = "";
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.showModal();
  });
}

// confirmAction asks before an action; Cancel has the focus, so a stray
// Enter does nothing.
function confirmAction(msg) {
  return ask("confirm", () => { text("confirm-text", msg); });
}

async function token() {
  let t = sessionStorage.getItem("bintap-token");
  if (t || !tokenRequired) return t || "";
  const ok = await ask("token", () => { $("token-input").value = ""; });
  t = $("token-input").value;
  if (!ok || !t) return null;
  sessionStorage.setItem("bintap-token", t);
  return t;
}

async function send(path, body) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const t = await token();
    if (t === null) return { ok: false, msg: "cancelled: no token given" };
    const headers = { "Content-Type": "application/json" };
    if (t) headers.Authorization = "Bearer " + t;
    let r;
    try {
      r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}) });
    } catch (e) {
      return { ok: false, msg: "bintap is not answering: " + e.message };
    }
    const reply = await r.json().catch(() => ({}));
    if (r.status === 401) {
      sessionStorage.removeItem("bintap-token");
      tokenRequired = true;
      if (attempt === 0) continue; // ask again
    }
    return { ok: r.ok, msg: reply.error || "" };
  }
  return { ok: false, msg: "the token was refused" };
}

function chosenTables() {
  const more = $("more-tables").value.split(",").map((s) => s.trim()).filter(Boolean);
  return [...new Set([...selected, ...more])];
}

async function act(kind) {
  const tables = chosenTables();
  let msg, path, body;
  switch (kind) {
    case "start":
      if (!tables.length) { text("act-result", "Choose tables first: tick them in the table above or type db.table names."); return; }
      msg = "Start an incremental snapshot of " + tables.join(", ") + "?";
      path = "/snapshot"; body = { tables };
      break;
    case "stop":
      msg = tables.length ? "Stop the incremental snapshot of " + tables.join(", ") + "?" : "Stop every incremental snapshot (none is selected)?";
      path = "/snapshot/stop"; body = { tables };
      break;
    default:
      msg = (kind === "pause" ? "Pause" : "Resume") + " incremental snapshots?";
      path = "/snapshot/" + kind; body = {};
  }
  if (!(await confirmAction(msg))) { text("act-result", "Cancelled."); return; }
  const res = await send(path, body);
  const done = { start: "Snapshot queued: " + tables.join(", "), stop: "Stopped.", pause: "Paused.", resume: "Resumed." }[kind];
  text("act-result", res.ok ? "✔ " + done : "✖ Refused: " + res.msg);
  if (res.ok && kind === "start") { selected.clear(); $("more-tables").value = ""; }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const k of ["start", "pause", "resume", "stop"]) $("act-" + k).addEventListener("click", () => act(k));
  for (const b of document.querySelectorAll("dialog [data-close]")) b.addEventListener("click", () => b.closest("dialog").close("cancel"));
  poll();
  pollHistory();
});
