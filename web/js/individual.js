// Individual tab: one image -> scores -> bars and checkboxes -> save a correction;
// after a retrain (retrain.js), predict the same image again and show what changed.

import { postForm, postJsonUntilStored } from "./api.js";
import { $, band, el, showMsg } from "./dom.js";
import { className, formatNumber, formatPercent, t } from "./i18n.js";
import { VOC_CLASSES, predictionsAt, scoresOf } from "./labels.js";
import { signalAutoRetrain, waitUntilServed } from "./jobs.js";
import { refusal, wireDropZone } from "./uploads.js";

const state = {
  file: null, // the File/Blob, kept so that it can be predicted again after retraining
  filename: "",
  imageId: null,
  scores: null,
  modelVersion: null,
  edited: false, // once the user ticks a box the checkboxes stop following the threshold
  thresholds: null, // the served version's per-class thresholds, used until the slider moves
  sliderMoved: false,
  previewUrl: null,
  changes: null, // {from, to, added, removed} after a retrain
};

let hooks = { onModelChanged: () => {} };

export function initIndividual(options) {
  hooks = { ...hooks, ...options };
  buildCheckboxes();
  wirePicker();
  $("ind-threshold").addEventListener("input", () => {
    state.sliderMoved = true;
    onThreshold();
  });
  $("ind-save").addEventListener("click", saveCorrection);
  $("ind-reset").addEventListener("click", () => {
    state.edited = false;
    render();
  });
  onThreshold();
}

function threshold() {
  return Number($("ind-threshold").value);
}

/** What the ticks and bars use: the slider once moved, else the version's own thresholds. */
function thresholds() {
  return state.sliderMoved || !state.thresholds ? threshold() : state.thresholds;
}

/** {label: threshold} for the 20 classes, as the review card has them. */
function limitsByLabel() {
  const th = thresholds();
  const own = typeof th === "number" ? {} : th;
  return Object.fromEntries(VOC_CLASSES.map((l) => [l, typeof own[l] === "number" ? own[l] : typeof th === "number" ? th : 0.5]));
}

function buildCheckboxes() {
  const box = $("ind-checks");
  box.replaceChildren(
    ...VOC_CLASSES.map((label) =>
      el(
        "label",
        { class: "check", for: `ind-cb-${label}` },
        el("input", {
          type: "checkbox",
          id: `ind-cb-${label}`,
          value: label,
          dataset: { label },
          onchange: () => {
            state.edited = true;
          },
        }),
        el("span", { class: "check-name", dataset: { label } }, className(label)),
      ),
    ),
  );
}

function wirePicker() {
  const input = $("ind-file");
  input.addEventListener("change", () => {
    if (input.files.length) choose(input.files[0]);
    input.value = "";
  });
  wireDropZone($("ind-drop"), (dt) => {
    const file = [...(dt?.files || [])][0];
    if (file) choose(file);
  });
  document.addEventListener("paste", onPaste);
}

