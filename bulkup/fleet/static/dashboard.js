// bulkup dashboard: polls feed.json every second and draws it. Every string from the
// feed (file names, ids, reasons: user data) goes into the page as text, never markup.
"use strict";

const STATES = ["pending", "running", "succeeded", "failed", "skipped"];
const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

function el(tag, props, ...kids) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, String(value));
  }
  for (const kid of kids.flat()) {
    if (kid != null) node.append(kid instanceof Node ? kid : String(kid));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text != null) node.textContent = String(text);
  return node;
}

const num = (n) => (n == null ? "–" : Number(n).toLocaleString("en-US"));

function bytes(n) {
  if (n == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
}

function duration(s) {
  if (s == null || !isFinite(s)) return "–";
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
  if (s < 86400) return Math.floor(s / 3600) + " h " + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + " min";
  return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
}

const clock = (t) => (t == null ? "–" : new Date(t * 1000).toLocaleTimeString("en-GB"));

function bar(parts, total, title) {
  const node = el("div", { class: "bar", title: title });
  for (const [cls, value] of parts) {
    if (!value || !total) continue;
    const span = el("span", { class: cls });
    span.style.width = Math.min(100, (100 * value) / total) + "%";
    node.append(span);
  }
  return node;
}

function table(headers, rows) {
  const head = el("tr", null, headers.map(([text, cls]) => el("th", { class: cls }, text)));
  return el("table", null, el("thead", null, head), el("tbody", null, rows));
}

function fill(id, content, emptyText) {
  const empty = content == null || (Array.isArray(content) && content.length === 0);
  const nodes = empty ? [el("p", { class: "empty" }, emptyText)] : [content].flat();
  $(id).replaceChildren(...nodes);
}

function drawSummary(doc) {
  const tiles = STATES.map((s) =>
    el("div", { class: "tile " + s }, el("div", { class: "n", id: "count-" + s }, num(doc.items[s])),
      el("div", { class: "k" }, s)));
  tiles.push(el("div", { class: "tile workers" }, el("div", { class: "n" }, num(doc.workers.length)),
    el("div", { class: "k" }, "workers alive")));
  $("summary").replaceChildren(...tiles);
}

function drawChart(doc) {
  const tp = doc.throughput;
  const n = tp.items.length, h = 150, left = 34, bottom = 18, top = 8;
  const w = Math.max(300, $("chart").clientWidth || 600);  // drawn at its size: text unstretched
  const maxItems = Math.max(1, ...tp.items), maxBytes = Math.max(1, ...tp.bytes);
  const root = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img",
    "aria-label": "items finished per " + tp.interval + " s" });
  const plotH = h - bottom - top, step = (w - left) / n;
  for (const tick of new Set([0, Math.round(maxItems / 2), maxItems])) {
    const y = top + plotH * (1 - tick / maxItems);
    root.append(svg("line", { class: "grid", x1: left, x2: w, y1: y, y2: y }));
    root.append(svg("text", { class: "axis", x: left - 4, y: y + 4, "text-anchor": "end" }, tick));
  }
  const points = [];
  tp.items.forEach((count, i) => {
    const bh = (plotH * count) / maxItems;
    const rect = svg("rect", { class: "items", x: left + i * step + 1, y: top + plotH - bh,
      width: Math.max(1, step - 2), height: bh });
    rect.append(svg("title", {}, `${count} items, ${bytes(tp.bytes[i])} at ${clock(tp.start + i * tp.interval)}`));
    root.append(rect);
    points.push(`${left + (i + 0.5) * step},${top + plotH * (1 - tp.bytes[i] / maxBytes)}`);
  });
  root.append(svg("polyline", { class: "bytes", points: points.join(" ") }));
  const minutes = Math.round((n * tp.interval) / 60);
  root.append(svg("text", { class: "axis", x: left, y: h - 4 }, `${minutes} min ago`));
  root.append(svg("text", { class: "axis", x: w, y: h - 4, "text-anchor": "end" }, "now"));
  const legend = el("div", { class: "legend" },
    el("span", { class: "sw sw-items" }), `items per ${tp.interval} s`,
    el("span", { class: "sw sw-bytes" }), `bytes (peak ${bytes(maxBytes)} per ${tp.interval} s)`);
  $("chart").replaceChildren(root, legend);
  const last = tp.items.length > 1 ? tp.items.length - 2 : 0;  // the last whole interval
  $("rate").textContent = `${num(tp.items[last])} items, ${bytes(tp.bytes[last])} in the last ${tp.interval} s`;
}

function drawJobs(doc) {
  const rows = doc.jobs.map((job) => {
    const c = job.counts, done = c.succeeded + c.failed + c.skipped;
    const parts = ["succeeded", "failed", "skipped", "running"].map((s) => [s, c[s]]);
    const title = STATES.map((s) => `${s} ${c[s]}`).join(", ");
    return el("tr", { class: "job", "data-job": job.name },
      el("td", { class: "name" }, job.name),
      el("td", null, job.state),
      el("td", null, bar(parts, job.total, title)),
      el("td", { class: "num" }, `${num(done)} / ${num(job.total)}`),
      el("td", { class: "num" }, num(c.running)),
      el("td", { class: "num" }, num(c.failed)),
      el("td", { class: "num" }, bytes(job.bytes)),
      el("td", { class: "num" }, job.rate ? (job.rate * 60).toFixed(job.rate < 1 ? 1 : 0) + "/min" : "–"),
      el("td", { class: "num" }, job.eta_secs == null ? (job.state === "finished" ? "done" : "–") : duration(job.eta_secs)),
      el("td", { class: "num" }, clock(job.created)));
  });
  fill("jobs", rows.length ? table([["job"], ["state"], ["progress"], ["done", "num"], ["running", "num"],
    ["failed", "num"], ["bytes", "num"], ["rate", "num"], ["ETA", "num"], ["created", "num"]], rows) : null,
  "No jobs yet.");
}

