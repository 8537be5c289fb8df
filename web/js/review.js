// Review tab: a session of photos on the server, one card at a time, driven by the keyboard.
// The whole session is held in memory, so the next card is drawn at once; saves go to the
// server in the background (a failed one is shown and its card put back). Writes to one photo
// go out one after another in the order they were made: a save, its undo and the save after it
// travel on different connections and would otherwise land in any order.

import { getJson, postJson, postJsonUntilStored, request } from "./api.js";
import { signalAutoRetrain } from "./jobs.js";
import { $, el, showMsg } from "./dom.js";
import { initExports, syncExports } from "./exports.js";
import { formatNumber, sessionName, t } from "./i18n.js";
import { drawCard, drawPlaceholder, predictedOf, setChecks } from "./review-card.js";
import { gridKey, initGrid, renderGrid } from "./review-grid.js";
import { actionFor, initKeysDialog, keyLabel, keyOf } from "./review-keys.js";
import { initSessionRetrain } from "./review-retrain.js";
import { prefetchPhoto } from "./photos.js";
import { claim, clientId, holds, POLL_MS, release, renewDue } from "./review-share.js";
import { uploadToSession, wireUploadInputs } from "./review-upload.js";
import { assignment } from "./team.js";
import { screenFiles } from "./uploads.js";

const SESSION_KEY = "tagloop.review.session";
const CURRENT_KEY = "tagloop.review.current.";
const PREFETCH = 3;
const PATCH_DELAY_MS = 400;
const REREAD_MS = 2000; // while uploading, the session is read again at most this often

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
  uploadLeft: 0, // photos chosen and not yet uploaded and predicted
  refreshing: false, // a poll is on its way
  etag: null, // the ETag of the last session read (a poll of an unchanged session gets 304)
  answers: 0, // counts the writes answered by the server (a clock for `local`)
  local: new Map(), // image_id -> {status, labels, answered}: this page's change, until the server is known to have it
};
let hooks = { onSaved: () => {}, onModelChanged: () => {} };
let patchTimer = null;
let listSeq = 0; // only the newest session list may draw (a slow first load must not drop a new session)
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
  initExports(() => state.session?.id ?? null, () => Promise.allSettled([...state.writes.values()]));
  initGrid({ state, reload: () => openSession(state.session.id, { keep: true }), open: (i) => show(i), close: () => show(state.index) });
  initSessionRetrain({ state, reload: () => openSession(state.session.id, { keep: true }) });
  document.addEventListener("keydown", onKey, { capture: true });
  setInterval(refresh, POLL_MS);
  // focus moves (and dialogs close) all over the page: the sign follows them
  document.addEventListener("focusin", drawKeysSign);
  document.addEventListener("focusout", () => setTimeout(drawKeysSign, 0));
  document.addEventListener("close", () => setTimeout(focusWork, 0), { capture: true });
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
  const mine = ++listSeq;
  try {
    const { sessions } = await getJson("/sessions");
    if (mine !== listSeq) return; // a newer list was asked for meanwhile (it has a session just made)
    state.sessions = sessions;
  } catch (err) {
    showMsg($("rev-upload-msg"), err.message, "error");
  }
  if (mine !== listSeq) return;
  const select = $("rev-session");
  select.replaceChildren(
    el("option", { value: "" }, t("rev.no_session")),
    ...state.sessions.map((s) => el("option", { value: String(s.id) }, `${sessionName(s.name)} · ${count(s.progress.saved)} / ${count(s.progress.total)}`)),
  );
  select.value = state.session ? String(state.session.id) : "";
}

export async function openSession(id, { keep = false, imageId = null, first = false } = {}) {
  const mine = ++openSeq;
  const asked = state.answers;
  const { data: reply, etag } = await request(sessionPath(id));
  if (mine !== openSeq) return;
  state.etag = etag;
  const currentId = first ? null : imageId || (keep ? currentItem()?.image_id : localStorage.getItem(CURRENT_KEY + id));
  if (state.session?.id !== id) state.local.clear();
  state.session = reply.session;
  state.items = withLocal(reply.items, asked);
  localStorage.setItem(SESSION_KEY, String(id));
  const at = state.items.findIndex((i) => i.image_id === currentId);
  state.index = at >= 0 ? at : firstOpen(0);
  syncControls();
  $("rev-session").value = String(id);
  draw();
  holdShown();
}

