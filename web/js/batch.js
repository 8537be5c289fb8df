// Batch tab: many images (picked, dropped, or a dropped folder) -> /batch_predict with
// upload progress -> a grid of cards; "Correct" opens the batch as a review session.

import { uploadForm } from "./api.js";
import { $, el, humanSize, showMsg } from "./dom.js";
import { className, formatNumber, formatPercent, serverText, t } from "./i18n.js";
import { VOC_CLASSES, predictionsAt, scoresOf } from "./labels.js";
import { fetchPhotos, forgetRecord, giveUp, loadRecord, saveRecord } from "./batch-store.js";
import { droppedFiles, requestChunks, screenFiles, wireDropZone } from "./uploads.js";

// Requests are split so that none comes near the gateway's body limit (uploads.requestChunks).
const CHUNK_FILES = 16;

// {name, file, url, result: null | {imageId, scores, modelVersion, corrected?} | {error}};
// a tile restored after a reload has file/url null while `restoring`, and for good when `missing`.
const items = [];
let hooks = { onCorrect: () => {}, onModelChanged: () => {} };
let running = false;

export function initBatch(options) {
  hooks = { ...hooks, ...options };
  const input = $("batch-files");
  input.addEventListener("change", () => {
    addFiles([...input.files]);
    input.value = "";
  });
  wireDropZone($("batch-drop"), async (dt) => addFiles(await droppedFiles(dt)));
  $("batch-threshold").addEventListener("input", () => {
    $("batch-threshold-out").textContent = formatNumber(threshold(), 2);
    render();
  });
  $("batch-run").addEventListener("click", run);
  $("batch-csv").addEventListener("click", downloadCsv);
  $("batch-clear").addEventListener("click", clear);
  restore();
}

let restoring = null; // the tiles of the last batch, until the tab is first shown

/** After a reload: the last batch's tiles at once; their photos when the tab is shown. */
function restore() {
  const record = loadRecord();
  if (!record) return;
  if (record.threshold) {
    $("batch-threshold").value = String(record.threshold);
    $("batch-threshold-out").textContent = formatNumber(threshold(), 2);
  }
  items.push(...record.items);
  restoring = record.items;
  render();
}

/** The tab is shown: fetch the restored photos (once). */
export async function showBatch() {
  const waiting = restoring;
  restoring = null;
  if (!waiting) return;
  try {
    await fetchPhotos(waiting, render);
  } catch (err) {
    giveUp(waiting);
    showMsg($("batch-msg"), t("batch.restore_failed", { error: err.message }), "error");
    render();
    return;
  }
  const missing = waiting.filter((it) => it.missing).length;
  if (missing) showMsg($("batch-msg"), t("batch.restored_missing", { n: missing }), "error");
  render();
}

function threshold() {
  return Number($("batch-threshold").value);
}

function addFiles(files) {
  if (running) return;
  const { ok, refused } = screenFiles(files);
  for (const file of ok) items.push({ name: file.name, file, url: URL.createObjectURL(file), result: null });
  showMsg($("batch-msg"), refused.join(" "), refused.length ? "error" : "");
  render();
}

function clear() {
  items.forEach((it) => it.url && URL.revokeObjectURL(it.url));
  items.length = 0;
  forgetRecord();
  showMsg($("batch-msg"), "");
  render();
}

/** The indexes of the items with a photo here, in requests (a restored tile may have none). */
function chunks() {
  const indexes = items.flatMap((it, index) => (it.file ? [index] : []));
  return requestChunks(indexes, { maxFiles: CHUNK_FILES, sizeOf: (index) => items[index].file.size });
}

async function run() {
  running = true;
  render();
  const total = items.reduce((s, it) => s + (it.file?.size ?? 0), 0) || 1;
  let done = 0;
  $("batch-upload").hidden = false;
  const progress = $("batch-progress");
  progress.value = 0;
  for (const chunk of chunks()) {
    const chunkBytes = chunk.reduce((s, i) => s + items[i].file.size, 0);
    $("batch-progress-label").textContent = t("batch.uploading");
    await sendChunk(chunk, (loaded, sent) => {
      progress.value = (done + (sent ? (loaded / sent) * chunkBytes : 0)) / total;
      if (loaded >= sent) $("batch-progress-label").textContent = t("batch.processing");
    });
    done += chunkBytes;
    progress.value = done / total;
    render();
  }
  running = false;
  saveRecord(items, threshold());
  const bad = items.filter((it) => it.result?.error).length;
  showMsg($("batch-msg"), t("batch.done", { ok: items.length - bad, n: items.length, bad }), bad ? "error" : "ok");
  render();
}

async function sendChunk(chunk, onProgress) {
  const form = new FormData();
  chunk.forEach((i) => form.append("files", items[i].file, items[i].file.name));
  form.append("threshold", String(threshold()));
  try {
    const reply = await uploadForm("/batch_predict", form, onProgress);
    const results = reply.results || [];
    chunk.forEach((index, k) => {
      items[index].result = resultOf(results[k], reply.model_version);
    });
    hooks.onModelChanged(reply.model_version);
  } catch (err) {
    chunk.forEach((index) => {
      items[index].result = { error: err.message };
    });
  }
}

