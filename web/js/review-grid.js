// The session's grid view: select many cards (click, shift-click, Ctrl-click, Ctrl+A) and
// set or unset a label on them, or accept every confident card. Each becomes a bulk correction.

import { postJson } from "./api.js";
import { $, el, showMsg } from "./dom.js";
import { className, t } from "./i18n.js";
import { VOC_CLASSES } from "./labels.js";
import { showPhoto } from "./photos.js";
import { predictedOf } from "./review-card.js";

let ctx = null; // {state, reload, open}
const selected = new Set();
let anchor = -1;

export function initGrid(context) {
  ctx = context;
  $("rev-bulk-label").replaceChildren(...VOC_CLASSES.map((label) => el("option", { value: label }, className(label))));
  $("rev-bulk-set").addEventListener("click", () => bulk({ add: [$("rev-bulk-label").value] }));
  $("rev-bulk-unset").addEventListener("click", () => bulk({ remove: [$("rev-bulk-label").value] }));
  $("rev-bulk-confident").addEventListener("click", () => bulk({ confident: true }));
  $("rev-grid").addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "a") {
      e.preventDefault();
      ctx.state.items.forEach((i) => selected.add(i.image_id));
      renderGrid();
    }
  });
}

function labelsOf(item) {
  return item.status === "saved" && item.labels ? item.labels : predictedOf(item, ctx.state.session.threshold);
}

export function renderGrid() {
  const items = ctx.state.items;
  for (const id of [...selected]) if (!items.some((i) => i.image_id === id)) selected.delete(id);
  $("rev-grid").replaceChildren(...items.map((item, index) => tile(item, index)));
  $("rev-selected").textContent = t("rev.selected", { n: selected.size });
  $("rev-bulk-label").querySelectorAll("option").forEach((o) => {
    o.textContent = className(o.value);
  });
  for (const id of ["rev-bulk-set", "rev-bulk-unset"]) $(id).disabled = !selected.size;
}

function tile(item, index) {
  const labels = labelsOf(item);
  return el(
    "li",
    {
      class: "tile rev-tile",
      role: "option",
      "aria-selected": selected.has(item.image_id) ? "true" : "false",
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
  renderGrid();
}

async function bulk(body) {
  const sid = ctx.state.session.id;
  const payload = body.confident ? body : { ...body, image_ids: [...selected] };
  try {
    const reply = await postJson(`/sessions/${sid}/bulk`, payload);
    showMsg($("rev-bulk-msg"), t("rev.bulk_done", { n: reply.saved }), "ok");
    selected.clear();
    await ctx.reload();
  } catch (err) {
    showMsg($("rev-bulk-msg"), err.message, "error");
  }
}