function sessionPath(id) {
  return `/sessions/${id}?client=${clientId()}`;
}

/**
 * Every POLL_MS (1 s) while the tab is shown: the session as the server has it now (the other
 * browsers' saves, which cards they hold), merged under this page's own newer changes. The
 * card on screen stays; the held leases are renewed. The poll sends the last reply's ETag:
 * an unchanged session answers 304 with no body (a 5,000-card session is 2.5 MB).
 */
async function refresh() {
  if (!state.session || $("panel-review").hidden || document.hidden || state.refreshing) return;
  const sid = state.session.id;
  const seq = openSeq;
  const asked = state.answers;
  state.refreshing = true;
  try {
    const { status, data: reply, etag } = await request(sessionPath(sid), { ifNoneMatch: state.etag });
    if (seq !== openSeq || state.session?.id !== sid) return;
    if (status === 304) {
      holdShown(); // nothing changed on the server: only the leases to renew
      return;
    }
    state.etag = etag;
    const shown = currentItem();
    const before = signature(state.items);
    state.session = reply.session;
    state.items = withLocal(reply.items, asked);
    const at = shown ? state.items.findIndex((i) => i.image_id === shown.image_id) : -1;
    if (at >= 0 && !state.items[at].leased) {
      state.index = at;
      if (signature(state.items) !== before) {
        drawProgress();
        if (!$("rev-grid-box").hidden) renderGrid();
      }
    } else {
      const next = firstOpen(0); // nothing on screen (or taken meanwhile): the first free card
      if (next !== state.index || signature(state.items) !== before) {
        state.index = next;
        draw();
      }
    }
    holdShown();
  } catch {
    // polling again in a moment is the answer to a failed poll
  } finally {
    state.refreshing = false;
  }
}

/** What a poll may change: which cards there are, their status and labels, who holds them. */
function signature(items) {
  return items.map((i) => `${i.image_id}:${i.status}:${i.leased ? 1 : 0}:${(i.labels || []).join()}`).join("|");
}

/**
 * Lease the card on screen to this browser, and the one after it (so that the next card shows
 * at once). When another browser has the card on screen, move on to the first free one.
 */
async function holdShown() {
  const sid = state.session?.id;
  const item = currentItem();
  if (!sid || !item) return;
  if ((!holds(item.image_id) || renewDue(item.image_id)) && !(await claim(sid, item))) {
    if (currentItem() !== item) return;
    showMsg($("rev-msg"), t("rev.leased_elsewhere", { file: item.filename || "" }));
    show(firstOpen(0));
    return;
  }
  const ahead = nextFree(item);
  if (ahead && (!holds(ahead.image_id) || renewDue(ahead.image_id))) await claim(sid, ahead);
}

/** The card a save would show after `item`: the first pending one in order that is not `item`. */
function nextFree(item) {
  return state.items.find((i) => i !== item && i.status === "pending" && !i.leased) || null;
}

/** Create a session (optionally with items already predicted), and open it. */
export async function createSession(name, { items = [], files = new Map(), current = null, assign = {} } = {}) {
  const body = { name, items, order: $("rev-order").value, threshold: slider(), ...assign };
  const reply = await postJson("/sessions", body);
  for (const [id, url] of files) state.files.set(id, url);
  localStorage.setItem(SESSION_KEY, String(reply.session.id));
  if (current) localStorage.setItem(CURRENT_KEY + reply.session.id, current);
  await loadSessions();
  return reply.session.id;
}

/** The session list again, with one made elsewhere (app.js). */
export const refreshSessions = loadSessions;

