// The session's grid view: select many cards (click, shift-click, Ctrl-click, Ctrl+A) and
// set or unset a label on them, or accept every confident card. Each becomes a bulk correction.
// Virtualised: the grid scrolls in its own box and only the rows in view (and a few around
// them) are in the page, so a session of 5,000 cards scrolls as one of 50.

import { postJson } from "./api.js";
import { $, el, showMsg } from "./dom.js";
import { className, t } from "./i18n.js";
import { VOC_CLASSES } from "./labels.js";
import { showPhoto } from "./photos.js";
import { predictedOf } from "./review-card.js";
import { actionFor } from "./review-keys.js";

const CONFIDENT_LOW = 0.1;
const CONFIDENT_HIGH = 0.9; // the server's "confident" card (review/order.py)
const OVERSCAN_ROWS = 3; // rows drawn above and below the ones in view
let rowHeight = 260; // a row of tiles and the gap under it, in px: measured on the first draw
let drawn = { start: 0, end: 0, cols: 0, length: -1 }; // the tiles in the page now
let ctx = null; // {state, reload, open, close}
const selected = new Set();
let anchor = -1;
let cursor = 0; // the tile the keyboard is on
let lastBulk = null; // {sid, id}: the bulk change the Undo button puts back

export function initGrid(context) {
  ctx = context;
  $("rev-bulk-label").replaceChildren(...VOC_CLASSES.map((label) => el("option", { value: label }, className(label))));
  $("rev-bulk-set").addEventListener("click", () => bulk({ add: [$("rev-bulk-label").value] }));
  $("rev-bulk-unset").addEventListener("click", () => bulk({ remove: [$("rev-bulk-label").value] }));
  $("rev-bulk-confident").addEventListener("click", () => bulk({ confident: true }));
  $("rev-bulk-undo").addEventListener("click", undoBulk);
  let pending = false;
  $("rev-grid").addEventListener("scroll", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      const want = windowOf(ctx.state.items.length);
      if (want.start !== drawn.start || want.end !== drawn.end) renderGrid();
    });
  });
  $("rev-grid").addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "a") {
      e.preventDefault();
      ctx.state.items.forEach((i) => selected.add(i.image_id));
      renderGrid();
    }
  });
}

/** Columns of the grid as laid out now (its resolved tracks). */
function columns() {
  const tracks = getComputedStyle($("rev-grid")).gridTemplateColumns;
  return Math.max(1, tracks && tracks !== "none" ? tracks.split(" ").length : 1);
}

/** The tiles to have in the page for the grid's scroll position: {start, end, cols, rows, first}. */
function windowOf(count) {
  const grid = $("rev-grid");
  const cols = columns();
  const rows = Math.ceil(count / cols);
  const height = grid.clientHeight || window.innerHeight;
  const first = Math.max(0, Math.floor(grid.scrollTop / rowHeight) - OVERSCAN_ROWS);
  const last = Math.min(rows, Math.ceil((grid.scrollTop + height) / rowHeight) + OVERSCAN_ROWS);
  return { start: first * cols, end: Math.min(count, last * cols), cols, rows, first, last };
}

/** Scroll the grid so that the cursor's row is in view. */
function scrollToCursor() {
  const grid = $("rev-grid");
  const top = Math.floor(cursor / columns()) * rowHeight;
  if (top < grid.scrollTop) grid.scrollTop = top;
  else if (top + rowHeight > grid.scrollTop + grid.clientHeight) grid.scrollTop = top + rowHeight - grid.clientHeight;
}

/**
 * A key pressed while the grid is open (review.js takes it before any focused control):
 * arrows move, Space selects, Shift+arrows extend the selection, Enter opens the card,
 * Esc closes the grid. Returns whether the key was the grid's.
 */
export function gridKey(e) {
  const items = ctx.state.items;
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns() };
  if (e.key === "Escape") {
    ctx.close();
    return true;
  }
  if (!items.length) return e.key === "Enter" || e.key === " ";
  cursor = Math.min(Math.max(cursor, 0), items.length - 1);
  if (e.key in moves) {
    cursor = Math.min(Math.max(cursor + moves[e.key], 0), items.length - 1);
    if (e.shiftKey) selected.add(items[cursor].image_id);
  } else if (e.key === " ") {
    const id = items[cursor].image_id;
    if (selected.has(id)) selected.delete(id);
    else selected.add(id);
    anchor = cursor;
  } else if (e.key === "Enter") {
    ctx.open(cursor);
    return true;
  } else {
    const hit = actionFor(e.key);
    if (hit?.name === "undo") {
      undoBulk(); // in the grid, the undo key takes back the last bulk change
      return true;
    }
    if (hit?.kind !== "class") return false;
    if (selected.size) labelKey(hit.name);
    return true;
  }
  scrollToCursor();
  renderGrid();
  return true;
}

function labelsOf(item) {
  return item.status === "saved" && item.labels ? item.labels : predictedOf(item, ctx.state.session.threshold);
}

