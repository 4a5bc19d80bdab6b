// Small helpers shared by the page's modules. Everything the gateway sends is metadata, yet it goes into the
// page as text only (textContent), never as markup: routes and model names come from clients.

export const $ = (id) => document.getElementById(id);

export function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

export function clock(seconds) {
  const d = new Date(seconds * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function clockMs(seconds) {
  return `${clock(seconds)}.${pad(Math.floor((seconds * 1000) % 1000), 3)}`;
}

export function num(value, digits = 0) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
}

export function usd(value) {
  if (value === null || value === undefined) return "–";
  return value < 0.01 ? value.toFixed(6) : value.toFixed(4);
}
