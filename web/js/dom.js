// Small DOM helpers. Text always goes in through textContent, never innerHTML, so a
// filename or a server message can't inject markup.

import { formatNumber } from "./i18n.js";

export const $ = (id) => document.getElementById(id);

/** el("li", {class: "x", dataset: {label: "cat"}, onclick: fn}, child, "text", ...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  appendAll(node, children);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  appendAll(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
}

function appendAll(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Show a message in a status element; kind is "ok", "error" or "" (neutral). */
export function showMsg(node, text, kind = "") {
  node.textContent = text || "";
  node.dataset.kind = kind;
}

export function humanSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${formatNumber(bytes / 1024, 0)} KB`;
  return `${formatNumber(bytes / 1024 / 1024, 1)} MB`;
}

/** Confidence colour band of the original design: >70 % green, 40–70 % yellow, else red. */
export function band(p) {
  if (p > 0.7) return "high";
  if (p >= 0.4) return "mid";
  return "low";
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
