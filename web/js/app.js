// Entry point: tabs, language switch, token prompt, and the wiring between the tabs.

import { setTokenPrompt } from "./api.js";
import { batchItems, initBatch, markCorrected, render as renderBatch, showBatch } from "./batch.js";
import { initCorrections, render as renderCorrections, showCorrections } from "./corrections.js";
import { $ } from "./dom.js";
import { bumpHealth, render as renderHealth, startHealth } from "./health.js";
import { applyStatic, lang, onLangChange, setLang } from "./i18n.js";
import { afterRetrain, initIndividual, openWith, render as renderIndividual } from "./individual.js";
import { initModels, render as renderModels, showModels } from "./models.js";
import { initRetrain } from "./retrain.js";
import { createSession, initReview, openSession, refreshSessions, render as renderReview, showReview } from "./review.js";
import { initTeam, needsSignIn, render as renderTeam, showSignIn } from "./team.js";

const TABS = ["individual", "review", "batch", "corrections", "models"];
const FIRST_TAB = "review"; // a first visit lands on the work the README leads with
const TAB_KEY = "tagloop.tab"; // the last tab used, where the next visit opens
const ON_SHOW = { batch: showBatch, corrections: showCorrections, models: showModels, review: showReview };

function tabButton(name) {
  return $(`tab-${name}`);
}

const scrollOf = {}; // each tab comes back where the person left it (e.g. Batch after "Correct")

function selectTab(name, { focus = false } = {}) {
  if (!TABS.includes(name)) name = FIRST_TAB;
  localStorage.setItem(TAB_KEY, name);
  const leaving = TABS.find((tab) => !$(`panel-${tab}`).hidden);
  if (leaving && leaving !== name) scrollOf[leaving] = window.scrollY;
  for (const tab of TABS) {
    const on = tab === name;
    tabButton(tab).setAttribute("aria-selected", on ? "true" : "false");
    tabButton(tab).tabIndex = on ? 0 : -1;
    $(`panel-${tab}`).hidden = !on;
  }
  if (leaving !== name) window.scrollTo(0, scrollOf[name] || 0);
  if (focus) tabButton(name).focus({ preventScroll: true });
  if (location.hash.slice(1) !== name) history.replaceState(null, "", `#${name}`);
  ON_SHOW[name]?.();
}

function wireTabs() {
  for (const name of TABS) tabButton(name).addEventListener("click", () => selectTab(name));
  document.querySelector("[role=tablist]").addEventListener("keydown", (e) => {
    const current = TABS.findIndex((n) => tabButton(n).getAttribute("aria-selected") === "true");
    const moves = { ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0, End: TABS.length - 1 };
    if (!(e.key in moves)) return;
    e.preventDefault();
    selectTab(TABS[(moves[e.key] + TABS.length) % TABS.length], { focus: true });
  });
  window.addEventListener("hashchange", () => selectTab(location.hash.slice(1)));
}

function wireLanguage() {
  const select = $("lang-select");
  select.value = lang();
  select.addEventListener("change", () => setLang(select.value));
  onLangChange(() => {
    renderHealth();
    renderIndividual();
    renderReview();
    renderBatch();
    renderCorrections();
    renderModels();
    renderTeam();
  });
}

/** Asked once when an API answers 401; the token is kept for this browser session. In team
 * mode with nobody signed in, the sign-in form is shown instead (it reloads the page). */
function promptToken() {
  if (needsSignIn()) {
    showSignIn();
    return Promise.resolve(null);
  }
  const dialog = $("token-dialog");
  return new Promise((resolve) => {
    if (dialog.open) return resolve(null);
    $("token-input").value = "";
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? $("token-input").value.trim() : null), { once: true });
    dialog.showModal();
  });
}

/** A session made elsewhere (the admin's disagreements) opened in the Review tab. */
async function reviewSession(id) {
  await refreshSessions();
  selectTab("review", { focus: true });
  await openSession(id);
}

/** Batch's "Correct": the batch becomes a review session, opened at the photo clicked. */
async function reviewBatch(item) {
  const done = batchItems();
  const items = done.map((it) => ({ image_id: it.imageId, filename: it.filename, scores: it.scores, model_version: it.modelVersion }));
  const urls = new Map(done.map((it) => [it.imageId, it.url]));
  try {
    const id = await createSession(`Batch ${new Date().toLocaleString()}`, { items, files: urls, current: item.imageId });
    selectTab("review", { focus: true });
    await openSession(id, { imageId: item.imageId });
  } catch {
    openWith(item); // the session could not be made: correct this one photo instead
    selectTab("individual", { focus: true });
  }
}

/** A file dropped outside a drop zone must not replace the page with the image. */
function guardDrops() {
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (e) => {
      if (!e.target.closest?.(".dropzone")) e.preventDefault();
    });
  }
}

/** A reply named a model version (null: "something changed"); refresh the header if it differs. */
function modelChanged(version) {
  const shown = $("model-version").dataset.version;
  if (version === null || version === undefined || String(version) !== shown) bumpHealth();
}

async function main() {
  applyStatic();
  guardDrops();
  wireLanguage();
  await initTeam({ onReview: reviewSession }); // in team mode, who this is decides what the tabs may load
  if (needsSignIn()) return markReady(); // nothing loads until someone signs in (which reloads the page)
  setTokenPrompt(promptToken);
  initIndividual({ onModelChanged: modelChanged });
  initRetrain({ onModelChanged: modelChanged, onFinished: afterRetrain });
  initReview({ onModelChanged: modelChanged, onSaved: markCorrected });
  initBatch({ onModelChanged: modelChanged, onCorrect: reviewBatch });
  initCorrections();
  initModels({ onModelChanged: modelChanged });
  wireTabs();
  selectTab(location.hash.slice(1) || localStorage.getItem(TAB_KEY) || FIRST_TAB);
  startHealth();
  markReady();
}

/** Every control is wired (tests wait for this before they act; see tests/browser/conftest.py). */
function markReady() {
  document.documentElement.dataset.ready = "true";
}

main();
