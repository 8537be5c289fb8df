// Header: the live model version and the services' health, polled from GET /health
// (the training service's system view, served by the gateway).

import { onWritesWaiting, request, writesWaiting } from "./api.js";
import { $, el } from "./dom.js";
import { t } from "./i18n.js";

const POLL_MS = 5000;
const FAST_POLL_MS = 1000;
const FAST_FOR_MS = 20000; // after a retrain or rollback, until inference has reloaded

let last = null; // {data} | {error}
let timer = null;
let fastUntil = 0;

export function startHealth() {
  // A save waiting for the server: look often, so the banner goes as soon as it is back.
  onWritesWaiting(() => {
    render();
    if (writesWaiting()) bumpHealth();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      clearTimeout(timer);
      poll();
    }
  });
  poll();
}

/** Something changed the model: look more often for a while. */
export function bumpHealth() {
  fastUntil = Date.now() + FAST_FOR_MS;
  clearTimeout(timer);
  poll();
}

async function poll() {
  if (document.hidden && Date.now() >= fastUntil) {
    // nobody is looking: check again later, and at once when the page is shown
    timer = setTimeout(poll, POLL_MS);
    return;
  }
  try {
    const { data } = await request("/health", { okStatuses: [503] });
    last = { data };
  } catch (err) {
    last = { error: err.message };
  }
  render();
  clearTimeout(timer);
  timer = setTimeout(poll, Date.now() < fastUntil ? FAST_POLL_MS : POLL_MS);
}

const PARTS = ["inference", "training_api", "redis", "workers", "disk"];
// The parts whose absence a restart explains: the page says it reconnects.
const RESTARTING_PARTS = ["inference", "training_api", "redis", "workers"];

/** The line under the header while a part is down or a save waits to be sent again. */
function banner() {
  let node = $("reconnecting");
  if (!node) {
    node = el("div", { id: "reconnecting", class: "reconnecting", role: "status", hidden: true });
    node.dataset.testid = "reconnecting";
    document.querySelector("header")?.after(node);
  }
  return node;
}

function renderBanner() {
  const down = !last || last.error || RESTARTING_PARTS.some((p) => last.data?.parts?.[p] && !last.data.parts[p].ok);
  const waiting = writesWaiting();
  const node = banner();
  node.hidden = !(waiting || (last && down));
  node.textContent = waiting ? t("health.reconnecting_saves", { n: waiting }) : t("health.reconnecting");
}

export function render() {
  const dot = $("health-dot");
  const version = $("model-version");
  renderBanner();
  if (!last) return;
  if (last.error) {
    dot.dataset.state = "down";
    version.textContent = t("health.unreachable");
    $("health-summary").textContent = last.error;
    $("health-parts").replaceChildren();
    return;
  }
  const data = last.data;
  const ok = data.status === "ok" && data.success !== false;
  // Every part up while a replica loads the active version: nothing is wrong.
  const converging = data.status === "converging" && data.success !== false;
  dot.dataset.state = ok || converging ? "ok" : "degraded";
  const v = data.parts?.inference?.model_version;
  version.dataset.version = v ?? "";
  version.textContent = v !== undefined && v !== null ? t("health.model", { v }) : t("health.no_model");
  $("health-summary").textContent = t(summaryKey(data, ok));
  $("health-parts").replaceChildren(...PARTS.filter((p) => data.parts?.[p]).map((p) => partItem(p, data.parts[p])));
}

function summaryKey(data, ok) {
  if (ok) return "health.ok";
  if (data.success !== false && (data.status === "converging" || data.status === "stale")) {
    return `health.${data.status}`;
  }
  return "health.degraded";
}

function partItem(name, part) {
  let detail = t(part.ok ? "health.up" : "health.down");
  if (name === "workers" && typeof part.count === "number") detail = t("health.workers", { n: part.count });
  if (name === "disk" && typeof part.free_mb === "number") {
    detail = t(part.ok ? "health.disk_free" : "health.disk_low", { mb: Math.round(part.free_mb), volume: part.volume });
  }
  if (name === "inference" && part.replicas?.length > 1) detail += `, ${t("health.replicas", { n: part.replicas.length })}`;
  if (part.error) detail += ` – ${part.error}`;
  return el("li", { dataset: { part: name, ok: part.ok ? "true" : "false" } },
    el("span", { class: "status-dot", dataset: { state: part.ok ? "ok" : "down" }, "aria-hidden": "true" }),
    `${t(`health.part.${name}`)}: ${detail}`);
}
