// Review tab: a session of photos on the server, one card at a time, driven by the keyboard.
// The whole session is held in memory, so the next card is drawn at once; saves go to the
// server in the background (a failed one is shown and its card put back). Writes to one photo
// go out one after another in the order they were made: a save, its undo and the save after it
// travel on different connections and would otherwise land in any order.

import { getJson, postJson, postJsonUntilStored, request } from "./api.js";
import { $, el, showMsg } from "./dom.js";
import { initExports, syncExports } from "./exports.js";
import { t } from "./i18n.js";
import { drawCard, drawPlaceholder, predictedOf, setChecks } from "./review-card.js";
import { initGrid, renderGrid } from "./review-grid.js";
import { actionFor, initKeysDialog, keyLabel, keyOf } from "./review-keys.js";
import { initSessionRetrain } from "./review-retrain.js";
import { prefetchPhoto } from "./photos.js";
import { uploadToSession, wireUploadInputs } from "./review-upload.js";
import { screenFiles } from "./uploads.js";

const SESSION_KEY = "tagloop.review.session";
const CURRENT_KEY = "tagloop.review.current.";
const PREFETCH = 3;
const PATCH_DELAY_MS = 400;

const state = {
  sessions: [],
  session: null,
  items: [],
  index: -1,
  edits: new Map(), // image_id -> Set of labels the person ticked (a touched card)
  undo: [], // image_ids saved on this page, newest last
  files: new Map(), // image_id -> object URL of the local file
  waiting: null, // filename shown as a placeholder while the first photo is predicted
  saveTimes: [],
  inFlight: 0, // writes sent and not yet answered
  writes: new Map(), // image_id -> the newest write to it; the next one waits for it
  opening: Promise.resolve(), // the session being created or opened; uploads wait for it
};
let hooks = { onSaved: () => {}, onModelChanged: () => {} };
let patchTimer = null;
let openSeq = 0; // only the newest openSession may draw (a click on "New" beats a slower load)

function track(promise) {
  state.opening = promise.catch(() => {});
  return promise;
}

export function initReview(options) {
  hooks = { ...hooks, ...options };
  wireUploadInputs(addFiles);
  wireButtons();
  initKeysDialog({ onChanged: draw });
  initExports(() => state.session?.id ?? null);
  initGrid({ state, reload: () => openSession(state.session.id), open: (i) => show(i) });
  initSessionRetrain({ state, reload: () => openSession(state.session.id, { keep: true }) });
  document.addEventListener("keydown", onKey);
}

/** The tab is shown: list the sessions and open the last one. */
export async function showReview() {
  const before = openSeq;
  await loadSessions();
  if (openSeq !== before) return; // a session was opened meanwhile (New, Batch's Correct)
  const wanted = Number(localStorage.getItem(SESSION_KEY));
  const found = state.sessions.find((s) => s.id === wanted) || state.sessions[0];
  if (found && found.id !== state.session?.id) await track(openSession(found.id));
  else draw();
}

async function loadSessions() {
  try {
    state.sessions = (await getJson("/sessions")).sessions;
  } catch (err) {
    showMsg($("rev-upload-msg"), err.message, "error");
  }
  const select = $("rev-session");
  select.replaceChildren(
    el("option", { value: "" }, t("rev.no_session")),
    ...state.sessions.map((s) => el("option", { value: String(s.id) }, `${s.name} · ${s.progress.saved} / ${s.progress.total}`)),
  );
  select.value = state.session ? String(state.session.id) : "";
}

export async function openSession(id, { keep = false, imageId = null } = {}) {
  const mine = ++openSeq;
  const reply = await getJson(`/sessions/${id}`);
  if (mine !== openSeq) return;
  const currentId = imageId || (keep ? currentItem()?.image_id : localStorage.getItem(CURRENT_KEY + id));
  state.session = reply.session;
  state.items = reply.items;
  localStorage.setItem(SESSION_KEY, String(id));
  const at = state.items.findIndex((i) => i.image_id === currentId);
  state.index = at >= 0 ? at : firstOpen(0);
  syncControls();
  $("rev-session").value = String(id);
  draw();
}

