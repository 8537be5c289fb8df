// The retrain flow: confirmation dialog -> POST /retrain -> poll GET /jobs/{id} every
// 500 ms, drawing stage, epoch and loss -> outcome (promoted or not, and why). What
// happens to the current image afterwards is the Individual tab's business (onFinished).

import { $, showMsg } from "./dom.js";
import { formatNumber, t } from "./i18n.js";
import { AUTO_RETRAIN, cancelJob as cancel, followJob as follow, isActive, stageText, startOrJoin } from "./jobs.js";
import { changesText, confirmRetrain, gateText, skippedText, useItAnyway } from "./review-retrain.js";

const JOB_KEY = "tagloop.job"; // sessionStorage: a reload picks a running job up again

let hooks = { onFinished: async () => {}, onModelChanged: () => {} };
let running = false;
let currentJob = null;

export function initRetrain(options) {
  hooks = { ...hooks, ...options };
  $("ind-retrain").addEventListener("click", async () => {
    const answer = await confirmRetrain();
    if (answer) startRetrain(answer.epochs);
  });
  $("job-cancel").addEventListener("click", cancelJob);
  document.addEventListener(AUTO_RETRAIN, (e) => {
    if (!running) followServerJob(e.detail);
  });
  resumeJob();
}

async function resumeJob() {
  const jobId = sessionStorage.getItem(JOB_KEY);
  if (!jobId) return;
  if (await isActive(jobId)) {
    followServerJob(jobId, "");
    return;
  }
  sessionStorage.removeItem(JOB_KEY);
}

async function startRetrain(epochs) {
  const outcome = $("job-outcome");
  $("job").hidden = false;
  showMsg(outcome, "");
  delete outcome.dataset.promoted;
  setJobRunning(true);
  try {
    await followJob(await startOrJoin(epochs));
  } catch (err) {
    showMsg(outcome, err.message, "error");
  }
  setJobRunning(false);
}

/** Follow a retrain that the server started by itself (after N corrections), or a resumed one. */
async function followServerJob(jobId, note = t("job.auto")) {
  $("job").hidden = false;
  showMsg($("job-outcome"), note);
  delete $("job-outcome").dataset.promoted;
  setJobRunning(true);
  try {
    await followJob(jobId);
  } catch (err) {
    showMsg($("job-outcome"), err.message, "error");
  }
  setJobRunning(false);
}

function setJobRunning(on) {
  running = on;
  $("ind-retrain").disabled = on;
  $("job").setAttribute("aria-busy", on ? "true" : "false");
}

async function cancelJob() {
  if (!currentJob) return;
  $("job-cancel").disabled = true;
  try {
    await cancel(currentJob);
  } catch (err) {
    showMsg($("job-outcome"), err.message, "error");
    $("job-cancel").disabled = false;
  }
}

async function followJob(jobId) {
  currentJob = jobId;
  sessionStorage.setItem(JOB_KEY, jobId);
  $("job-cancel").hidden = false;
  $("job-cancel").disabled = false;
  let job;
  try {
    job = await follow(jobId, renderJob);
  } finally {
    currentJob = null;
    sessionStorage.removeItem(JOB_KEY);
    $("job-cancel").hidden = true;
  }
  await finished(job.result || {});
}

function renderJob(job) {
  const p = job.progress || {};
  $("job-stage").textContent = stageText(job);
  $("job-stage").dataset.stage = job.status === "finished" ? "finished" : p.stage || job.status || "";
  const bar = $("job-progress");
  if (job.status === "finished") {
    bar.value = 1;
  } else if (p.epochs) {
    bar.value = Math.min(1, (p.epoch || 0) / p.epochs);
  } else if (p.total) {
    bar.value = Math.min(1, (p.done || 0) / p.total);
  } else {
    bar.removeAttribute("value"); // indeterminate until epochs are known
  }
  const parts = [];
  if (job.status === "queued") parts.push(t("job.queued"));
  if (p.total && !p.epochs) parts.push(t("job.images", { d: p.done ?? 0, n: p.total }));
  if (p.epochs) parts.push(t("job.epoch", { e: p.epoch ?? 0, n: p.epochs }));
  if (typeof p.loss === "number") parts.push(t("job.loss", { l: formatNumber(p.loss, 4) }));
  if (typeof p.elapsed === "number") parts.push(t("job.elapsed", { s: formatNumber(p.elapsed, 1) }));
  $("job-detail").textContent = parts.join(" · ");
}

function finished(result) {
  const outcome = $("job-outcome");
  const vars = {
    v: result.version ?? "?",
    n: result.samples ?? "?",
    l: typeof result.final_loss === "number" ? formatNumber(result.final_loss, 4) : "?",
    why: gateText(result.gate),
  };
  const leftOut = result.left_out_disagreements > 0 ? t("job.left_out", { n: formatNumber(result.left_out_disagreements, 0) }) : "";
  const said = [t(result.promoted ? "job.promoted" : "job.not_promoted", vars), skippedText(result), leftOut];
  showMsg(outcome, said.filter(Boolean).join(" "), result.promoted ? "ok" : "");
  outcome.dataset.promoted = result.promoted ? "true" : "false";
  if (!result.promoted && result.version) outcome.append(" ", useItAnyway(result.version, outcome, () => hooks.onModelChanged(null)));
  const detail = [];
  if (typeof result.epochs_run === "number") detail.push(t("job.trained", { e: result.epochs_run, l: vars.l }));
  const changes = changesText(result);
  if (changes) detail.push(changes);
  if (detail.length) $("job-detail").textContent = detail.join(" · ");
  hooks.onModelChanged(null);
  return hooks.onFinished(result);
}