function drawWorkers(doc) {
  const lapsed = doc.lapsed_workers ? `, ${doc.lapsed_workers} lapsed` : "";
  $("workers-count").textContent = `${doc.workers.length} alive${lapsed}`;
  const nodes = doc.workers.map((w) => {
    const items = w.items.map((it) => el("li", { class: "upload" },
      el("span", { class: "path", title: `${it.path} (${it.job} ${it.id})` },
        (it.path || it.id).split("/").pop()),
      el("span", { class: "stage" }, it.stage),
      bar([["acked", it.acked_bytes]], it.size, `${bytes(it.acked_bytes)} of ${bytes(it.size)}`)));
    return el("div", { class: "worker", "data-worker": w.id },
      el("div", { class: "head" },
        el("span", { class: "name" }, w.id),
        el("span", { class: "muted" }, `${w.host} · pid ${w.pid} · ${num(w.done)} done`),
        el("span", { class: "muted beat" }, `heartbeat ${duration(w.alive_until - doc.at)} left`)),
      items.length ? el("ul", { class: "items" }, items) : el("div", { class: "muted" }, "idle"));
  });
  fill("workers", nodes.length ? nodes : null, "No worker alive.");
}

function drawBudgets(doc) {
  const groups = new Map();
  for (const b of doc.budgets) {
    const key = (b.scope === "app" ? "app " : "account ") + b.who;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(b);
  }
  const rows = [];
  for (const [who, list] of groups) {
    rows.push(el("tr", { class: "group" }, el("th", { colspan: 5, class: "who", title: who }, who)));
    for (const b of list) {
      const left = b.remaining ?? 0, limit = b.limit ?? 0, used = Math.max(0, limit - left);
      const cls = !limit ? "ok" : left <= 0 ? "empty-budget" : left < limit * 0.2 ? "low" : "ok";
      const resets = b.held_until ? `held ${duration(b.held_until - doc.at)} (Retry-After)`
        : b.reset ? duration(b.reset - doc.at) : "new window";
      rows.push(el("tr", { class: "budget" },
        el("td", null, b.endpoint), el("td", { class: "muted" }, b.window),
        el("td", null, bar([[cls, used], ["inflight", b.in_flight]], limit,
          `${num(used)} used, ${num(b.in_flight)} in flight, of ${num(limit)}`)),
        el("td", { class: "num" }, `${num(b.remaining)} / ${num(b.limit)}`),
        el("td", { class: "num muted" }, resets)));
    }
  }
  const nodes = rows.length ? table([["endpoint"], ["window"], ["used (striped: in flight)"],
    ["left / limit", "num"], ["resets in", "num"]], rows) : null;
  fill("budgets", nodes, "No budget in use.");
}

function drawSessions(doc) {
  const rows = doc.sessions.map((s) => el("tr", null,
    el("td", { class: "name" }, s.id), el("td", { class: "muted" }, s.job),
    el("td", { class: "num" + (s.secs_left < 600 ? " soon" : "") }, duration(s.secs_left))));
  fill("sessions", rows.length ? table([["item"], ["job"], ["expires in", "num"]], rows) : null,
    "No upload session open.");
}

function drawFailures(doc) {
  const rows = doc.failures.map((f) => el("tr", { class: "failure" },
    el("td", { class: "muted nowrap" }, clock(f.at)), el("td", { class: "nowrap" }, f.job),
    el("td", { class: "name nowrap" }, f.id), el("td", { class: "path" }, f.path),
    el("td", { class: "reason", title: f.kind }, f.reason || f.kind)));
  fill("failures", rows.length ? table([["at"], ["job"], ["item"], ["file"], ["reason"]], rows) : null,
    "No failure.");
}

function problem(text) {
  const node = $("problem");
  node.hidden = !text;
  node.textContent = text || "";
  $("main").classList.toggle("stale", Boolean(text));
  const status = $("status");
  status.className = "status " + (text ? "down" : "live");
}

function draw(doc) {
  if (doc.queue) $("queue").textContent = doc.queue;
  if (!doc.ok) {
    problem(doc.error || "the queue's Redis does not answer");
    $("status").textContent = "Redis down since " + clock(Date.now() / 1000);
    return;
  }
  problem(null);
  $("status").textContent = "live · " + clock(doc.at);
  for (const part of [drawSummary, drawChart, drawJobs, drawWorkers, drawBudgets, drawSessions, drawFailures]) {
    try { part(doc); } catch (err) { console.error(part.name, err); }
  }
}

let downSince = null;
async function poll() {
  try {
    const answer = await fetch("feed.json", { cache: "no-store" });
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    const doc = await answer.json();
    if (doc.ok) downSince = null; else downSince = downSince || Date.now() / 1000;
    draw(doc);
    if (!doc.ok) $("status").textContent = "Redis down since " + clock(downSince);
  } catch (err) {
    problem("The dashboard does not answer (" + err.message + "): is `bulkup dashboard` running?");
    $("status").textContent = "dashboard unreachable";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