/** Create a session (optionally with items already predicted), and open it. */
export async function createSession(name, items = [], files = new Map(), current = null) {
  const body = { name, items, order: $("rev-order").value, threshold: slider() };
  const reply = await postJson("/sessions", body);
  for (const [id, url] of files) state.files.set(id, url);
  localStorage.setItem(SESSION_KEY, String(reply.session.id));
  if (current) localStorage.setItem(CURRENT_KEY + reply.session.id, current);
  await loadSessions();
  return reply.session.id;
}

function syncControls() {
  $("rev-order").value = state.session.order;
  $("rev-threshold").value = String(state.session.threshold);
  $("rev-threshold-out").textContent = state.session.threshold.toFixed(2);
  $("rev-auto").value = String(state.session.auto_retrain_after);
  syncExports();
}

function slider() {
  return Number($("rev-threshold").value);
}

function currentItem() {
  return state.items[state.index] || null;
}

/** The first pending card from `start` in order (wrapping), else the first skipped one, else -1. */
function firstOpen(start) {
  const n = state.items.length;
  for (const wanted of ["pending", "skipped"]) {
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      if (state.items[i].status === wanted) return i;
    }
  }
  return -1;
}

function checkedFor(item) {
  if (state.edits.has(item.image_id)) return state.edits.get(item.image_id);
  if (item.status === "saved" && item.labels) return new Set(item.labels);
  return new Set(predictedOf(item, slider()));
}

/** The local file's URL when this page uploaded the photo, else null (the server's copy). */
function imageUrl(item) {
  return state.files.get(item.image_id) || null;
}

function draw() {
  const has = Boolean(state.session);
  $("rev-grid-box").hidden = !has || $("rev-view").getAttribute("aria-pressed") !== "true";
  const item = currentItem();
  $("rev-done").hidden = !has || Boolean(item) || Boolean(state.waiting) || !state.items.length;
  if (state.waiting && !item) drawPlaceholder(state.waiting);
  else if (!item || !$("rev-grid-box").hidden) $("rev-card").hidden = true;
  else {
    drawCard(item, { checked: checkedFor(item), slider: slider(), imageUrl: imageUrl(item), onToggle: toggle });
    localStorage.setItem(CURRENT_KEY + state.session.id, item.image_id);
    prefetch();
  }
  $("rev-actions").hidden = $("rev-card").hidden;
  $("rev-accept-key").textContent = keyLabel(keyOf("accept"));
  $("rev-undo-key").textContent = keyLabel(keyOf("undo"));
  $("rev-undo").disabled = !state.undo.length;
  $("rev-prev").disabled = !item || state.index <= 0;
  drawProgress();
  if (!$("rev-grid-box").hidden) renderGrid();
}

function prefetch() {
  for (let k = 1; k <= PREFETCH; k++) {
    const next = state.items[state.index + k];
    if (next && !imageUrl(next)) prefetchPhoto(next.image_id);
  }
}

function drawProgress() {
  if (!state.session) {
    $("rev-progress").textContent = "";
    return;
  }
  const total = state.items.length;
  const saved = state.items.filter((i) => i.status === "saved").length;
  const left = total - saved;
  const per = localPace() ?? state.session.progress.seconds_per_item;
  const eta = per && left ? ` · ${t("rev.eta", { m: Math.max(1, Math.round((per * left) / 60)) })}` : "";
  $("rev-progress").textContent = `${t("rev.progress", { done: saved, total })}${eta}`;
  $("rev-progress").dataset.saved = String(saved);
  $("rev-progress").dataset.pending = String(state.inFlight);
  const option = $("rev-session").selectedOptions[0];
  if (option?.value) option.textContent = `${state.session.name} · ${saved} / ${total}`;
}