function resultOf(r, modelVersion) {
  if (!r) return { error: "?" };
  if (r.error) return { error: r.error, code: r.code }; // translated when shown (the language may change)
  return { imageId: r.image_id, scores: scoresOf(r), modelVersion: r.model_version ?? modelVersion };
}

/** The photos predicted so far: [{file, url, filename, imageId, scores, modelVersion}]. */
export function batchItems() {
  return items
    .filter((it) => it.file && it.result && !it.result.error)
    .map((it) => ({ file: it.file, url: it.url, filename: it.name, ...it.result }));
}

/** A photo of the batch was corrected in the Review tab: its tile says so. */
export function markCorrected(imageId, labels) {
  const it = items.find((i) => i.result?.imageId === imageId);
  if (!it) return;
  it.result.corrected = labels;
  saveRecord(items, threshold());
  render();
}

export function render() {
  const n = items.length;
  const size = items.reduce((s, it) => s + (it.file?.size ?? 0), 0);
  $("batch-selected").textContent = n ? t("batch.selected", { n, size: humanSize(size) }) : "";
  $("batch-run").disabled = running || !items.some((it) => it.file);
  $("batch-clear").disabled = running || !n;
  $("batch-csv").disabled = running || !items.some((it) => it.result);
  if (!running) $("batch-upload").hidden = true;
  $("batch-grid").replaceChildren(...items.map(card));
}

function card(it) {
  const r = it.result;
  const body = [el("p", { class: "card-name", title: it.name }, it.name)];
  if (it.missing) body.push(el("p", { class: "card-error", dataset: { testid: "batch-missing" } }, t("batch.photo_missing")));
  if (r?.error) body.push(el("p", { class: "card-error", role: "alert" }, serverText(r.error, r.code)));
  else if (r?.corrected) body.push(...correctedBody(r));
  else if (r) body.push(...predictedBody(it, r));
  return el("li", { class: "tile", dataset: { filename: it.name, state: tileState(it), imageId: r?.imageId || "", modelVersion: r?.modelVersion ?? "" } },
    photo(it),
    el("div", { class: "tile-body" }, ...body));
}

function tileState(it) {
  if (it.missing) return "missing";
  if (it.restoring) return "restoring";
  if (!it.result) return "pending";
  return it.result.error ? "error" : "ok";
}

function photo(it) {
  if (!it.url) return el("div", { class: "tile-photo-none", "aria-hidden": "true" });
  return el("img", { src: it.url, alt: "", loading: "lazy", onerror: (e) => e.target.classList.add("broken") });
}

function correctedBody(r) {
  return [
    el("p", { class: "muted", dataset: { testid: "batch-corrected" } }, t("batch.corrected")),
    el("ul", { class: "tags" },
      r.corrected.length ? r.corrected.map((l) => el("li", { class: "tag added", dataset: { label: l } }, className(l))) : el("li", { class: "tag none" }, t("batch.none"))),
  ];
}

function predictedBody(it, r) {
  const preds = predictionsAt(r.scores, threshold());
  const tags = el("ul", { class: "tags" },
    preds.length
      ? preds.map((p) => el("li", { class: "tag", dataset: { label: p.label } }, `${className(p.label)} ${formatPercent(p.confidence)}`))
      : el("li", { class: "tag none" }, t("batch.none")));
  const version = el("p", { class: "muted", dataset: { testid: "batch-version" } }, t("common.version", { v: r.modelVersion ?? "?" }));
  if (!it.file) return [tags, version]; // no photo here (yet): nothing to correct it against
  return [tags, version, el("button", {
    type: "button",
    class: "small",
    dataset: { testid: "batch-correct" },
    onclick: () => hooks.onCorrect({ file: it.file, filename: it.name, ...r }),
    "aria-label": `${t("batch.correct")}: ${it.name}`,
  }, t("batch.correct"))];
}

function csvCell(value) {
  let s = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`; // keep spreadsheets from running a filename as a formula
  return /[",\n\r;]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function downloadCsv() {
  const th = threshold();
  const rows = [["filename", "image_id", "model_version", "labels", "error", ...VOC_CLASSES]];
  for (const it of items) {
    const r = it.result || {};
    const labels = r.scores ? predictionsAt(r.scores, th).map((p) => p.label).join(" ") : "";
    const scores = VOC_CLASSES.map((c) => (r.scores && c in r.scores ? r.scores[c].toFixed(4) : ""));
    rows.push([it.name, r.imageId || "", r.modelVersion ?? "", labels, r.error || "", ...scores]);
  }
  const text = rows.map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const a = el("a", { href: url, download: `tagloop-batch-${new Date().toISOString().slice(0, 19).replaceAll(":", "-")}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