function onPaste(e) {
  if ($("panel-individual").hidden) return;
  const item = [...(e.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
  if (!item) {
    if (e.clipboardData?.files?.length === 0) showMsg($("ind-msg"), t("ind.paste_none"), "error");
    return;
  }
  e.preventDefault();
  const blob = item.getAsFile();
  const ext = (blob.type.split("/")[1] || "png").replace("jpeg", "jpg");
  choose(new File([blob], `pasted.${ext}`, { type: blob.type }));
}

function setPreview(file) {
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = URL.createObjectURL(file);
  $("ind-preview").src = state.previewUrl;
  $("ind-preview").alt = file.name || "";
  $("ind-filename").textContent = file.name || "";
  $("ind-preview-wrap").hidden = false;
}

/** A new image picked, dropped or pasted here. */
async function choose(file) {
  const refused = refusal(file);
  if (refused) {
    showMsg($("ind-msg"), refused, "error");
    return;
  }
  state.file = file;
  state.filename = file.name || "image";
  state.changes = null;
  setPreview(file);
  await predict();
}

/** Open an image from the batch tab with the scores it already has. */
export function openWith({ file, filename, imageId, scores, modelVersion }) {
  latestPredict += 1;
  setBusy(false);
  state.file = file;
  state.filename = filename;
  state.imageId = imageId;
  state.scores = scores;
  state.thresholds = null; // the batch tab's one threshold applies to what it predicted
  state.modelVersion = modelVersion;
  state.edited = false;
  state.changes = null;
  setPreview(file);
  showMsg($("ind-msg"), "");
  render();
}

let latestPredict = 0; // a reply for an image no longer shown is dropped

async function predict() {
  const mine = ++latestPredict;
  const form = new FormData();
  form.append("file", state.file, state.filename);
  if (state.sliderMoved) form.append("threshold", String(threshold()));
  showMsg($("ind-msg"), t("ind.predicting"));
  // Nothing of the previous photo may stay on screen: no ticks, no Save, until this one is back.
  state.scores = null;
  state.imageId = null;
  state.edited = false;
  setBusy(true);
  render();
  try {
    const reply = await postForm("/predict", form);
    if (mine !== latestPredict) return;
    state.imageId = reply.image_id;
    state.scores = scoresOf(reply);
    if (!state.sliderMoved) state.thresholds = reply.thresholds || null;
    state.modelVersion = reply.model_version;
    state.edited = false;
    showMsg($("ind-msg"), "");
    hooks.onModelChanged(reply.model_version);
  } catch (err) {
    if (mine !== latestPredict) return;
    state.scores = null;
    state.imageId = null;
    showMsg($("ind-msg"), err.message, "error");
  } finally {
    if (mine === latestPredict) {
      setBusy(false);
      render();
    }
  }
}

function setBusy(busy) {
  $("ind-results").setAttribute("aria-busy", busy ? "true" : "false");
}

function onThreshold() {
  $("ind-threshold-out").textContent = formatNumber(threshold(), 2);
  render();
}

export function render() {
  const has = Boolean(state.scores);
  $("ind-empty").hidden = has;
  $("ind-labels").disabled = !has;
  $("ind-save").disabled = !has || !state.imageId;
  $("ind-reset").disabled = !has;
  document.querySelectorAll("#ind-checks .check-name").forEach((n) => {
    n.textContent = className(n.dataset.label);
  });
  if (!has) {
    document.querySelectorAll("#ind-checks input").forEach((cb) => {
      cb.checked = false;
    });
    $("ind-bars").replaceChildren();
    $("ind-model-used").textContent = "";
    renderChanges();
    return;
  }
  $("ind-model-used").textContent = t("ind.model_used", { v: state.modelVersion ?? "?", file: state.filename });
  renderBars();
  if (!state.edited) tickFromPredictions();
  renderChanges();
}

/** Every class's score, highest first; those under their threshold dimmed (data-above=false). */
function renderBars() {
  const limits = limitsByLabel();
  const score = (label) => state.scores[label] ?? 0;
  const order = [...VOC_CLASSES].sort((a, b) => score(b) - score(a));
  const bars = order.map((label) => barItem({ label, confidence: score(label), limit: limits[label] }));
  const none = order.every((label) => score(label) < limits[label]);
  $("ind-bars").replaceChildren(...(none ? [el("li", { class: "muted", dataset: { testid: "ind-none-above" } }, t("ind.none_above"))] : []), ...bars);
}

export function barItem({ label, confidence, limit }) {
  const fill = el("span", { class: "bar-fill" });
  fill.style.width = `${Math.max(1, Math.round(confidence * 100))}%`;
  const mark = el("span", { class: "bar-mark", title: `${t("common.threshold")} ${formatNumber(limit, 2)}` });
  mark.style.left = `${Math.round(limit * 100)}%`;
  return el(
    "li",
    { class: "bar", dataset: { label, band: band(confidence), score: confidence.toFixed(4), above: confidence >= limit ? "true" : "false" } },
    el("span", { class: "bar-label" }, className(label)),
    el("span", { class: "bar-track bar-marked", role: "presentation" }, fill, mark),
    el("span", { class: "bar-value" }, formatPercent(confidence)),
  );
}

function tickFromPredictions() {
  const limits = limitsByLabel();
  const on = new Set(VOC_CLASSES.filter((label) => (state.scores[label] ?? 0) >= limits[label]));
  document.querySelectorAll("#ind-checks input").forEach((cb) => {
    cb.checked = on.has(cb.value);
  });
}

function checkedLabels() {
  if (!state.scores) return [];
  return [...document.querySelectorAll("#ind-checks input:checked")].map((cb) => cb.value);
}

async function saveCorrection() {
  const labels = checkedLabels();
  const msg = $("ind-msg");
  showMsg(msg, t("ind.saving"));
  $("ind-save").disabled = true;
  try {
    const reply = await postJsonUntilStored("/save_correction", {
      image_id: state.imageId,
      corrected_labels: labels,
      model_version: state.modelVersion,
      threshold: threshold(),
      predicted: predictionsAt(state.scores, 0),
    });
    const names = labels.length ? labels.map(className).join(", ") : t("ind.no_labels");
    showMsg(msg, t("ind.saved", { file: state.filename, labels: names }), "ok");
    signalAutoRetrain(reply.auto_retrain_job);
  } catch (err) {
    showMsg(msg, err.message, "error");
  } finally {
    $("ind-save").disabled = !state.imageId;
  }
}

/** After a retrain: predict the current image again with the new version and list the changes. */
export async function afterRetrain(result) {
  if (!state.file) return;
  if (result.promoted && result.version) {
    showMsg($("ind-msg"), t("ind.repredicting"));
    await waitUntilServed(result.version);
  }
  await repredict();
}

async function repredict() {
  const before = new Set(predictionsAt(state.scores || {}, thresholds()).map((p) => p.label));
  const from = state.modelVersion;
  await predict();
  if (!state.scores) return;
  const after = new Set(predictionsAt(state.scores, thresholds()).map((p) => p.label));
  state.changes = {
    from,
    to: state.modelVersion,
    added: [...after].filter((l) => !before.has(l)),
    removed: [...before].filter((l) => !after.has(l)),
  };
  renderChanges();
}

function renderChanges() {
  const box = $("ind-changes");
  const c = state.changes;
  if (!c) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.hidden = false;
  if (!c.added.length && !c.removed.length) {
    box.replaceChildren(el("p", {}, t("ind.no_changes", { from: c.from ?? "?", to: c.to ?? "?" })));
    return;
  }
  const tag = (label, kind) =>
    el("li", { class: `tag ${kind}`, dataset: { label, change: kind } },
      `${kind === "added" ? "+" : "−"} ${className(label)} (${t(`ind.${kind}`)})`);
  box.replaceChildren(
    el("p", {}, t("ind.changes", { from: c.from ?? "?", to: c.to ?? "?" })),
    el("ul", { class: "tags" }, ...c.added.map((l) => tag(l, "added")), ...c.removed.map((l) => tag(l, "removed"))),
  );
}