export function renderGrid() {
  const items = ctx.state.items;
  const ids = new Set(items.map((i) => i.image_id));
  for (const id of [...selected]) if (!ids.has(id)) selected.delete(id);
  const grid = $("rev-grid");
  let win = windowOf(items.length);
  for (let tries = 0; tries < 2; tries++) {
    const tiles = items.slice(win.start, win.end).map((item, k) => tile(item, win.start + k));
    grid.replaceChildren(spacer(win.first), ...tiles, spacer(win.rows - win.last));
    const measured = rowHeightNow(grid);
    if (!measured || Math.abs(measured - rowHeight) < 1) break;
    rowHeight = measured; // the first draw, or the tiles changed size: place them again
    win = windowOf(items.length);
  }
  drawn = { start: win.start, end: win.end, cols: win.cols, length: items.length };
  grid.dataset.count = String(items.length);
  const active = Math.min(cursor, items.length - 1);
  if (items.length && active >= win.start && active < win.end) grid.setAttribute("aria-activedescendant", `rev-tile-${active}`);
  else grid.removeAttribute("aria-activedescendant");
  $("rev-selected").textContent = t("rev.selected", { n: selected.size });
  $("rev-bulk-label").querySelectorAll("option").forEach((o) => {
    o.textContent = className(o.value);
  });
  for (const id of ["rev-bulk-set", "rev-bulk-unset"]) $(id).disabled = !selected.size;
}

/** What holds the place of `rows` rows of tiles not in the page (nothing for none). */
function spacer(rows) {
  if (rows <= 0) return "";
  const node = el("li", { class: "rev-spacer", role: "presentation", "aria-hidden": "true" });
  node.style.height = `${rows * rowHeight - gapOf($("rev-grid"))}px`; // the grid adds one gap after it
  return node;
}

function gapOf(grid) {
  return parseFloat(getComputedStyle(grid).rowGap) || 0;
}

/** A row of tiles and the gap under it, as laid out now (0 when nothing is laid out). */
function rowHeightNow(grid) {
  const tile = grid.querySelector(".rev-tile");
  if (!tile || !tile.offsetHeight) return 0;
  return tile.offsetHeight + gapOf(grid);
}

function tile(item, index) {
  const labels = labelsOf(item);
  return el(
    "li",
    {
      role: "option",
      "aria-selected": selected.has(item.image_id) ? "true" : "false",
      id: `rev-tile-${index}`,
      class: index === cursor ? "tile rev-tile is-cursor" : "tile rev-tile",
      dataset: { filename: item.filename || "", imageId: item.image_id, status: item.status },
      onclick: (e) => pick(e, index),
      ondblclick: () => ctx.open(index),
    },
    photo(item.image_id),
    el(
      "div",
      { class: "tile-body" },
      el("p", { class: "card-name", title: item.filename || "" }, item.filename || item.image_id.slice(0, 12)),
      el("p", { class: "muted" }, t(`rev.status.${item.status}`)),
      el("ul", { class: "tags" }, labels.length ? labels.map((l) => el("li", { class: "tag" }, className(l))) : el("li", { class: "tag none" }, t("batch.none"))),
    ),
  );
}

function photo(imageId) {
  const img = el("img", { alt: "", loading: "lazy" });
  showPhoto(img, imageId, { lazy: true });
  return img;
}

function pick(e, index) {
  const items = ctx.state.items;
  const id = items[index].image_id;
  if (e.shiftKey && anchor >= 0) {
    const [a, b] = anchor < index ? [anchor, index] : [index, anchor];
    for (let k = a; k <= b; k++) selected.add(items[k].image_id);
  } else if (e.ctrlKey || e.metaKey) {
    if (selected.has(id)) selected.delete(id);
    else selected.add(id);
    anchor = index;
  } else {
    selected.clear();
    selected.add(id);
    anchor = index;
  }
  cursor = index;
  renderGrid();
}

function isConfident(item) {
  return Object.values(item.scores).every((p) => p > CONFIDENT_HIGH || p < CONFIDENT_LOW);
}

/** The question asked before a bulk write, with the number of cards it changes. */
function question(body) {
  if (body.confident) {
    const n = ctx.state.items.filter((i) => i.status !== "saved" && isConfident(i)).length;
    return t("rev.bulk_ask_confident", { n });
  }
  const [label] = body.add || body.remove;
  return t(body.add ? "rev.bulk_ask_set" : "rev.bulk_ask_unset", { n: selected.size, label: className(label) });
}

/** Ask first; resolves true when the person confirms. */
function confirmBulk(text) {
  const dialog = $("rev-bulk-dialog");
  $("rev-bulk-question").textContent = text;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

async function bulk(body) {
  const sid = ctx.state.session.id;
  if (!(await confirmBulk(question(body)))) return;
  const payload = body.confident ? body : { ...body, image_ids: [...selected] };
  try {
    const reply = await postJson(`/sessions/${sid}/bulk`, payload);
    lastBulk = reply.bulk_id ? { sid, id: reply.bulk_id } : null;
    showMsg($("rev-bulk-msg"), t("rev.bulk_done", { n: reply.saved }), "ok");
    $("rev-bulk-undo").hidden = !lastBulk;
    await ctx.reload();
  } catch (err) {
    showMsg($("rev-bulk-msg"), err.message, "error");
  }
}

/** One Undo for the last bulk change: every card back as it was, its corrections deleted. */
async function undoBulk() {
  if (!lastBulk) return;
  const { sid, id } = lastBulk;
  try {
    const reply = await postJson(`/sessions/${sid}/bulk/${id}/undo`, {});
    lastBulk = null;
    $("rev-bulk-undo").hidden = true;
    showMsg($("rev-bulk-msg"), t("rev.bulk_undone", { n: reply.restored }), "ok");
    await ctx.reload();
  } catch (err) {
    showMsg($("rev-bulk-msg"), err.message, "error");
  }
}

/** A label's hotkey on the selection: unset it when every selected card has it, else set it. */
function labelKey(label) {
  const chosen = ctx.state.items.filter((i) => selected.has(i.image_id));
  const all = chosen.every((i) => labelsOf(i).includes(label));
  $("rev-bulk-label").value = label;
  bulk(all ? { remove: [label] } : { add: [label] });
}
