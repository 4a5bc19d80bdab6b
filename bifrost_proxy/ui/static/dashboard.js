// bifrost-proxy dashboard: one EventSource (GET events), uPlot charts, plain DOM for the rest.
// Everything the gateway sends is metadata; it is still put in the page as text only (textContent), never as
// markup, because routes and model names come from clients.
"use strict";

(() => {
  const WINDOW = 900; // seconds of chart history, as the gateway keeps
  const PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
  const $ = (id) => document.getElementById(id);

  const state = {
    series: null,   // columns: t, requests, client_errors, server_errors, tokens_in, tokens_out, streams, latency
    providers: [],  // names in chart order
    rows: [],       // newest first
    capacity: 2000,
    filters: { provider: "", status: "", key: "" },
    seenProviders: new Set(),
    seenKeys: new Set(),
    charts: {},
    pendingRows: [],
    frame: 0,
  };

  // ---------- helpers ----------
  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  function clock(seconds) {
    const d = new Date(seconds * 1000);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function clockMs(seconds) {
    return `${clock(seconds)}.${pad(Math.floor((seconds * 1000) % 1000), 3)}`;
  }
  function num(value, digits = 0) {
    if (value === null || value === undefined) return "–";
    return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
  }
  function usd(value) {
    if (value === null || value === undefined) return "–";
    return value < 0.01 ? value.toFixed(6) : value.toFixed(4);
  }
  function color(provider) {
    const index = state.providers.indexOf(provider);
    return PALETTE[(index < 0 ? 0 : index) % PALETTE.length];
  }

  // ---------- charts ----------
  function chartWidth(figure) {
    return Math.max(280, figure.clientWidth - 16);
  }

  function makeChart(id, series, data) {
    const figure = $(id);
    const old = state.charts[id];
    if (old) old.destroy();
    const opts = {
      width: chartWidth(figure),
      height: 170,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ stroke: "#64748b", grid: { stroke: "#e2e8f0" } },
             { stroke: "#64748b", grid: { stroke: "#e2e8f0" }, size: 56 }],
      series: [{}, ...series],
    };
    const chart = new uPlot(opts, data, figure);
    state.charts[id] = chart;
    return chart;
  }

  function line(label, stroke, extra = {}) {
    return { label, stroke, width: 1.5, points: { show: false }, ...extra };
  }

  // a count per second holds for that whole second: draw it as steps, not as slopes between seconds
  function steps(label, stroke, extra = {}) {
    return line(label, stroke, { paths: uPlot.paths.stepped({ align: 1 }), ...extra });
  }

  function latencyColumns(field50, field95) {
    const s = state.series;
    const columns = [s.t];
    for (const p of state.providers) {
      const lat = s.latency[p];
      columns.push(lat[field50], lat[field95]);
    }
    return columns;
  }

  function latencySeries() {
    const series = [];
    // seconds without traffic have no latency: join the seconds that had some, and let uPlot show the
    // points themselves while there are few of them
    for (const p of state.providers) {
      series.push(line(`${p} p50`, color(p), { spanGaps: true, points: {} }));
      series.push(line(`${p} p95`, color(p), { spanGaps: true, points: {}, dash: [6, 4] }));
    }
    return series;
  }

  function buildCharts() {
    const s = state.series;
    makeChart("chart-requests", [steps("requests/s", "#2563eb", { fill: "rgba(37,99,235,0.08)" }),
                                 steps("4xx/s", "#d97706"), steps("5xx/s", "#dc2626")],
              [s.t, s.requests, s.client_errors, s.server_errors]);
    makeChart("chart-latency", latencySeries(), latencyColumns("p50", "p95"));
    makeChart("chart-ttfb", latencySeries(), latencyColumns("ttfb_p50", "ttfb_p95"));
    makeChart("chart-streams", [steps("streams", "#7c3aed", { fill: "rgba(124,58,237,0.08)" })], [s.t, s.streams]);
    makeChart("chart-tokens", [steps("input tokens/s", "#059669"), steps("output tokens/s", "#0891b2")],
              [s.t, s.tokens_in, s.tokens_out]);
  }

  function updateCharts() {
    const s = state.series;
    state.charts["chart-requests"].setData([s.t, s.requests, s.client_errors, s.server_errors]);
    state.charts["chart-latency"].setData(latencyColumns("p50", "p95"));
    state.charts["chart-ttfb"].setData(latencyColumns("ttfb_p50", "ttfb_p95"));
    state.charts["chart-streams"].setData([s.t, s.streams]);
    state.charts["chart-tokens"].setData([s.t, s.tokens_in, s.tokens_out]);
  }

  function addProvider(name) {
    if (state.providers.includes(name)) return false;
    state.providers.push(name);
    state.providers.sort();
    const length = state.series.t.length;
    state.series.latency[name] = state.series.latency[name] || {
      p50: new Array(length).fill(null), p95: new Array(length).fill(null),
      ttfb_p50: new Array(length).fill(null), ttfb_p95: new Array(length).fill(null),
    };
    return true;
  }

  function pushSecond(tick) {
    const s = state.series;
    const last = s.t.length ? s.t[s.t.length - 1] : tick.t - 1;
    if (tick.t <= last && s.t.length) return; // already have it (a snapshot raced the tick)
    for (let t = last + 1; t < tick.t; t++) appendSecond({ t, requests: 0, client_errors: 0, server_errors: 0,
      tokens_in: 0, tokens_out: 0, streams: s.streams.length ? s.streams[s.streams.length - 1] : 0, latency: {} });
    appendSecond(tick);
    while (s.t.length > WINDOW) {
      for (const key of ["t", "requests", "client_errors", "server_errors", "tokens_in", "tokens_out", "streams"]) s[key].shift();
      for (const lat of Object.values(s.latency)) for (const values of Object.values(lat)) values.shift();
    }
  }

  function appendSecond(tick) {
    const s = state.series;
    let rebuilt = false;
    for (const name of Object.keys(tick.latency || {})) rebuilt = addProvider(name) || rebuilt;
    for (const key of ["t", "requests", "client_errors", "server_errors", "tokens_in", "tokens_out", "streams"]) {
      s[key].push(tick[key]);
    }
    for (const [name, lat] of Object.entries(s.latency)) {
      const got = (tick.latency || {})[name] || {};
      for (const field of ["p50", "p95", "ttfb_p50", "ttfb_p95"]) lat[field].push(got[field] ?? null);
    }
    if (rebuilt) state.needsRebuild = true;
  }

  // ---------- tiles ----------
  function renderTiles(tick) {
    $("tile-requests").textContent = num(tick.requests);
    $("tile-errors").textContent = num(tick.client_errors + tick.server_errors);
    $("tile-streams").textContent = num(tick.streams);
    $("tile-tokens").textContent = num(tick.tokens_in + tick.tokens_out);
    const p95s = Object.values(tick.latency || {}).map((l) => l.p95).filter((v) => v !== null && v !== undefined);
    $("tile-latency").textContent = p95s.length ? `${num(Math.max(...p95s), 1)} ms` : "–";
    $("clock").textContent = clock(tick.t + 1);
  }

  // ---------- providers ----------
  function renderProviders(providers) {
    const list = $("provider-list");
    list.replaceChildren();
    for (const p of providers) {
      const card = el("article", null, "card");
      card.dataset.provider = p.name;
      const head = el("header");
      head.append(el("h3", p.name), el("span", p.type, "muted"));
      card.append(head);
      const stats = el("p", `${p.in_flight} in flight of ${p.concurrency} · ${p.queued} queued`, "stats");
      card.append(stats);
      const keys = el("ul", null, "keys");
      for (const k of p.keys) {
        const item = el("li");
        item.dataset.key = k.name;
        item.dataset.state = k.state;
        item.append(el("span", k.name, "key-name"), el("span", k.state, `badge state-${k.state.split(" ")[0]}`));
        for (const c of k.cooling) {
          const left = Math.max(0, Math.round(c.until - Date.now() / 1000));
          const scope = c.model ? ` for ${c.model}` : "";
          item.append(el("span", `${c.reason}${scope} until ${clock(c.until)} (${left} s)`, "cooling"));
        }
        keys.append(item);
      }
      card.append(keys);
      const kinds = Object.entries(p.errors || {});
      if (kinds.length) {
        const errors = el("ul", null, "errors");
        for (const [kind, count] of kinds.sort((a, b) => b[1] - a[1])) errors.append(el("li", `${kind} × ${count}`));
        card.append(el("h4", "failed attempts since start"), errors);
      }
      list.append(card);
    }
  }

  // ---------- virtual keys ----------
  function usageCell(limit, money) {
    const td = el("td");
    if (!limit) { td.textContent = "no limit"; td.className = "muted"; return td; }
    const used = limit.used ?? 0;
    const text = money ? `${usd(used)} / ${limit.limit === null ? "∞" : usd(limit.limit)}`
                       : `${num(used)} / ${limit.limit === null ? "∞" : num(limit.limit)}`;
    td.append(el("span", text, "usage"));
    if (limit.reset) td.append(el("span", ` per ${limit.reset}`, "muted"));
    if (limit.limit) {
      const bar = el("div", null, "bar");
      const fill = el("div", null, "fill");
      const ratio = Math.min(1, used / limit.limit);
      fill.style.width = `${(ratio * 100).toFixed(1)}%`;
      if (ratio >= 0.9) fill.classList.add("high");
      bar.append(fill);
      td.append(bar);
    }
    return td;
  }

  function renderVirtualKeys(keys) {
    const section = $("virtual-keys");
    if (!keys) { section.hidden = true; return; }
    section.hidden = false;
    const body = $("virtual-key-rows");
    body.replaceChildren();
    for (const k of keys) {
      const tr = el("tr");
      if (k.error) { tr.append(el("td", k.error, "error")); body.append(tr); continue; }
      tr.dataset.key = k.name;
      tr.append(el("td", k.name), el("td", k.is_active ? "yes" : "no"),
                usageCell(k.requests, false), usageCell(k.tokens, false), usageCell(k.budget, true));
      tr.lastChild.classList.add("budget");
      body.append(tr);
      if (k.name) addKeyOption(k.name);
    }
  }

  // ---------- recent requests ----------
  function statusClass(status) {
    return status >= 500 ? "s5" : status >= 400 ? "s4" : "s2";
  }

  function matches(row) {
    const f = state.filters;
    if (f.provider && row.provider !== f.provider) return false;
    if (f.key && row.key !== f.key && row.virtual_key !== f.key) return false;
    if (f.status) {
      const s = row.status;
      if (f.status === "2xx" && !(s >= 200 && s < 300)) return false;
      if (f.status === "4xx" && !(s >= 400 && s < 500)) return false;
      if (f.status === "5xx" && !(s >= 500)) return false;
      if (f.status === "errors" && s < 400) return false;
    }
    return true;
  }

  function rowElement(row) {
    const tr = el("tr", null, statusClass(row.status));
    tr.dataset.provider = row.provider || "";
    tr.dataset.status = row.status;
    tr.append(
      el("td", clockMs(row.time), "time"),
      el("td", `${row.method} ${row.route}`, "route"),
      el("td", row.status, "status"),
      el("td", row.provider ? `${row.provider}/${row.model || ""}` : "–"),
      el("td", [row.key, row.virtual_key].filter(Boolean).join(" · ") || "–"),
      el("td", row.attempts, "num"),
      el("td", row.fallbacks, "num"),
      el("td", num(row.ttfb_ms, 1), "num"),
      el("td", num(row.duration_ms, 1), "num"),
      el("td", row.tokens_in || row.tokens_out ? `${num(row.tokens_in)} / ${num(row.tokens_out)}` : "–", "num"),
      el("td", usd(row.cost), "num"),
    );
    tr.addEventListener("click", () => showDetail(row));
    return tr;
  }

  function addOption(select, seen, value) {
    if (!value || seen.has(value)) return;
    seen.add(value);
    const option = el("option", value);
    option.value = value;
    select.append(option);
  }
  function addKeyOption(name) { addOption($("filter-key"), state.seenKeys, name); }
  function noteRow(row) {
    addOption($("filter-provider"), state.seenProviders, row.provider);
    addKeyOption(row.key);
    addKeyOption(row.virtual_key);
  }

  function renderAllRows() {
    const body = $("request-rows");
    const nodes = [];
    for (const row of state.rows) if (matches(row)) nodes.push(rowElement(row));
    body.replaceChildren(...nodes);
    renderCount();
  }

  function renderCount() {
    const shown = $("request-rows").children.length;
    $("request-count").textContent = `${shown} of ${state.rows.length} shown`;
    $("tile-recent").textContent = num(state.rows.length);
  }

  function flushRows() {
    state.frame = 0;
    const fresh = state.pendingRows;
    state.pendingRows = [];
    const body = $("request-rows");
    const nodes = [];
    for (const row of fresh) { // oldest first in the batch: prepend each, newest ends on top
      noteRow(row);
      state.rows.unshift(row);
      if (matches(row)) nodes.unshift(rowElement(row));
    }
    const dropped = state.rows.splice(state.capacity);
    body.prepend(...nodes);
    if (dropped.length) renderAllRows(); else renderCount();
  }

  function showDetail(row) {
    $("detail-id").textContent = row.request_id || "";
    const fields = $("detail-fields");
    fields.replaceChildren();
    const add = (name, value) => fields.append(el("dt", name), el("dd", value ?? "–"));
    add("time", new Date(row.time * 1000).toISOString());
    add("route", `${row.method} ${row.route}`);
    add("status", row.status);
    add("provider / model", row.provider ? `${row.provider}/${row.model || ""}` : null);
    add("provider key", row.key);
    add("virtual key", row.virtual_key);
    add("stream", row.stream ? "yes" : "no");
    add("time to first byte", row.ttfb_ms === null ? null : `${num(row.ttfb_ms, 1)} ms`);
    add("duration", `${num(row.duration_ms, 1)} ms`);
    add("tokens in / out", `${num(row.tokens_in)} / ${num(row.tokens_out)}`);
    add("cost", row.cost === null || row.cost === undefined ? null : `${usd(row.cost)} USD`);
    add("fallbacks used", row.fallbacks);
    const list = $("detail-attempts");
    list.replaceChildren();
    const errors = row.errors || [];
    for (const e of errors) {
      list.append(el("li", `${e.provider} (key ${e.key}): ${e.status} ${e.kind}`, "failed"));
    }
    const answered = row.attempts > errors.length;
    if (answered) {
      const who = row.provider ? ` by ${row.provider}${row.key ? ` (key ${row.key})` : ""}` : "";
      list.append(el("li", `answered ${row.status}${who}`, "answered"));
    } else if (!row.attempts) {
      list.append(el("li", `no upstream call: answered ${row.status} by the gateway`, "muted"));
    }
    $("request-detail").showModal();
  }

  // ---------- the stream ----------
  function onSnapshot(data) {
    state.series = data.series;
    state.capacity = data.capacity || state.capacity;
    state.providers = Object.keys(data.series.latency).sort();
    buildCharts();
    state.rows = data.requests || [];
    for (const row of state.rows) noteRow(row);
    renderAllRows();
    renderProviders(data.providers);
    renderVirtualKeys(data.virtual_keys);
    $("logout").hidden = !data.admin_key_set;
    const s = data.series;
    const i = s.t.length - 1;
    if (i >= 0) {
      const latency = {};
      for (const [name, lat] of Object.entries(s.latency)) latency[name] = { p95: lat.p95[i] };
      renderTiles({ t: s.t[i], requests: s.requests[i], client_errors: s.client_errors[i],
                    server_errors: s.server_errors[i], streams: s.streams[i], tokens_in: s.tokens_in[i],
                    tokens_out: s.tokens_out[i], latency });
    }
  }

  function onTick(tick) {
    if (!state.series) return;
    state.needsRebuild = false;
    pushSecond(tick);
    if (state.needsRebuild) buildCharts(); else updateCharts();
    renderTiles(tick);
    renderProviders(tick.providers);
    renderVirtualKeys(tick.virtual_keys);
  }

  function onRequest(row) {
    state.pendingRows.push(row);
    if (!state.frame) state.frame = requestAnimationFrame(flushRows);
  }

  function setConnection(name, text) {
    const badge = $("connection");
    badge.dataset.state = name;
    badge.textContent = text;
  }

  function connect() {
    const source = new EventSource("events");
    const parse = (handler) => (event) => handler(JSON.parse(event.data));
    source.addEventListener("snapshot", parse((data) => { setConnection("live", "live"); onSnapshot(data); }));
    source.addEventListener("tick", parse(onTick));
    source.addEventListener("request", parse(onRequest));
    source.addEventListener("error", () => {
      // EventSource reconnects on its own; a closed one (401 after a session ended) goes to the login form
      if (source.readyState === EventSource.CLOSED) {
        setConnection("down", "disconnected");
        fetch("api/session").then((r) => {
          if (r.status === 401) location.assign("login"); else setTimeout(connect, 2000);
        }, () => setTimeout(connect, 2000));
      } else {
        setConnection("connecting", "reconnecting…");
      }
    });
  }

  for (const [id, key] of [["filter-provider", "provider"], ["filter-status", "status"], ["filter-key", "key"]]) {
    $(id).addEventListener("change", (event) => { state.filters[key] = event.target.value; renderAllRows(); });
  }
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const [id, chart] of Object.entries(state.charts)) chart.setSize({ width: chartWidth($(id)), height: 170 });
    }, 100);
  });
  connect();
})();
