// The recent requests: newest on top, new rows added as they finish (batched per animation frame), filters
// by provider, status class and key, and a dialog with one request's attempts.
import { $, clockMs, el, num, usd } from "./format.js";

const rowId = (row) => `${row.request_id}|${row.time}`;

function statusClass(status) {
  return status >= 500 ? "s5" : status >= 400 ? "s4" : "s2";
}

export class RequestTable {
  constructor() {
    this.rows = []; // newest first
    this.ids = new Set(); // of the rows held: a row the snapshot took from the store may also arrive live
    this.capacity = 2000;
    this.filters = { provider: "", status: "", key: "" };
    this.pending = [];
    this.frame = 0;
    this.options = { provider: new Set(), key: new Set() };
    for (const name of ["provider", "status", "key"]) {
      $(`filter-${name}`).addEventListener("change", (event) => {
        this.filters[name] = event.target.value;
        this.renderAll();
      });
    }
  }

  reset(rows, capacity) {
    this.rows = rows;
    this.capacity = capacity || this.capacity;
    this.ids = new Set(rows.map(rowId));
    for (const row of rows) this.note(row);
    this.renderAll();
  }

  add(row) {
    this.pending.push(row);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  addOption(kind, value) {
    if (!value || this.options[kind].has(value)) return;
    this.options[kind].add(value);
    const option = el("option", value);
    option.value = value;
    $(`filter-${kind}`).append(option);
  }

  note(row) {
    this.addOption("provider", row.provider);
    this.addOption("key", row.key);
    this.addOption("key", row.virtual_key);
  }

  matches(row) {
    const f = this.filters;
    const s = row.status;
    if (f.provider && row.provider !== f.provider) return false;
    if (f.key && row.key !== f.key && row.virtual_key !== f.key) return false;
    if (f.status === "2xx") return s >= 200 && s < 300;
    if (f.status === "4xx") return s >= 400 && s < 500;
    if (f.status === "5xx") return s >= 500;
    if (f.status === "errors") return s >= 400;
    return true;
  }

  element(row) {
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
    tr.addEventListener("click", () => showAttempts(row));
    return tr;
  }

  renderAll() {
    $("request-rows").replaceChildren(...this.rows.filter((r) => this.matches(r)).map((r) => this.element(r)));
    this.count();
  }

  count() {
    $("request-count").textContent = `${$("request-rows").children.length} of ${this.rows.length} shown`;
    $("tile-recent").textContent = num(this.rows.length);
  }

  flush() {
    this.frame = 0;
    const fresh = this.pending;
    this.pending = [];
    const nodes = [];
    for (const row of fresh) { // oldest first: each goes on top, the newest ends up first
      if (this.ids.has(rowId(row))) continue;
      this.ids.add(rowId(row));
      this.note(row);
      this.rows.unshift(row);
      if (this.matches(row)) nodes.unshift(this.element(row));
    }
    $("request-rows").prepend(...nodes);
    const dropped = this.rows.splice(this.capacity);
    for (const row of dropped) this.ids.delete(rowId(row));
    if (dropped.length) this.renderAll(); else this.count();
  }
}

function showAttempts(row) {
  $("detail-id").textContent = row.request_id || "";
  const fields = [];
  const add = (name, value) => fields.push(el("dt", name), el("dd", value ?? "–"));
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
  $("detail-fields").replaceChildren(...fields);
  const errors = row.errors || [];
  const attempts = errors.map((e) => el("li", `${e.provider} (key ${e.key}): ${e.status} ${e.kind}`, "failed"));
  if (row.attempts > errors.length) {
    const who = row.provider ? ` by ${row.provider}${row.key ? ` (key ${row.key})` : ""}` : "";
    attempts.push(el("li", `answered ${row.status}${who}`, "answered"));
  } else if (!row.attempts) {
    attempts.push(el("li", `no upstream call: answered ${row.status} by the gateway`, "muted"));
  }
  $("detail-attempts").replaceChildren(...attempts);
  $("request-detail").showModal();
}
