// Corrections tab: paged list with labels as tags, filter by label, one image's history.

import { getJson } from "./api.js";
import { loadAgreement } from "./team.js";
import { $, el, showMsg } from "./dom.js";
import { className, formatDate, t } from "./i18n.js";
import { VOC_CLASSES } from "./labels.js";
import { showPhoto } from "./photos.js";

const PAGE = 20;
const view = { offset: 0, total: 0, label: "", annotator: "", rows: [], loaded: false };
let latest = 0; // only the newest request may draw: a slow older reply is dropped

export function initCorrections() {
  fillLabelSelect();
  $("corr-label").addEventListener("change", () => {
    view.label = $("corr-label").value;
    view.offset = 0;
    load();
  });
  $("corr-annotator").addEventListener("change", () => {
    view.annotator = $("corr-annotator").value.trim();
    view.offset = 0;
    load();
  });
  $("corr-refresh").addEventListener("click", () => {
    load();
    loadAgreement();
  });
  $("corr-prev").addEventListener("click", () => {
    view.offset = Math.max(0, view.offset - PAGE);
    load();
  });
  $("corr-next").addEventListener("click", () => {
    view.offset += PAGE;
    load();
  });
}

function fillLabelSelect() {
  const select = $("corr-label");
  const value = select.value;
  select.replaceChildren(
    el("option", { value: "" }, t("corr.all")),
    ...VOC_CLASSES.map((c) => el("option", { value: c }, className(c))),
  );
  select.value = value;
}

/** Called when the tab is shown. */
export function showCorrections() {
  load();
  loadAgreement();
}

export async function load() {
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(view.offset) });
  if (view.label) params.set("label", view.label);
  if (view.annotator) params.set("annotator", view.annotator);
  $("corr-list").setAttribute("aria-busy", "true");
  const mine = ++latest;
  try {
    const data = await getJson(`/get_corrections?${params}`);
    if (mine !== latest) return;
    view.rows = data.corrections || [];
    view.total = data.total ?? view.rows.length;
    view.loaded = true;
    showMsg($("corr-msg"), "");
  } catch (err) {
    if (mine === latest) showMsg($("corr-msg"), err.message, "error");
  } finally {
    if (mine === latest) {
      $("corr-list").setAttribute("aria-busy", "false");
      render();
    }
  }
}

export function render() {
  fillLabelSelect();
  $("corr-total").textContent = view.loaded ? t("corr.total", { n: view.total }) : "";
  if (view.loaded && !view.rows.length) {
    $("corr-list").replaceChildren(el("li", { class: "muted" }, t("corr.empty")));
  } else {
    $("corr-list").replaceChildren(...view.rows.map(row));
  }
  const from = view.total ? view.offset + 1 : 0;
  const to = view.offset + view.rows.length;
  $("corr-page").textContent = view.loaded ? t("corr.page", { from, to, n: view.total }) : "";
  $("corr-prev").disabled = view.offset === 0;
  $("corr-next").disabled = to >= view.total;
}

function labelTags(labels) {
  if (!labels?.length) return el("ul", { class: "tags" }, el("li", { class: "tag none" }, t("ind.no_labels")));
  return el("ul", { class: "tags" }, ...labels.map((l) => el("li", { class: "tag", dataset: { label: l } }, className(l))));
}

function thumb(imageId, alt) {
  if (!imageId) return el("span", { class: "thumb" });
  const img = el("img", { class: "thumb", alt, loading: "lazy" });
  showPhoto(img, imageId, { lazy: true });
  return img;
}

function row(c) {
  const name = c.filename || (c.image_id || "").slice(0, 12);
  return el("li", { class: "row", dataset: { imageId: c.image_id || "", filename: c.filename || "" } },
    thumb(c.image_id, name),
    el("div", { class: "row-body" },
      el("p", { class: "row-title" }, name),
      labelTags(c.corrected_labels),
      el("p", { class: "muted" },
        formatDate(c.timestamp),
        c.model_version !== undefined && c.model_version !== null ? ` · ${t("corr.by_model", { v: c.model_version })}` : "",
        c.annotator ? ` · ${t("corr.by_annotator", { name: c.annotator })}` : ""),
    ),
    el("button", {
      type: "button",
      class: "small",
      dataset: { testid: "corr-history" },
      "aria-label": `${t("corr.open")}: ${name}`,
      onclick: () => showHistory(c.image_id, name),
    }, t("corr.history")),
  );
}

async function showHistory(imageId, name) {
  const dialog = $("history-dialog");
  $("history-list").replaceChildren();
  $("history-sub").textContent = name;
  dialog.showModal();
  try {
    const data = await getJson(`/corrections/${encodeURIComponent(imageId)}`);
    const entries = data.history || data.corrections || [];
    $("history-sub").textContent = t("corr.history_of", { file: name, n: entries.length });
    $("history-list").replaceChildren(
      ...entries.map((h) =>
        el("li", {},
          el("span", { class: "muted" }, formatDate(h.timestamp)),
          h.model_version !== undefined && h.model_version !== null ? el("span", { class: "muted" }, ` · ${t("corr.by_model", { v: h.model_version })}`) : "",
          h.annotator ? el("span", { class: "muted", dataset: { testid: "history-annotator" } }, ` · ${t("corr.by_annotator", { name: h.annotator })}`) : "",
          labelTags(h.corrected_labels))),
    );
  } catch (err) {
    $("history-list").replaceChildren(el("li", { class: "msg", dataset: { kind: "error" } }, err.message));
  }
}
