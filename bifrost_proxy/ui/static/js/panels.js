// The last second's figures, the providers (keys serving or cooling, queue, errors) and the virtual keys.
import { $, clock, el, num, usd } from "./format.js";

export function renderTiles(tick) {
  $("tile-requests").textContent = num(tick.requests);
  $("tile-errors").textContent = num(tick.client_errors + tick.server_errors);
  $("tile-streams").textContent = num(tick.streams);
  $("tile-tokens").textContent = num(tick.tokens_in + tick.tokens_out);
  const p95s = Object.values(tick.latency || {}).map((l) => l.p95).filter((v) => v !== null && v !== undefined);
  $("tile-latency").textContent = p95s.length ? `${num(Math.max(...p95s), 1)} ms` : "–";
  $("clock").textContent = clock(tick.t + 1);
}

function keyItem(key) {
  const item = el("li");
  item.dataset.key = key.name;
  item.dataset.state = key.state;
  item.append(el("span", key.name, "key-name"), el("span", key.state, `badge state-${key.state.split(" ")[0]}`));
  for (const c of key.cooling) {
    const left = Math.max(0, Math.round(c.until - Date.now() / 1000));
    const scope = c.model ? ` for ${c.model}` : "";
    item.append(el("span", `${c.reason}${scope} until ${clock(c.until)} (${left} s)`, "cooling"));
  }
  return item;
}

export function renderProviders(providers) {
  const cards = [];
  for (const p of providers) {
    const card = el("article", null, "card");
    card.dataset.provider = p.name;
    const head = el("header");
    head.append(el("h3", p.name), el("span", p.type, "muted"));
    const keys = el("ul", null, "keys");
    keys.append(...p.keys.map(keyItem));
    card.append(head, el("p", `${p.in_flight} in flight of ${p.concurrency} · ${p.queued} queued`, "stats"), keys);
    const kinds = Object.entries(p.errors || {}).sort((a, b) => b[1] - a[1]);
    if (kinds.length) {
      const errors = el("ul", null, "errors");
      errors.append(...kinds.map(([kind, count]) => el("li", `${kind} × ${count}`)));
      card.append(el("h4", "failed attempts since start"), errors);
    }
    cards.push(card);
  }
  $("provider-list").replaceChildren(...cards);
}

function usageCell(limit, money) {
  const td = el("td");
  if (!limit) {
    td.textContent = "no limit";
    td.className = "muted";
    return td;
  }
  const used = limit.used ?? 0;
  const show = money ? usd : num;
  td.append(el("span", `${show(used)} / ${limit.limit === null ? "∞" : show(limit.limit)}`, "usage"));
  if (limit.reset) td.append(el("span", ` per ${limit.reset}`, "muted"));
  if (limit.limit) {
    const ratio = Math.min(1, used / limit.limit);
    const bar = el("div", null, "bar");
    const fill = el("div", null, ratio >= 0.9 ? "fill high" : "fill");
    fill.style.width = `${(ratio * 100).toFixed(1)}%`;
    bar.append(fill);
    td.append(bar);
  }
  return td;
}

// returns the virtual key names, for the key filter
export function renderVirtualKeys(keys) {
  const section = $("virtual-keys");
  section.hidden = !keys;
  if (!keys) return [];
  const rows = [];
  for (const k of keys) {
    const tr = el("tr");
    if (k.error) {
      tr.append(el("td", k.error, "error"));
    } else {
      tr.dataset.key = k.name;
      const budget = usageCell(k.budget, true);
      budget.classList.add("budget");
      tr.append(el("td", k.name), el("td", k.is_active ? "yes" : "no"), usageCell(k.requests, false),
                usageCell(k.tokens, false), budget);
    }
    rows.push(tr);
  }
  $("virtual-key-rows").replaceChildren(...rows);
  return keys.map((k) => k.name).filter(Boolean);
}