function localPace() {
  const times = state.saveTimes.slice(-20);
  if (times.length < 3) return null;
  return (times[times.length - 1] - times[0]) / 1000 / (times.length - 1);
}

function toggle(label) {
  const item = currentItem();
  if (!item) return;
  const checked = new Set(checkedFor(item));
  if (checked.has(label)) checked.delete(label);
  else checked.add(label);
  state.edits.set(item.image_id, checked);
  setChecks(checked);
}

function show(index) {
  state.index = index;
  $("rev-view").setAttribute("aria-pressed", "false");
  draw();
  $("rev-card").focus({ preventScroll: true });
}

/** Send one write to a photo of the session, after every earlier write to the same photo. */
async function send(imageId, body) {
  const url = `/sessions/${state.session.id}/items/${imageId}`;
  const earlier = state.writes.get(imageId);
  const write = (async () => {
    await earlier?.catch(() => {});
    return postJsonUntilStored(url, body, { keepalive: true });
  })();
  state.writes.set(imageId, write);
  state.inFlight += 1;
  drawProgress();
  try {
    return await write;
  } finally {
    state.inFlight -= 1;
    if (state.writes.get(imageId) === write) state.writes.delete(imageId);
    drawProgress();
  }
}

async function save(labels) {
  const item = currentItem();
  if (!item || $("rev-save").disabled) return;
  const before = { status: item.status, labels: item.labels };
  Object.assign(item, { status: "saved", labels: [...labels] });
  state.edits.delete(item.image_id);
  state.undo.push(item.image_id);
  state.saveTimes.push(Date.now());
  show(firstOpen(state.index + 1));
  showMsg($("rev-msg"), "");
  try {
    const reply = await send(item.image_id, { status: "saved", labels });
    state.session.progress = reply.progress;
    hooks.onSaved(item.image_id, labels);
    if (reply.auto_retrain_job) document.dispatchEvent(new CustomEvent("tagloop:auto-retrain", { detail: reply.auto_retrain_job }));
  } catch (err) {
    Object.assign(item, before);
    state.undo = state.undo.filter((id) => id !== item.image_id);
    showMsg($("rev-msg"), `${item.filename}: ${err.message}`, "error");
    drawProgress();
  }
}

async function undo() {
  const imageId = state.undo.pop();
  const index = state.items.findIndex((i) => i.image_id === imageId);
  if (index < 0) return;
  const item = state.items[index];
  state.edits.set(imageId, new Set(item.labels || []));
  Object.assign(item, { status: "pending", labels: null });
  show(index);
  try {
    await send(imageId, { status: "pending" });
    showMsg($("rev-msg"), t("rev.undone", { file: item.filename }));
  } catch (err) {
    showMsg($("rev-msg"), err.message, "error");
  }
}

function skip(step) {
  const item = currentItem();
  const index = state.index + step;
  if (!item || index < 0 || index >= state.items.length) return;
  if (step > 0 && item.status === "pending") {
    item.status = "skipped";
    send(item.image_id, { status: "skipped" }).catch((err) => showMsg($("rev-msg"), err.message, "error"));
  }
  show(index);
}

function reset() {
  const item = currentItem();
  if (!item) return;
  state.edits.delete(item.image_id);
  setChecks(new Set(predictedOf(item, slider())));
}

const ACTION_RUN = {
  save: () => save([...checkedFor(currentItem() || { scores: {} })]),
  accept: () => currentItem() && save(predictedOf(currentItem(), slider())),
  next: () => skip(1),
  prev: () => skip(-1),
  reset: () => reset(),
  undo: () => state.undo.length && undo(),
};