function syncControls() {
  $("rev-order").value = state.session.order;
  $("rev-threshold").value = String(state.session.threshold);
  $("rev-threshold-out").textContent = formatNumber(state.session.threshold, 2);
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
      if (state.items[i].status === wanted && !state.items[i].leased) return i;
    }
  }
  return -1;
}

/** Note a change this page made to a card, so that a reply read before the server had it cannot undo it on screen. */
function noteLocal(item) {
  state.local.set(item.image_id, { status: item.status, labels: item.labels, answered: null });
}

/**
 * The server's cards with this page's newer changes on top: a reply asked for before a save
 * was answered still says "pending", and the card would come back (and be saved twice).
 */
function withLocal(items, asked) {
  for (const [id, change] of state.local) {
    // answered before the read was sent: the server had it when asked
    if (change.answered !== null && change.answered <= asked) state.local.delete(id);
  }
  return items.map((item) => {
    const change = state.local.get(item.image_id);
    return change ? { ...item, status: change.status, labels: change.labels } : item;
  });
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
  $("rev-threshold-out").textContent = formatNumber(slider(), 2);
  $("panel-review").classList.toggle("has-cards", has && (state.items.length > 0 || Boolean(state.waiting)));
  $("rev-grid-box").hidden = !has || $("rev-view").getAttribute("aria-pressed") !== "true";
  const item = currentItem();
  // not "done" while photos upload or another browser still has cards of the session on screen
  const open = state.uploadLeft > 0 || heldElsewhere() > 0;
  $("rev-done").hidden = !has || Boolean(item) || Boolean(state.waiting) || !state.items.length || open;
  if ((state.waiting || state.uploadLeft) && !item) drawPlaceholder(state.waiting || "");
  else if (!item || !$("rev-grid-box").hidden) $("rev-card").hidden = true;
  else {
    drawCard(item, { checked: checkedFor(item), slider: slider(), imageUrl: imageUrl(item), onToggle: toggle, landing: landing(item) });
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
  drawKeysSign();
}

function prefetch() {
  for (let k = 1; k <= PREFETCH; k++) {
    const next = state.items[state.index + k];
    if (next && !imageUrl(next)) prefetchPhoto(next.image_id);
  }
}

/** Whether the card's save is still on its way to the server (it counts as saved only once it lands). */
function landing(item) {
  return item.status === "saved" && state.writes.has(item.image_id);
}

/** Cards not saved yet that another browser has on screen. */
function heldElsewhere() {
  return state.items.filter((i) => i.status !== "saved" && i.leased).length;
}

/** A count as this language writes it ("5,000" in English). */
const count = (n) => formatNumber(n, 0);

function drawProgress() {
  if (!state.session) {
    $("rev-progress").textContent = "";
    return;
  }
  const total = state.items.length;
  const onTheWay = state.items.filter(landing).length;
  const saved = state.items.filter((i) => i.status === "saved").length - onTheWay;
  const left = total - saved - onTheWay;
  const per = localPace() ?? state.session.progress.seconds_per_item;
  const eta = per && left ? ` · ${t("rev.eta", { m: Math.max(1, Math.round((per * left) / 60)) })}` : "";
  const uploading = state.uploadLeft ? ` · ${t("rev.uploading_left", { n: count(state.uploadLeft) })}` : "";
  const held = heldElsewhere();
  const elsewhere = held ? ` · ${t("rev.held_elsewhere", { n: count(held) })}` : "";
  const saving = onTheWay ? ` · ${t("rev.saving", { n: count(onTheWay) })}` : "";
  const names = state.session.annotators?.length ? ` · ${t("rev.assigned", { names: state.session.annotators.join(", ") })}` : "";
  $("rev-progress").textContent = `${t("rev.progress", { done: count(saved), total: count(total) })}${saving}${eta}${uploading}${elsewhere}${names}`;
  $("rev-progress").dataset.uploading = String(state.uploadLeft);
  $("rev-progress").dataset.saved = String(saved);
  $("rev-progress").dataset.pending = String(state.inFlight);
  const option = $("rev-session").selectedOptions[0];
  if (option?.value) option.textContent = `${sessionName(state.session.name)} · ${saved} / ${total}`;
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
  holdShown();
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
    if (state.writes.get(imageId) === write) {
      state.writes.delete(imageId);
      const change = state.local.get(imageId);
      if (change) change.answered = ++state.answers; // the newest write to it is answered
    }
    drawProgress();
  }
}

