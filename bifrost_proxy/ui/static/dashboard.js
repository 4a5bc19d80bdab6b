// bifrost-proxy dashboard: one EventSource (GET events) feeding the charts, the panels and the request table.
// snapshot: everything to start from; tick: the second just finished and the panels; request: a finished row.
import { Charts } from "./js/charts.js";
import { $ } from "./js/format.js";
import { renderProviders, renderTiles, renderVirtualKeys } from "./js/panels.js";
import { RequestTable } from "./js/requests.js";

const charts = new Charts();
const table = new RequestTable();

function lastSecond(series) {
  const i = series.t.length - 1;
  const latency = {};
  for (const [name, lat] of Object.entries(series.latency)) latency[name] = { p95: lat.p95[i] };
  return { t: series.t[i], requests: series.requests[i], client_errors: series.client_errors[i],
           server_errors: series.server_errors[i], streams: series.streams[i], tokens_in: series.tokens_in[i],
           tokens_out: series.tokens_out[i], latency };
}

function panels(data) {
  renderProviders(data.providers);
  for (const name of renderVirtualKeys(data.virtual_keys)) table.addOption("key", name);
}

function onSnapshot(data) {
  charts.reset(data.series);
  table.reset(data.requests || [], data.capacity);
  panels(data);
  $("logout").hidden = !data.admin_key_set;
  if (data.series.t.length) renderTiles(lastSecond(data.series));
}

function onTick(tick) {
  charts.push(tick);
  renderTiles(tick);
  panels(tick);
}

function setConnection(state, text) {
  $("connection").dataset.state = state;
  $("connection").textContent = text;
}

function connect() {
  const source = new EventSource("events");
  const on = (name, handler) => source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
  on("snapshot", (data) => { setConnection("live", "live"); onSnapshot(data); });
  on("tick", onTick);
  on("request", (row) => table.add(row));
  source.addEventListener("error", () => {
    if (source.readyState !== EventSource.CLOSED) {
      setConnection("connecting", "reconnecting…"); // EventSource tries again on its own
      return;
    }
    // refused (a session that ended): to the login form; anything else: try again shortly
    setConnection("down", "disconnected");
    fetch("api/session").then((r) => {
      if (r.status === 401) location.assign("login"); else setTimeout(connect, 2000);
    }, () => setTimeout(connect, 2000));
  });
}

connect();