function onKey(e) {
  if ($("panel-review").hidden || document.querySelector("dialog[open]") || !state.session) return;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const target = e.target;
  if (target.matches?.("input[type=text], input[type=number], input[type=range], select, textarea")) return;
  if (target.closest?.("[role=tablist], .topbar")) return; // arrows there move between tabs
  if (!$("rev-grid-box").hidden) return;
  const hit = actionFor(e.key);
  if (!hit) return;
  if (hit.name === "save" && target.matches?.("button:not(#rev-save), a")) return; // Enter on a button clicks it
  e.preventDefault();
  if (hit.kind === "class") {
    if (!$("rev-save").disabled) toggle(hit.name);
  } else ACTION_RUN[hit.name]();
}

function wireButtons() {
  $("rev-save").addEventListener("click", ACTION_RUN.save);
  $("rev-accept").addEventListener("click", ACTION_RUN.accept);
  $("rev-next").addEventListener("click", ACTION_RUN.next);
  $("rev-prev").addEventListener("click", ACTION_RUN.prev);
  $("rev-reset").addEventListener("click", ACTION_RUN.reset);
  $("rev-undo").addEventListener("click", ACTION_RUN.undo);
  $("rev-card").tabIndex = -1;
  $("rev-new").addEventListener("click", () => track(createSession("").then((id) => openSession(id))));
  $("rev-session").addEventListener("change", (e) => e.target.value && openSession(Number(e.target.value)));
  $("rev-order").addEventListener("change", () => patchSession({ order: $("rev-order").value }, true));
  $("rev-auto").addEventListener("change", () => patchSession({ auto_retrain_after: Math.max(0, Number($("rev-auto").value) || 0) }));
  $("rev-threshold").addEventListener("input", () => {
    $("rev-threshold-out").textContent = slider().toFixed(2);
    if (!state.session) return;
    state.session.threshold = slider();
    draw(); // untouched cards follow the slider; touched ones keep their ticks
    clearTimeout(patchTimer);
    patchTimer = setTimeout(() => patchSession({ threshold: slider() }, false), PATCH_DELAY_MS);
  });
  $("rev-view").addEventListener("click", () => {
    const grid = $("rev-view").getAttribute("aria-pressed") !== "true";
    $("rev-view").setAttribute("aria-pressed", String(grid));
    draw();
  });
}

async function patchSession(body, reorder) {
  if (!state.session) return;
  try {
    await request(`/sessions/${state.session.id}`, { method: "PATCH", json: body });
    if (reorder) await openSession(state.session.id, { keep: true });
  } catch (err) {
    showMsg($("rev-msg"), err.message, "error");
  }
}

/** Upload photos into the open session (a new one when none is open). */
export async function addFiles(files) {
  const { ok, refused } = screenFiles(files);
  showMsg($("rev-upload-msg"), refused.join(" "), refused.length ? "error" : "");
  if (!ok.length) return;
  await state.opening;
  if (!state.session) await track(createSession(ok[0].webkitRelativePath?.split("/")[0] || "").then((id) => openSession(id)));
  const sid = state.session.id;
  if (!currentItem()) state.waiting = ok[0].name;
  draw();
  const errors = [...refused];
  await uploadToSession(sid, ok, {
    onProgress: (done, total) => showMsg($("rev-upload-msg"), t("rev.uploaded", { done, total })),
    onChunk: async ({ items, files: byId, errors: bad }) => {
      errors.push(...bad);
      for (const [id, file] of Object.entries(byId)) state.files.set(id, URL.createObjectURL(file));
      if (state.session?.id !== sid || !items.length) return;
      const wasEmpty = !currentItem();
      state.waiting = null;
      await openSession(sid, { keep: !wasEmpty });
    },
  });
  state.waiting = null;
  draw();
  showMsg($("rev-upload-msg"), errors.length ? errors.join(" ") : t("rev.upload_done", { n: ok.length }), errors.length ? "error" : "ok");
  loadSessions();
}

export function render() {
  if (state.session) loadSessions();
  draw();
}
