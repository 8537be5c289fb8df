// Models tab: every version with its metrics, per-class F1 chart, loss curve, the promotion
// rule's decision in plain words, and "Activate" (rollback, after a confirmation; its result
// shows next to the button) or, for a version the rule kept out, "Use it anyway" in one
// click; and "Retrain…" (the same confirmation and plain outcome as the Review tab's).
// mAP and F1 are each version's figures on the shared evaluation set that every version,
// version 1 included, is scored on after each retrain (the API's `scoreboard`), so any
// two versions compare; a version not scored there shows its own check's figures.

import { getJson, postJson } from "./api.js";
import { barChart, lineChart } from "./charts.js";
import { $, el, showMsg } from "./dom.js";
import { className, formatDate, formatNumber, lang, t } from "./i18n.js";
import { VOC_CLASSES } from "./labels.js";
import { changeCounts, confirmRetrain, gateText, outcomeText, runRetrain, useItAnyway } from "./review-retrain.js";

let versions = [];
let scoreboard = null; // the shared evaluation set: {photos, after_version, ...}
let loaded = false;
let latest = 0; // only the newest request may draw
let hooks = { onModelChanged: () => {} };
let confirming = null; // the version whose activation waits for "yes"
let result = null; // {version, text, kind}: the last activation's outcome, shown by its button

export function initModels(options) {
  hooks = { ...hooks, ...options };
  $("models-refresh").addEventListener("click", () => load());
  $("models-retrain").addEventListener("click", retrain);
}

async function retrain() {
  const answer = await confirmRetrain();
  if (!answer) return;
  $("models-retrain").disabled = true;
  try {
    const outcome = await runRetrain(answer.epochs, (stage) => showMsg($("models-retrain-msg"), t("retrain.running", { stage })));
    showMsg($("models-retrain-msg"), outcomeText(outcome), outcome.promoted ? "ok" : "");
    hooks.onModelChanged(null);
    await load({ keepMsg: true });
  } catch (err) {
    showMsg($("models-retrain-msg"), err.message, "error");
  } finally {
    $("models-retrain").disabled = false;
  }
}

export function showModels() {
  load();
}

export async function load({ keepMsg = false } = {}) {
  $("models-list").setAttribute("aria-busy", "true");
  const mine = ++latest;
  try {
    const data = await getJson("/models");
    if (mine !== latest) return;
    versions = data.versions || [];
    scoreboard = data.scoreboard || null;
    loaded = true;
    if (!keepMsg) showMsg($("models-msg"), "");
  } catch (err) {
    if (mine === latest) showMsg($("models-msg"), err.message, "error");
  } finally {
    if (mine === latest) {
      $("models-list").setAttribute("aria-busy", "false");
      render();
    }
  }
}

export function render() {
  $("models-scoreboard").textContent = scoreboard ? t("models.scoreboard", { n: scoreboard.photos, v: scoreboard.after_version }) : "";
  if (loaded && !versions.length) {
    $("models-list").replaceChildren(el("li", { class: "muted" }, t("models.none")));
    return;
  }
  $("models-list").replaceChildren(...versions.map(card));
}

/** The version's own metrics: those recorded as "candidate" when it was evaluated. */
function metricsOf(v) {
  const m = v.metrics;
  if (!m || typeof m !== "object") return null;
  const own = m.candidate && typeof m.candidate === "object" ? m.candidate : m;
  return Object.keys(own).length ? own : null;
}

/** Where a version's mAP and F1 come from, in words. */
function scoredOn(v) {
  const shared = v.scoreboard;
  if (!shared) return t("models.own_check");
  const n = scoreboard?.photos ?? shared.metrics?.samples;
  if (!shared.seen) return t("models.shared_set", { n });
  if (!shared.unseen) return t("models.shared_all_seen", { n });
  const u = shared.unseen;
  return t("models.shared_seen", { n, k: shared.seen, u: u.samples, map: fixed(u.mAP) ?? "–", f1: fixed(u.f1_micro) ?? "–" });
}

const num = (x) => (typeof x === "number" && Number.isFinite(x) ? x : NaN);

function perClass(values) {
  if (Array.isArray(values)) return VOC_CLASSES.map((c, i) => [c, num(values[i])]);
  if (values && typeof values === "object") return VOC_CLASSES.filter((c) => c in values).map((c) => [c, num(values[c])]);
  return [];
}

function fixed(x, digits = 3) {
  return Number.isFinite(num(x)) ? formatNumber(x, digits) : null;
}

function lossValues(v) {
  const curve = v.loss_curve ?? v.metrics?.loss_curve ?? [];
  return (Array.isArray(curve) ? curve : [])
    .map((p) => (typeof p === "number" ? p : Number(p?.loss)))
    .filter(Number.isFinite);
}

function fact(name, value) {
  const shown = value === undefined || value === null || value === "" ? "–" : String(value);
  return el("div", {}, el("dt", {}, name), el("dd", {}, shown));
}

/** "0.033 (parent 0.066)": the candidate's evaluation loss next to the parent's. */
function compare(mine, parents) {
  const a = fixed(mine, 4);
  const b = fixed(parents, 4);
  if (!a) return null;
  return b ? `${a} (${t("models.vs_parent")} ${b})` : a;
}

function thresholdsText(thresholds) {
  return Object.entries(thresholds).map(([label, x]) => `${className(label)} ${fixed(x, 2)}`).join(", ");
}

