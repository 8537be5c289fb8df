// One review card: the photo large, and the 20 classes as rows sorted by score, each with
// its bar (a mark at its threshold), score, checkbox and hotkey.

import { $, band, el } from "./dom.js";
import { className, formatNumber, formatPercent, t } from "./i18n.js";
import { VOC_CLASSES } from "./labels.js";
import { showPhoto } from "./photos.js";
import { keyLabel, keyOf } from "./review-keys.js";

/** Per-class thresholds of an item: the model's own where it has them, else the slider's. */
export function thresholdsOf(item, slider) {
  const own = item?.thresholds || {};
  const out = {};
  for (const label of VOC_CLASSES) out[label] = typeof own[label] === "number" ? own[label] : slider;
  return out;
}

/** The classes at or above their thresholds. */
export function predictedOf(item, slider) {
  const limits = thresholdsOf(item, slider);
  return VOC_CLASSES.filter((label) => (item?.scores?.[label] ?? 0) >= limits[label]);
}

/** Draw `item` with `checked` (a Set of labels); onToggle(label) when a box changes. */
export function drawCard(item, { checked, slider, imageUrl, onToggle, landing = false }) {
  const card = $("rev-card");
  card.hidden = false;
  card.dataset.filename = item.filename || "";
  card.dataset.imageId = item.image_id;
  card.dataset.status = item.status;
  card.removeAttribute("aria-busy");
  $("rev-wait").hidden = true;
  const img = $("rev-img");
  if (!imageUrl) showPhoto(img, item.image_id);
  else if (img.getAttribute("src") !== imageUrl) {
    img.dataset.photo = "";
    img.src = imageUrl;
  }
  img.alt = item.filename || "";
  img.hidden = false;
  $("rev-caption").textContent = caption(item, landing);
  const limits = thresholdsOf(item, slider);
  const order = [...VOC_CLASSES].sort((a, b) => (item.scores[b] ?? 0) - (item.scores[a] ?? 0));
  $("rev-rows").replaceChildren(...order.map((label) => row(label, item.scores[label] ?? 0, limits[label], checked, onToggle)));
  $("rev-save").disabled = false;
  $("rev-accept").disabled = false;
  $("rev-reset").disabled = false;
}

/** `landing`: a save of this card is still on its way (kept and retried while the server is away). */
function caption(item, landing) {
  const saved = landing ? "rev.status.saving" : "rev.status.saved";
  const status = item.status === "saved" ? ` · ${t(saved)}` : item.status === "skipped" ? ` · ${t("rev.status.skipped")}` : "";
  return `${item.filename || item.image_id.slice(0, 12)} · ${t("common.version", { v: item.model_version ?? "?" })}${status}`;
}

function row(label, score, limit, checked, onToggle) {
  const key = keyOf(label);
  const fill = el("span", { class: "bar-fill" });
  fill.style.width = `${Math.max(1, Math.round(score * 100))}%`;
  const mark = el("span", { class: "bar-mark", title: `${t("common.threshold")} ${formatNumber(limit, 2)}` });
  mark.style.left = `${Math.round(limit * 100)}%`;
  const box = el("input", {
    type: "checkbox",
    id: `rev-cb-${label}`,
    value: label,
    "aria-keyshortcuts": key,
    onchange: () => onToggle(label),
  });
  box.checked = checked.has(label);
  return el(
    "li",
    { class: "rev-row", dataset: { label, band: band(score), above: score >= limit ? "true" : "false" } },
    el("label", { class: "rev-check", for: `rev-cb-${label}` }, box, el("span", { class: "check-name" }, className(label))),
    el("span", { class: "bar-track bar-marked", role: "presentation" }, fill, mark),
    el("span", { class: "bar-value" }, formatPercent(score)),
    el("kbd", { class: "hotkey", "aria-hidden": "true" }, keyLabel(key)),
  );
}

/** While a photo is being uploaded and predicted: a placeholder, and nothing can be saved. */
export function drawPlaceholder(filename) {
  const card = $("rev-card");
  card.hidden = false;
  card.dataset.filename = filename || "";
  card.dataset.imageId = "";
  card.dataset.status = "predicting";
  card.setAttribute("aria-busy", "true");
  $("rev-img").hidden = true;
  $("rev-img").removeAttribute("src");
  $("rev-wait").hidden = false;
  $("rev-caption").textContent = filename || "";
  $("rev-rows").replaceChildren();
  for (const id of ["rev-save", "rev-accept", "rev-reset"]) $(id).disabled = true;
}

/** Set the checkboxes on screen to `checked` without redrawing the rows. */
export function setChecks(checked) {
  document.querySelectorAll("#rev-rows input[type=checkbox]").forEach((box) => {
    box.checked = checked.has(box.value);
  });
}