async function save(labels) {
  const item = currentItem();
  if (!item || $("rev-save").disabled) return;
  const before = { status: item.status, labels: item.labels };
  Object.assign(item, { status: "saved", labels: [...labels] });
  noteLocal(item);
  state.edits.delete(item.image_id);
  state.undo.push(item.image_id);
  state.saveTimes.push(Date.now());
  release(item.image_id);
  show(firstOpen(0)); // the first pending card in the order, wherever the cursor was
  showMsg($("rev-msg"), "");
  try {
    const reply = await send(item.image_id, { status: "saved", labels });
    state.session.progress = reply.progress;
    hooks.onSaved(item.image_id, labels);
    signalAutoRetrain(reply.auto_retrain_job);
  } catch (err) {
    Object.assign(item, before);
    state.local.delete(item.image_id); // the save did not land: the server's word stands
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
  noteLocal(item);
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
    noteLocal(item);
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

/** Fields where a key types or chooses something: keys pressed there stay there. */
const TEXT_ENTRY =
  "input:not([type]), input[type=text], input[type=number], input[type=search], input[type=email], input[type=password], input[type=url], select, textarea, [contenteditable=''], [contenteditable=true]";

/** Whether a key pressed now goes to the card (or the grid): the Review panel is shown, no dialog is open, focus is not in a text field or a select. */
function keysActive(target = document.activeElement) {
  if ($("panel-review").hidden || document.querySelector("dialog[open]")) return false;
  return !target?.matches?.(TEXT_ENTRY);
}

/**
 * Document-level, capture phase: the card's keys are taken before a focused button, tab,
 * slider or file input acts on them (Enter would click "New session" or "Grid", arrows would
 * move the slider or the tabs). Enter and Space never reach such a control while the panel is
 * shown, so no key ever creates a session.
 */
function onKey(e) {
  if (!keysActive(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
  if (!$("rev-grid-box").hidden) {
    if (gridKey(e)) {
      e.preventDefault();
      e.stopPropagation();
    }
    return;
  }
  if (e.key === " " && e.target.matches?.("#rev-rows input[type=checkbox]")) return; // Space ticks the box: it is the card's own
  if (!currentItem()) {
    // No card to act on: the controls keep their keys (Enter opens the file picker, arrows
    // move between tabs), except "New session": a session is never made by a key.
    if ((e.key === "Enter" || e.key === " ") && e.target.id === "rev-new") e.preventDefault();
    else if (state.session && state.undo.length && actionFor(e.key)?.name === "undo") {
      e.preventDefault(); // every card saved: the undo key still brings the last one back
      undo();
    }
    return;
  }
  const hit = actionFor(e.key);
  if (!hit && e.key !== "Enter" && e.key !== " ") return;
  e.preventDefault();
  e.stopPropagation();
  if (!hit) return;
  if (hit.kind === "class") {
    if (!$("rev-save").disabled) toggle(hit.name);
  } else ACTION_RUN[hit.name]();
}

/**
 * Focus back on the work (the card, or the grid when it is open) unless the person is typing
 * somewhere; `from` is the control whose job is done (a select once chosen), which may be left.
 */
function focusWork(from = null) {
  const active = document.activeElement;
  if (!keysActive(from instanceof Element && active === from ? document.body : active)) return;
  const target = !$("rev-grid-box").hidden ? $("rev-grid") : $("rev-card").hidden ? null : $("rev-card");
  target?.focus({ preventScroll: true });
  drawKeysSign();
}

/** The "keys active" sign: shown while a key pressed now acts on the card or the grid. */
function drawKeysSign() {
  const on = keysActive() && Boolean(state.session) && !($("rev-card").hidden && $("rev-grid-box").hidden);
  $("rev-keys-active").hidden = !on;
  $("rev-keys-active").textContent = t($("rev-grid-box").hidden ? "rev.keys_active" : "rev.keys_active_grid");
}

function wireButtons() {
  $("rev-save").addEventListener("click", ACTION_RUN.save);
  $("rev-accept").addEventListener("click", ACTION_RUN.accept);
  $("rev-next").addEventListener("click", ACTION_RUN.next);
  $("rev-prev").addEventListener("click", ACTION_RUN.prev);
  $("rev-reset").addEventListener("click", ACTION_RUN.reset);
  $("rev-undo").addEventListener("click", ACTION_RUN.undo);
  $("rev-card").tabIndex = -1;
  $("rev-new").addEventListener("click", () => track(createSession("", { assign: assignment() }).then((id) => openSession(id)).then(focusWork)));
  $("rev-session").addEventListener("change", async (e) => {
    if (e.target.value) await openSession(Number(e.target.value));
    focusWork(e.target);
  });
  $("rev-order").addEventListener("change", async (e) => {
    await patchSession({ order: $("rev-order").value }, true);
    focusWork(e.target);
  });
  $("rev-auto").addEventListener("change", () => patchSession({ auto_retrain_after: Math.max(0, Number($("rev-auto").value) || 0) }));
  $("rev-threshold").addEventListener("input", () => {
    $("rev-threshold-out").textContent = formatNumber(slider(), 2);
    if (!state.session) return;
    state.session.threshold = slider();
    draw(); // untouched cards follow the slider; touched ones keep their ticks
    clearTimeout(patchTimer);
    patchTimer = setTimeout(() => patchSession({ threshold: slider() }, false), PATCH_DELAY_MS);
  });
  $("rev-threshold").addEventListener("change", focusWork);
  $("rev-view").addEventListener("click", () => {
    const grid = $("rev-view").getAttribute("aria-pressed") !== "true";
    $("rev-view").setAttribute("aria-pressed", String(grid));
    draw();
    focusWork();
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
  if (!state.session) await track(createSession(ok[0].webkitRelativePath?.split("/")[0] || "", { assign: assignment() }).then((id) => openSession(id)));
  const sid = state.session.id;
  if (!currentItem()) state.waiting = ok[0].name;
  state.uploadLeft += ok.length;
  draw();
  const errors = [...refused];
  let counted = 0;
  let reread = 0;
  try {
    await uploadToSession(sid, ok, {
      onProgress: (done, total) => {
        state.uploadLeft -= done - counted;
        counted = done;
        showMsg($("rev-upload-msg"), t("rev.uploaded", { done, total }));
      },
      onChunk: async ({ items, files: byId, errors: bad, last }) => {
        errors.push(...bad);
        for (const [id, file] of Object.entries(byId)) state.files.set(id, URL.createObjectURL(file));
        if (state.session?.id !== sid) return;
        if (!items.length) return draw();
        const wasEmpty = !currentItem();
        state.waiting = null;
        // Reading a session of thousands of cards after every chunk of 8 would cost more than
        // the chunk: a card on screen stays, the 1 s poll brings the new cards, the last chunk reads.
        if (!wasEmpty && !last && performance.now() - reread < REREAD_MS) return;
        reread = performance.now();
        // a card on screen stays there; an empty screen gets the first pending card in the order
        await openSession(sid, wasEmpty ? { first: true } : { keep: true });
        if (wasEmpty) focusWork();
      },
    });
  } finally {
    state.uploadLeft -= ok.length - counted;
  }
  state.waiting = null;
  draw();
  focusWork();
  showMsg($("rev-upload-msg"), errors.length ? errors.join(" ") : t("rev.upload_done", { n: ok.length }), errors.length ? "error" : "ok");
  loadSessions();
}

export function render() {
  if (state.session) loadSessions();
  draw();
}