/** The evaluation set's held-out figures first, the tuning part's only beside them. */
function evaluationSetText(parts) {
  const held = parts["held-out"];
  const tuning = parts.tuning || {};
  return t("models.evaluation_set_figures", {
    n: held.samples, map: fixed(held.mAP), f1: fixed(held.f1_micro), p: fixed(held.precision, 2), r: fixed(held.recall, 2),
    tn: tuning.samples ?? "–", tf1: fixed(tuning.f1_micro) ?? "–",
  });
}

function card(v) {
  const own = metricsOf(v);
  const m = v.scoreboard?.metrics || own;
  const before = v.metrics?.active;
  const facts = el("dl", { class: "facts" },
    fact(t("models.created"), formatDate(v.created)),
    fact(t("models.parent"), v.parent ?? v.parent_version),
    fact(t("models.samples"), v.samples),
    fact(t("models.backbone"), v.backbone),
    fact(t("models.prior"), v.prior && t(`models.prior.${v.prior}`)),
    fact(t("models.map"), fixed(m?.mAP ?? m?.map)),
    fact(t("models.f1_micro"), fixed(m?.f1_micro ?? m?.f1)),
    m ? fact(t("models.scored_on"), scoredOn(v)) : null,
    own && "loss" in own ? fact(t("models.eval_loss"), compare(own.loss, before?.loss)) : null,
    v.gate?.code ? fact(t("models.gate"), gateText(v.gate)) : null,
    v.changes ? fact(t("models.corrections"), changeCounts(v.changes)) : null,
    Object.keys(v.thresholds || {}).length ? fact(t("models.thresholds"), thresholdsText(v.thresholds)) : null,
    v.evaluation_set?.["held-out"] ? fact(t("models.evaluation_set"), evaluationSetText(v.evaluation_set)) : null);
  const head = el("div", { class: "version-head" },
    el("h3", {}, t("common.version", { v: v.version })),
    v.active ? el("span", { class: "badge active", dataset: { testid: "active-badge" } }, t("models.active")) : null,
    typeof v.promoted === "boolean" ? el("span", { class: `badge ${v.promoted ? "ok" : "warn"}` }, t(v.promoted ? "models.promoted" : "models.not_promoted")) : null,
    ...activateControls(v),
    v.promoted === false && !v.active ? useItAnyway(v.version, $("models-msg"), (version) => { hooks.onModelChanged(version); load({ keepMsg: true }); }) : null);
  const body = [head, facts];
  // The server's own words only where the rule's decision has none in this language (older versions).
  if (v.reason && !v.gate?.code && lang() === "en") body.push(el("p", { class: "muted" }, v.reason));
  body.push(el("div", { class: "charts" }, ...charts(v, own)));
  return el("li", { class: `version card${v.active ? " is-active" : ""}`, dataset: { version: String(v.version), active: v.active ? "true" : "false" } }, ...body);
}

function charts(v, m) {
  const out = [];
  // Per-class F1 when the trainer records it, else per-class AP (classes without a
  // positive correction have none and show "–").
  const f1 = perClass(m?.per_class_f1);
  const ap = perClass(m?.per_class_ap);
  if (f1.length) out.push(chartBox(t("models.f1"), barChart(f1, t("models.chart_f1", { v: v.version }))));
  else if (ap.some(([, x]) => Number.isFinite(x))) out.push(chartBox(t("models.ap"), barChart(ap, t("models.chart_ap", { v: v.version }))));
  const loss = lossValues(v);
  if (loss.length) out.push(chartBox(t("models.loss"), lineChart(loss, t("models.chart_loss", { v: v.version }))));
  if (!out.length) out.push(el("p", { class: "muted" }, t("models.no_metrics")));
  return out;
}

function chartBox(caption, chart) {
  return el("figure", { class: "chart-box" }, el("figcaption", {}, caption), chart);
}

function activateControls(v) {
  const out = [];
  if (confirming === v.version) {
    out.push(
      el("span", { class: "confirm-text" }, t("models.confirm", { v: v.version })),
      el("button", { type: "button", class: "small primary", dataset: { testid: "activate-yes" }, onclick: () => activate(v.version) }, t("models.yes")),
      el("button", { type: "button", class: "small", onclick: () => askActivate(null) }, t("common.cancel")),
    );
  } else {
    out.push(el("button", {
      type: "button",
      class: "small",
      dataset: { testid: "activate", version: String(v.version) },
      disabled: Boolean(v.active),
      onclick: () => askActivate(v.version),
      "aria-label": `${t("models.activate")} ${t("common.version", { v: v.version })}`,
    }, t("models.activate")));
  }
  if (result?.version === v.version) {
    out.push(el("span", { class: "msg version-msg", role: "status", dataset: { kind: result.kind, testid: "activate-result" } }, result.text));
  }
  return out;
}

function askActivate(version) {
  confirming = version;
  result = null;
  render();
  if (version !== null) document.querySelector("[data-testid=activate-yes]")?.focus();
}

async function activate(version) {
  confirming = null;
  showMsg($("models-msg"), t("models.activating", { v: version }));
  try {
    await postJson(`/models/${encodeURIComponent(version)}/activate`, {});
    result = { version, text: t("models.activated", { v: version }), kind: "ok" };
    showMsg($("models-msg"), result.text, "ok");
    hooks.onModelChanged(version);
  } catch (err) {
    result = { version, text: err.message, kind: "error" };
    showMsg($("models-msg"), err.message, "error");
  }
  await load({ keepMsg: true });
}
