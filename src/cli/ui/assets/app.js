// shoal ui: the page over the JSON of /api/tables, /api/table?t=db.table and
// /api/latest?t=db.table. Plain JavaScript, no libraries; charts are inline SVG built here.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const POLL_MS = 2000;
const LEVEL_COLOURS = ["#7fb3e6", "#5f9fd9", "#4c8bc9", "#3d77b3", "#2f6399", "#254f7c", "#1d3f63", "#17324d"];

const state = { table: null, latest: undefined, data: null, polls: 0, loading: false };

// ---- small helpers ----------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "text") e.textContent = v;
    else if (k === "tip") e.dataset.tip = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "text") e.textContent = v;
    else if (k === "tip") e.dataset.tip = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c) e.append(c);
  return e;
}

function fmtNum(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
}

function fmtBytes(b) {
  if (b === null || b === undefined) return "–";
  if (b >= 1e9) return (b / 1e9).toFixed(1) + " GB";
  if (b >= 1e6) return (b / 1e6).toFixed(1) + " MB";
  if (b >= 1e3) return (b / 1e3).toFixed(1) + " kB";
  return b + " B";
}

function fmtTime(ms) {
  if (ms === null || ms === undefined) return "–";
  return new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC");
}

function fmtShortTime(ms) {
  return new Date(ms).toISOString().slice(5, 19).replace("T", " ");
}

function fmtAgo(ms) {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 129600) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

function fmtDuration(sec) {
  if (sec === null || sec === undefined) return "";
  for (const [u, n] of [["d", 86400], ["h", 3600], ["min", 60]]) if (sec >= n && sec % n === 0) return sec / n + " " + u;
  return sec + " s";
}

