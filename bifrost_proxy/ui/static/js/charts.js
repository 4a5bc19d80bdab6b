// The five charts (uPlot, loaded as a global by the page) and the columns behind them: the snapshot's 15
// minutes, then one second appended per tick, the oldest dropped past WINDOW.
import { $ } from "./format.js";

const WINDOW = 900; // seconds, as the gateway keeps
const PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
const COUNTS = ["t", "requests", "client_errors", "server_errors", "tokens_in", "tokens_out", "streams"];
const LATENCY = ["p50", "p95", "ttfb_p50", "ttfb_p95"];
const HEIGHT = 170;

function line(label, stroke, extra = {}) {
  return { label, stroke, width: 1.5, points: { show: false }, ...extra };
}

// a count per second holds for that whole second: draw it as steps, not as slopes between seconds
function steps(label, stroke, extra = {}) {
  return line(label, stroke, { paths: uPlot.paths.stepped({ align: 1 }), ...extra });
}

function width(figure) {
  return Math.max(280, figure.clientWidth - 16);
}

export class Charts {
  constructor() {
    this.series = null; // columns: t, requests, ..., streams, and latency: {provider: {p50: [...], ...}}
    this.providers = []; // in chart (and colour) order
    this.plots = {};
    window.addEventListener("resize", () => {
      clearTimeout(this.resizing);
      this.resizing = setTimeout(() => {
        for (const [id, plot] of Object.entries(this.plots)) plot.setSize({ width: width($(id)), height: HEIGHT });
      }, 100);
    });
  }

  color(provider) {
    const index = this.providers.indexOf(provider);
    return PALETTE[(index < 0 ? 0 : index) % PALETTE.length];
  }

  reset(series) {
    this.series = series;
    this.providers = Object.keys(series.latency).sort();
    this.build();
  }

  plot(id, series, data) {
    const figure = $(id);
    if (this.plots[id]) this.plots[id].destroy();
    const opts = {
      width: width(figure),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ stroke: "#64748b", grid: { stroke: "#e2e8f0" } },
             { stroke: "#64748b", grid: { stroke: "#e2e8f0" }, size: 56 }],
      series: [{}, ...series],
    };
    this.plots[id] = new uPlot(opts, data, figure);
  }

  latencyColumns(p50, p95) {
    const columns = [this.series.t];
    for (const p of this.providers) columns.push(this.series.latency[p][p50], this.series.latency[p][p95]);
    return columns;
  }

  latencyLines() {
    // seconds without traffic have no latency: join the seconds that had some, and let uPlot show the
    // points themselves while there are few of them
    const lines = [];
    for (const p of this.providers) {
      lines.push(line(`${p} p50`, this.color(p), { spanGaps: true, points: {} }));
      lines.push(line(`${p} p95`, this.color(p), { spanGaps: true, points: {}, dash: [6, 4] }));
    }
    return lines;
  }

  build() {
    const s = this.series;
    this.plot("chart-requests", [steps("requests/s", "#2563eb", { fill: "rgba(37,99,235,0.08)" }),
                                 steps("4xx/s", "#d97706"), steps("5xx/s", "#dc2626")],
              [s.t, s.requests, s.client_errors, s.server_errors]);
    this.plot("chart-latency", this.latencyLines(), this.latencyColumns("p50", "p95"));
    this.plot("chart-ttfb", this.latencyLines(), this.latencyColumns("ttfb_p50", "ttfb_p95"));
    this.plot("chart-streams", [steps("streams", "#7c3aed", { fill: "rgba(124,58,237,0.08)" })], [s.t, s.streams]);
    this.plot("chart-tokens", [steps("input tokens/s", "#059669"), steps("output tokens/s", "#0891b2")],
              [s.t, s.tokens_in, s.tokens_out]);
  }

  redraw() {
    const s = this.series;
    this.plots["chart-requests"].setData([s.t, s.requests, s.client_errors, s.server_errors]);
    this.plots["chart-latency"].setData(this.latencyColumns("p50", "p95"));
    this.plots["chart-ttfb"].setData(this.latencyColumns("ttfb_p50", "ttfb_p95"));
    this.plots["chart-streams"].setData([s.t, s.streams]);
    this.plots["chart-tokens"].setData([s.t, s.tokens_in, s.tokens_out]);
  }

  // one tick: the second just finished (seconds the page missed are filled in as idle)
  push(tick) {
    const s = this.series;
    if (!s) return;
    const last = s.t.length ? s.t[s.t.length - 1] : tick.t - 1;
    if (tick.t <= last) return; // already in the snapshot
    let newProvider = false;
    for (let t = last + 1; t < tick.t; t++) {
      this.append({ t, requests: 0, client_errors: 0, server_errors: 0, tokens_in: 0, tokens_out: 0,
                    streams: s.streams.length ? s.streams[s.streams.length - 1] : 0, latency: {} });
    }
    for (const name of Object.keys(tick.latency || {})) newProvider = this.addProvider(name) || newProvider;
    this.append(tick);
    while (s.t.length > WINDOW) {
      for (const key of COUNTS) s[key].shift();
      for (const lat of Object.values(s.latency)) for (const values of Object.values(lat)) values.shift();
    }
    if (newProvider) this.build(); else this.redraw();
  }

  append(tick) {
    const s = this.series;
    for (const key of COUNTS) s[key].push(tick[key]);
    for (const [name, lat] of Object.entries(s.latency)) {
      const got = (tick.latency || {})[name] || {};
      for (const field of LATENCY) lat[field].push(got[field] ?? null);
    }
  }

  addProvider(name) {
    if (this.providers.includes(name)) return false;
    this.providers.push(name);
    this.providers.sort();
    const length = this.series.t.length;
    this.series.latency[name] = Object.fromEntries(LATENCY.map((f) => [f, new Array(length).fill(null)]));
    return true;
  }
}