function truncate(s, n) {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

async function getJson(url) {
  const r = await fetch(url, { cache: "no-store" });
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function widthOf(node, fallback) {
  return Math.max(480, Math.floor((node.clientWidth || fallback) - 4));
}

// ---- tooltip ------------------------------------------------------------------------------

const tooltip = document.getElementById("tooltip");
document.addEventListener("mousemove", (ev) => {
  const t = ev.target.closest && ev.target.closest("[data-tip]");
  if (!t) {
    tooltip.hidden = true;
    return;
  }
  tooltip.textContent = t.dataset.tip;
  tooltip.hidden = false;
  const x = Math.min(ev.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
  const y = ev.clientY + 16 + tooltip.offsetHeight > window.innerHeight ? ev.clientY - tooltip.offsetHeight - 10 : ev.clientY + 16;
  tooltip.style.left = x + "px";
  tooltip.style.top = y + "px";
});

// ---- the list of tables -------------------------------------------------------------------

async function loadTables() {
  const nav = document.getElementById("tables");
  let data;
  try {
    data = await getJson("/api/tables");
  } catch (e) {
    nav.replaceChildren(el("p", { class: "error", text: "cannot list the warehouse: " + e.message }));
    return null;
  }
  document.getElementById("warehouse").textContent = data.warehouse;
  const items = [];
  for (const db of data.databases) {
    items.push(el("h3", { text: db.name }));
    if (!db.tables.length) items.push(el("p", { class: "muted", text: "no tables" }));
    for (const t of db.tables) {
      const a = el(
        "a",
        { href: "#" + t.full_name, "data-table": t.full_name, class: t.full_name === state.table ? "current" : null },
        el("span", { text: t.name }),
        el("span", { class: "snap", text: t.latest_snapshot === null ? "empty" : "#" + t.latest_snapshot }),
      );
      items.push(a);
    }
  }
  if (!data.databases.length) items.push(el("p", { class: "muted", text: "The warehouse has no databases yet." }));
  nav.replaceChildren(...items);
  return data;
}

// ---- one table ----------------------------------------------------------------------------

async function loadTable(name, quiet) {
  if (state.loading) return;
  state.loading = true;
  const main = document.getElementById("main");
  try {
    const data = await getJson("/api/table?t=" + encodeURIComponent(name));
    if (name !== state.table) return; // the user moved on meanwhile
    state.data = data;
    state.latest = data.latest_snapshot;
    renderTable(main, data);
  } catch (e) {
    if (!quiet) main.replaceChildren(el("h1", { text: name }), el("p", { class: "error", text: e.message }));
  } finally {
    state.loading = false;
  }
}

function renderTable(main, d) {
  const schema = d.schema;
  const last = d.timeline.length ? d.timeline[d.timeline.length - 1] : null;
  const files = d.buckets.reduce((n, b) => n + b.file_count, 0);
  const bytes = d.buckets.reduce((n, b) => n + b.bytes, 0);
  const kind = schema.primaryKeys.length ? "primary key (" + schema.primaryKeys.join(", ") + ")" : "append table";
  const bucketOpt = schema.options.bucket || "-1";
  const facts = el(
    "div",
    { class: "facts" },
    fact("latest snapshot", d.latest_snapshot === null ? "none" : "#" + d.latest_snapshot),
    fact("snapshots kept", fmtNum(d.snapshot_count)),
    fact("rows", last ? fmtNum(last.total_rows) : "0"),
    fact("live files", fmtNum(files)),
    fact("size", fmtBytes(bytes)),
    fact("buckets", bucketOpt === "-1" ? "dynamic/unaware" : bucketOpt),
    fact("last commit", last ? fmtAgo(last.time_millis) : "–"),
  );
  main.replaceChildren(
    el("h1", { id: "table-name", text: d.name }),
    el("div", { class: "muted" }, kind, " · ", el("span", { class: "location", text: d.location })),
    facts,
    section("Snapshots", "timeline", (s) => drawTimeline(s, d.timeline, d.snapshot_count)),
    section("LSM shape per bucket", "lsm", (s) => drawLsm(s, d.lsm)),
    section("Files per partition and bucket", "files", (s) => drawFiles(s, d.buckets, d.files_snapshot)),
    el(
      "div",
      { class: "grid" },
      section("Consumers", "consumers", (s) => drawConsumers(s, d.consumers, d.latest_snapshot)),
      section("Tags", "tags", (s) => drawTags(s, d.tags)),
      section("Branches", "branches", (s) => drawBranches(s, d.branches)),
    ),
    el(
      "div",
      { class: "grid" },
      section("Schema", "schema", (s) => drawSchema(s, schema)),
      section("Options", "options", (s) => drawOptions(s, schema.options)),
    ),
  );
  // Charts size themselves to their section, so they are drawn once the sections are placed.
  for (const s of main.querySelectorAll("section")) s._draw(s);
}

function fact(label, value) {
  return el("div", { class: "fact" }, el("span", { class: "muted", text: label }), el("b", { text: value }));
}

function section(title, id, draw) {
  const s = el("section", { id }, el("h2", { text: title }));
  s._draw = draw;
  return s;
}

// ---- the snapshot timeline ----------------------------------------------------------------

function drawTimeline(sec, timeline, count) {
  if (!timeline.length) {
    sec.append(el("p", { class: "muted", text: "No snapshots yet." }));
    return;
  }
  if (count > timeline.length) sec.append(el("p", { class: "muted", text: `The newest ${timeline.length} of ${count} snapshots.` }));
  sec.append(
    el(
      "div",
      { class: "legend" },
      el("span", {}, el("i", { class: "added" }), "rows written (inserts, updates)"),
      el("span", {}, el("i", { class: "deleted" }), "rows deleted (retractions, overwritten)"),
      el("span", {}, el("i", { class: "compact" }), "compaction / other commit (no logical change)"),
      el("span", {}, el("i", { class: "total" }), "total rows (right axis)"),
    ),
  );
  const W = widthOf(sec, 1000);
  const H = 230;
  const M = { l: 64, r: 70, t: 12, b: 40 };
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
  const n = timeline.length;
  const slot = pw / n;
  const up = Math.max(1, ...timeline.map((s) => s.rows_added || 0));
  const down = Math.max(0, ...timeline.map((s) => s.rows_deleted || 0));
  const zero = M.t + (ph * up) / (up + down);
  const scale = ph / (up + down);
  const maxTotal = Math.max(1, ...timeline.map((s) => s.total_rows || 0));
  const g = svg("svg", { width: W, height: H, class: "timeline-chart", role: "img", "aria-label": "snapshot timeline" });
  // Grid and left axis: rows per snapshot.
  for (const v of niceTicks(0, up, 4)) {
    const y = zero - v * scale;
    g.append(svg("line", { x1: M.l, x2: M.l + pw, y1: y, y2: y, class: "grid-line" }));
    g.append(svg("text", { x: M.l - 6, y: y + 4, "text-anchor": "end", text: shortNum(v) }));
  }
  if (down > 0) {
    for (const v of niceTicks(0, down, 2).slice(1)) {
      const y = zero + v * scale;
      if (y - zero < 14) continue; // too close to the zero line to be read
      g.append(svg("line", { x1: M.l, x2: M.l + pw, y1: y, y2: y, class: "grid-line" }));
      g.append(svg("text", { x: M.l - 6, y: y + 4, "text-anchor": "end", text: "−" + shortNum(v) }));
    }
  }
  // Right axis: total rows.
  for (const v of niceTicks(0, maxTotal, 4)) {
    const y = M.t + ph - (v / maxTotal) * ph;
    if (y >= M.t - 1) g.append(svg("text", { x: M.l + pw + 6, y: y + 4, fill: "#2f6fb3", text: shortNum(v) }));
  }
  g.append(svg("text", { x: 4, y: M.t + 8, text: "rows" }));
  const bw = Math.max(1, Math.min(28, slot * 0.7));
  const points = [];
  timeline.forEach((s, i) => {
    const cx = M.l + slot * (i + 0.5);
    const tip =
      `snapshot ${s.id} · ${s.kind}\n${fmtTime(s.time_millis)}\n` +
      (s.kind === "COMPACT"
        ? `compaction: ${fmtNum(s.files_deleted)} files (${fmtNum(s.rows_rewritten)} rows) rewritten into ${fmtNum(s.files_added)} files\n`
        : `+${fmtNum(s.rows_added)} rows written, −${fmtNum(s.rows_deleted)} deleted\n` +
          `files +${fmtNum(s.files_added)} −${fmtNum(s.files_deleted)}\n`) +
      `total ${fmtNum(s.total_rows)} rows · schema ${s.schema_id}\ncommit user ${s.commit_user}`;
    const group = svg("g", { class: "snap", "data-snapshot": s.id, "data-kind": s.kind, tip });
    group.append(svg("rect", { x: M.l + slot * i, y: M.t, width: slot, height: ph, class: "hit" }));
    const added = s.rows_added || 0;
    const deleted = s.rows_deleted || 0;
    if (added > 0) group.append(svg("rect", { x: cx - bw / 2, y: zero - added * scale, width: bw, height: Math.max(2, added * scale), fill: "#2e9e62", class: "bar-added" }));
    if (deleted > 0) group.append(svg("rect", { x: cx - bw / 2, y: zero, width: bw, height: Math.max(3, deleted * scale), fill: "#d1453b", class: "bar-deleted" }));
    if (added === 0 && deleted === 0) {
      const r = Math.max(2.5, Math.min(6, bw / 2));
      group.append(svg("path", { d: `M${cx} ${zero - r}L${cx + r} ${zero}L${cx} ${zero + r}L${cx - r} ${zero}Z`, fill: "#8b949e", class: "mark-compact" }));
    }
    g.append(group);
    if (s.total_rows !== null && s.total_rows !== undefined) points.push([cx, M.t + ph - (s.total_rows / maxTotal) * ph]);
  });
  g.append(svg("line", { x1: M.l, x2: M.l + pw, y1: zero, y2: zero, class: "axis" }));
  if (points.length > 1) {
    g.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#2f6fb3", "stroke-width": 1.6, "pointer-events": "none" }));
  }
  for (const p of points.length <= 60 ? points : []) g.append(svg("circle", { cx: p[0], cy: p[1], r: 2.2, fill: "#2f6fb3", "pointer-events": "none" }));
  // X axis: snapshot ids, and the commit time under a few of them.
  const every = Math.max(1, Math.ceil(n / Math.floor(pw / 90)));
  timeline.forEach((s, i) => {
    if (i % every && i !== n - 1) return;
    if (i !== n - 1 && n - 1 - i < every / 2) return;
    const cx = M.l + slot * (i + 0.5);
    g.append(svg("text", { x: cx, y: H - M.b + 16, "text-anchor": "middle", text: "#" + s.id }));
    g.append(svg("text", { x: cx, y: H - M.b + 30, "text-anchor": "middle", text: fmtShortTime(s.time_millis) }));
  });
  sec.append(g);
}

function shortNum(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return +(v / 1e9).toFixed(2) + "G";
  if (a >= 1e6) return +(v / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return +(v / 1e3).toFixed(1) + "k";
  return String(+v.toFixed(3));
}

/** Round tick values covering [lo, hi]. */
function niceTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

// ---- the LSM shape ------------------------------------------------------------------------

const MAX_BUCKETS = 24;

function drawLsm(sec, lsm) {
  if (lsm.note) {
    sec.append(el("p", { class: "muted", text: lsm.note }));
    return;
  }
  if (!lsm.buckets.length) {
    sec.append(el("p", { class: "muted", text: "The table has no data files." }));
    return;
  }
  sec.append(
    el(
      "p",
      { class: "muted" },
      "One row per sorted run (each level-0 file is a run of its own, newest first; then each level). " +
        "Each bar is a file spanning its key range on the key axis; hover for level, size and rows, and to see which files of other runs it overlaps (what a read merges).",
    ),
    el("div", { class: "legend" }, ...LEVEL_COLOURS.slice(0, 6).map((c, i) => el("span", {}, colourBox(c), "level " + i)), el("span", {}, el("i", { class: "overlap" }), "overlaps another run")),
  );
  const W = widthOf(sec, 1000);
  for (const b of lsm.buckets.slice(0, MAX_BUCKETS)) sec.append(drawBucket(b, lsm.key_fields, W));
  if (lsm.buckets.length > MAX_BUCKETS) sec.append(el("p", { class: "muted", text: `…and ${lsm.buckets.length - MAX_BUCKETS} more buckets (see the files section).` }));
}

function colourBox(c) {
  const i = el("i");
  i.style.background = c;
  return i;
}

/** Where a key sits on the bucket's axis, 0..1. */
function keyPosition(axis, key) {
  if (axis.kind === "linear") return axis.max > axis.min ? (key.num - axis.min) / (axis.max - axis.min) : 0.5;
  const n = axis.samples.length;
  return n > 1 ? key.rank / (n - 1) : 0.5;
}

function keyCoord(axis, key) {
  return axis.kind === "linear" ? key.num : key.rank;
}

function formatKey(axis, v) {
  switch (axis.format) {
    case "date":
      return new Date(v * 86400000).toISOString().slice(0, 10);
    case "timestamp":
      return new Date(v).toISOString().slice(0, 19).replace("T", " ");
    case "time":
      return new Date(v).toISOString().slice(11, 19);
    default:
      return shortNum(v);
  }
}

function drawBucket(b, keyFields, W) {
  const axis = b.axis;
  const runs = b.runs;
  const ROW = 24;
  const M = { l: 74, r: 24, t: 24, b: 40 };
  const pw = W - M.l - M.r;
  const H = M.t + ROW * runs.length + M.b;
  const files = runs.reduce((n, r) => n + r.files.length, 0);
  const g = svg("svg", { width: W, height: H, class: "lsm-chart", "data-bucket": b.path, role: "img", "aria-label": "LSM shape of " + b.path });
  g.append(
    svg("text", {
      x: 0,
      y: 14,
      class: "title",
      text: `${b.path} — ${runs.length} sorted runs, ${files} files, ${fmtBytes(b.bytes)}, ${b.overlapping_pairs} overlapping file pairs`,
    }),
  );
  const x = (key) => M.l + pw * Math.min(1, Math.max(0, keyPosition(axis, key)));
  // Ticks.
  const ticks = [];
  if (axis.kind === "linear") {
    if (axis.max > axis.min) for (const v of niceTicks(axis.min, axis.max, Math.max(2, Math.floor(pw / 110)))) ticks.push([M.l + (pw * (v - axis.min)) / (axis.max - axis.min), formatKey(axis, v)]);
    else ticks.push([M.l + pw / 2, formatKey(axis, axis.min)]);
  } else {
    const n = axis.samples.length;
    const want = Math.max(2, Math.min(n, Math.floor(pw / 110)));
    for (let k = 0; k < want; k++) {
      const i = n > 1 ? Math.round((k * (n - 1)) / (want - 1)) : 0;
      ticks.push([M.l + (n > 1 ? (pw * i) / (n - 1) : pw / 2), truncate(axis.samples[i], 16)]);
    }
  }
  const bottom = M.t + ROW * runs.length;
  for (const [tx, label] of ticks) {
    g.append(svg("line", { x1: tx, x2: tx, y1: M.t, y2: bottom + 4, class: "grid-line" }));
    // Labels at the ends of the axis stay inside the chart.
    const anchor = tx - M.l < 50 ? "start" : M.l + pw - tx < 50 ? "end" : "middle";
    g.append(svg("text", { x: tx, y: bottom + 16, "text-anchor": anchor, class: "tick", text: label }));
  }
  g.append(svg("line", { x1: M.l, x2: M.l + pw, y1: bottom, y2: bottom, class: "axis" }));
  const what = axis.kind === "linear" ? "linear" : "sorted distinct file bounds, evenly spaced (an order, not a distance)";
  g.append(svg("text", { x: M.l, y: bottom + 32, text: `key (${keyFields.join(", ")}) — ${what}` }));
  const rects = [];
  runs.forEach((run, ri) => {
    const y = M.t + ROW * ri;
    const l0 = run.level === 0 && runs.filter((r) => r.level === 0).length > 1;
    g.append(svg("text", { x: 0, y: y + ROW * 0.66, text: `level ${run.level}` + (l0 ? " run" : ""), tip: `level ${run.level}: ${run.files.length} files, ${fmtNum(run.rows)} rows, ${fmtBytes(run.bytes)}` }));
    g.append(svg("line", { x1: M.l, x2: M.l + pw, y1: y + ROW / 2, y2: y + ROW / 2, class: "grid-line" }));
    for (const f of run.files) {
      const x0 = x(f.min);
      const x1 = x(f.max);
      const tip =
        `${f.name}\nlevel ${run.level} · ${fmtNum(f.rows)} rows · ${fmtBytes(f.bytes)}` +
        (f.deletes ? ` · ${fmtNum(f.deletes)} retractions` : "") +
        `\nkeys [${f.min.text} .. ${f.max.text}]\noverlaps ${f.overlaps} files of other runs`;
      const r = svg("rect", {
        x: Math.min(x0, M.l + pw - 3),
        y: y + 4,
        width: Math.max(3, x1 - x0),
        height: ROW - 8,
        rx: 2,
        fill: LEVEL_COLOURS[Math.min(run.level, LEVEL_COLOURS.length - 1)],
        class: "file" + (f.overlaps ? " overlapping" : ""),
        "data-level": run.level,
        "data-rows": f.rows,
        "data-bytes": f.bytes,
        tip,
      });
      r._span = [keyCoord(axis, f.min), keyCoord(axis, f.max)];
      r._run = ri;
      rects.push(r);
      g.append(r);
    }
  });
  // Hovering a file dims the files its key range does not touch.
  g.addEventListener("mouseover", (ev) => {
    const t = ev.target;
    if (!t._span) return;
    for (const r of rects) {
      const touches = r._span[0] <= t._span[1] && t._span[0] <= r._span[1];
      r.classList.toggle("dim", !touches);
      r.classList.toggle("focus", r === t);
    }
  });
  g.addEventListener("mouseleave", () => rects.forEach((r) => r.classList.remove("dim", "focus")));
  return el("div", { class: "bucket" }, g);
}

// ---- files, consumers, tags, branches, schema ---------------------------------------------

function drawFiles(sec, buckets, snapshot) {
  if (!buckets.length) {
    sec.append(el("p", { class: "muted", text: "No live data files." }));
    return;
  }
  if (snapshot !== null) sec.append(el("p", { class: "muted", text: `Live files at snapshot ${snapshot}.` }));
  const maxBytes = Math.max(1, ...buckets.map((b) => b.bytes));
  const rows = buckets.map((b) => {
    const levels = {};
    for (const f of b.files) levels[f.level] = (levels[f.level] || 0) + 1;
    const bar = el("div", { class: "bar" }, el("div"));
    bar.firstChild.style.width = ((100 * b.bytes) / maxBytes).toFixed(1) + "%";
    const list = el(
      "details",
      {},
      el("summary", { class: "mono", text: b.path }),
      el(
        "table",
        {},
        el("tr", {}, el("th", { text: "file" }), el("th", { class: "num", text: "level" }), el("th", { class: "num", text: "rows" }), el("th", { class: "num", text: "retractions" }), el("th", { class: "num", text: "size" })),
        b.files.map((f) => el("tr", {}, el("td", { class: "mono", text: f.name }), el("td", { class: "num", text: f.level }), el("td", { class: "num", text: fmtNum(f.rows) }), el("td", { class: "num", text: fmtNum(f.deletes) }), el("td", { class: "num", text: fmtBytes(f.bytes) }))),
      ),
    );
    return el(
      "tr",
      { class: "bucket-row" },
      el("td", {}, list),
      el("td", { class: "num", text: fmtNum(b.file_count) }),
      el("td", { class: "mono", text: Object.entries(levels).map(([l, n]) => `L${l}×${n}`).join(" ") }),
      el("td", { class: "num", text: fmtNum(b.rows) }),
      el("td", { class: "num", text: fmtBytes(b.bytes) }),
      el("td", {}, bar),
    );
  });
  sec.append(
    el(
      "table",
      {},
      el("tr", {}, el("th", { text: "partition/bucket" }), el("th", { class: "num", text: "files" }), el("th", { text: "levels" }), el("th", { class: "num", text: "rows" }), el("th", { class: "num", text: "size" }), el("th", { text: "" })),
      rows,
    ),
  );
}

function drawConsumers(sec, consumers, latest) {
  if (!consumers.length) {
    sec.append(el("p", { class: "muted", text: "No consumers (readers such as shoal tail --consumer-id keep one)." }));
    return;
  }
  const maxBehind = Math.max(1, ...consumers.map((c) => c.snapshots_behind || 0));
  sec.append(
    el(
      "table",
      {},
      el("tr", {}, el("th", { text: "consumer" }), el("th", { class: "num", text: "next snapshot" }), el("th", { class: "num", text: "behind" }), el("th", { text: "" }), el("th", { text: "updated" })),
      consumers.map((c) => {
        const bar = el("div", { class: "bar lag" }, el("div"));
        bar.firstChild.style.width = ((100 * (c.snapshots_behind || 0)) / maxBehind).toFixed(1) + "%";
        const behind = c.snapshots_behind === null ? "–" : c.snapshots_behind === 0 ? "caught up" : `${fmtNum(c.snapshots_behind)} snapshots`;
        return el(
          "tr",
          { class: "consumer", tip: `consumer ${c.id} reads snapshot ${c.next_snapshot} next; the latest is ${latest}` },
          el("td", { class: "mono", text: c.id }),
          el("td", { class: "num", text: c.next_snapshot }),
          el("td", { class: "num", text: behind }),
          el("td", {}, bar),
          el("td", { text: c.last_update_millis ? fmtAgo(c.last_update_millis) : "–" }),
        );
      }),
    ),
  );
}

function drawTags(sec, tags) {
  if (!tags.length) {
    sec.append(el("p", { class: "muted", text: "No tags." }));
    return;
  }
  sec.append(
    el(
      "table",
      {},
      el("tr", {}, el("th", { text: "tag" }), el("th", { class: "num", text: "snapshot" }), el("th", { class: "num", text: "rows" }), el("th", { text: "created" }), el("th", { text: "retained" })),
      tags.map((t) =>
        el(
          "tr",
          { class: "tag", tip: `snapshot ${t.snapshot} committed ${fmtTime(t.snapshot_time_millis)}` },
          el("td", { class: "mono", text: t.name }),
          el("td", { class: "num", text: t.snapshot }),
          el("td", { class: "num", text: fmtNum(t.total_rows) }),
          el("td", { text: t.created || "–" }),
          el("td", { text: fmtDuration(t.retained_seconds) || "until deleted" }),
        ),
      ),
    ),
  );
}

function drawBranches(sec, branches) {
  if (!branches.length) {
    sec.append(el("p", { class: "muted", text: "No branches (branch/branch-<name>/ directories)." }));
    return;
  }
  sec.append(
    el(
      "table",
      {},
      el("tr", {}, el("th", { text: "branch" }), el("th", { class: "num", text: "snapshots" }), el("th", { class: "num", text: "latest" }), el("th", { text: "tags" })),
      branches.map((b) => el("tr", { class: "branch" }, el("td", { class: "mono", text: b.name }), el("td", { class: "num", text: b.snapshot_count }), el("td", { class: "num", text: b.latest_snapshot ?? "–" }), el("td", { text: b.tags.join(", ") || "–" }))),
    ),
  );
}

function typeText(t) {
  return typeof t === "string" ? t : JSON.stringify(t);
}

function drawSchema(sec, schema) {
  sec.append(
    el("p", { class: "muted", text: `schema ${schema.id}` + (schema.comment ? " · " + schema.comment : "") }),
    el(
      "table",
      {},
      el("tr", {}, el("th", { class: "num", text: "id" }), el("th", { text: "column" }), el("th", { text: "type" })),
      schema.fields.map((f) =>
        el(
          "tr",
          { class: "field" },
          el("td", { class: "num muted", text: f.id }),
          el(
            "td",
            {},
            el("span", { class: "mono", text: f.name }),
            schema.primaryKeys.includes(f.name) ? el("span", { class: "badge", text: "primary key" }) : null,
            schema.partitionKeys.includes(f.name) ? el("span", { class: "badge part", text: "partition" }) : null,
          ),
          el("td", { class: "mono", text: typeText(f.type) }),
        ),
      ),
    ),
  );
}

function drawOptions(sec, options) {
  const entries = Object.entries(options);
  if (!entries.length) {
    sec.append(el("p", { class: "muted", text: "No options: Paimon's defaults apply." }));
    return;
  }
  sec.append(el("table", {}, entries.map(([k, v]) => el("tr", { class: "option" }, el("td", { class: "mono", text: k }), el("td", { class: "mono", text: v })))));
}

// ---- navigation and polling ---------------------------------------------------------------

function currentFromHash() {
  const h = decodeURIComponent(location.hash.replace(/^#/, ""));
  return h || null;
}

async function show() {
  state.table = currentFromHash();
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("current", a.dataset.table === state.table);
  const main = document.getElementById("main");
  if (!state.table) {
    const first = document.querySelector("nav a");
    main.replaceChildren(el("h1", { text: "Warehouse" }), el("p", { class: "muted", text: first ? "Pick a table on the left." : "No tables yet: create one with shoal create or shoal demo." }));
    return;
  }
  main.replaceChildren(el("h1", { text: state.table }), el("p", { class: "muted", text: "Loading…" }));
  state.latest = undefined;
  await loadTable(state.table);
}

async function poll() {
  state.polls += 1;
  const status = document.getElementById("status");
  try {
    if (state.table && state.latest !== undefined) {
      const r = await getJson("/api/latest?t=" + encodeURIComponent(state.table));
      if (r.latest_snapshot !== state.latest) {
        status.textContent = `snapshot ${r.latest_snapshot} committed: reloading`;
        status.className = "changed";
        await loadTable(state.table, true);
        await loadTables();
      } else {
        status.textContent = "live · checked " + new Date().toLocaleTimeString();
        status.className = "muted";
      }
    } else if (state.polls % 5 === 0) {
      await loadTables();
    }
  } catch (e) {
    status.textContent = "cannot reach shoal ui: " + e.message;
    status.className = "error";
  }
  setTimeout(poll, POLL_MS);
}

window.addEventListener("hashchange", show);
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => state.data && state.data.name === state.table && renderTable(document.getElementById("main"), state.data), 200);
});

(async () => {
  await loadTables();
  await show();
  setTimeout(poll, POLL_MS);
})();
