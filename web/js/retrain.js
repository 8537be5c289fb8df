// The retrain flow: confirmation dialog -> POST /retrain -> poll GET /jobs/{id} every
// 500 ms, drawing stage, epoch and loss -> outcome (promoted or not, and why). What
// happens to the current image afterwards is the Individual tab's business (onFinished).

import { ApiError, getJson, postJson, request } from "./api.js";
import { $, showMsg, sleep } from "./dom.js";
import { t } from "./i18n.js";
import { confirmRetrain, skippedText } from "./review-retrain.js";

const POLL_MS = 500;
const MAX_POLL_FAILURES = 10;
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
  resumeJob();
}

export function isRetraining() {
  return running;
}

async function resumeJob() {
  const jobId = sessionStorage.getItem(JOB_KEY);
  if (!jobId) return;
  try {
    const job = await getJson(`/jobs/${encodeURIComponent(jobId)}`);
    if (["queued", "started", "deferred", "scheduled"].includes(job.status)) {
      followServerJob(jobId, "");
      return;
    }
  } catch {
    // gone (expired or Redis flushed): nothing to resume
  }
  sessionStorage.removeItem(JOB_KEY);
}

async function startRetrain(epochs) {
  const outcome = $("job-outcome");
  $("job").hidden = false;
  showMsg(outcome, "");
  delete outcome.dataset.promoted;
  setJobRunning(true);
  let jobId;
  try {
    const reply = await postJson("/retrain", epochs ? { epochs } : {});
    jobId = reply.job_id;
  } catch (err) {
    // One job at a time: when one is already running, follow it instead.
    jobId = err instanceof ApiError ? err.body?.job_id : null;
    if (!jobId) {
      showMsg(outcome, err.message, "error");
      setJobRunning(false);
      return;
    }
  }
  await followJob(jobId);
  setJobRunning(false);
}

/** Follow a retrain that the server started by itself (after N corrections), or a resumed one. */
export async function followServerJob(jobId, note = t("job.auto")) {
  $("job").hidden = false;
  showMsg($("job-outcome"), note);
  delete $("job-outcome").dataset.promoted;
  setJobRunning(true);
  await followJob(jobId);
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
    await request(`/jobs/${encodeURIComponent(currentJob)}`, { method: "DELETE" });
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
    job = await pollJob(jobId);
  } finally {
    currentJob = null;
    sessionStorage.removeItem(JOB_KEY);
    $("job-cancel").hidden = true;
  }
  if (job?.status === "finished") await finished(job.result || {});
}

async function pollJob(jobId) {
  let failures = 0;
  for (;;) {
    let job;
    try {
      job = await getJson(`/jobs/${encodeURIComponent(jobId)}`);
      failures = 0;
    } catch (err) {
      failures += 1;
      if ((err instanceof ApiError && err.status === 404) || failures >= MAX_POLL_FAILURES) {
        showMsg($("job-outcome"), t("job.lost", { error: err.message }), "error");
        return;
      }
      await sleep(POLL_MS);
      continue;
    }
    renderJob(job);
    if (job.status === "finished") return job;
    if (["failed", "stopped", "canceled"].includes(job.status)) {
      const key = job.status === "failed" ? "job.failed" : "job.stopped";
      showMsg($("job-outcome"), t(key, { error: job.error || job.status }), "error");
      return;
    }
    await sleep(POLL_MS);
  }
}

function renderJob(job) {
  const p = job.progress || {};
  const stage = job.status === "finished" ? "finished" : p.stage || job.status || "";
  const stageText = t(`job.stage.${stage}`);
  $("job-stage").textContent = stageText.startsWith("job.stage.") ? stage : stageText;
  $("job-stage").dataset.stage = stage;
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
  if (typeof p.loss === "number") parts.push(t("job.loss", { l: p.loss.toFixed(4) }));
  if (typeof p.elapsed === "number") parts.push(t("job.elapsed", { s: p.elapsed.toFixed(1) }));
  $("job-detail").textContent = parts.join(" · ");
}

function finished(result) {
  const outcome = $("job-outcome");
  const vars = {
    v: result.version ?? "?",
    n: result.samples ?? "?",
    l: typeof result.final_loss === "number" ? result.final_loss.toFixed(4) : "?",
    reason: (result.reason || "").replace(/^not promoted: /, ""),
  };
  const said = [t(result.promoted ? "job.promoted" : "job.not_promoted", vars), skippedText(result)];
  showMsg(outcome, said.filter(Boolean).join(" "), result.promoted ? "ok" : "");
  outcome.dataset.promoted = result.promoted ? "true" : "false";
  const detail = [];
  if (result.reason) detail.push(result.reason); // the gate's figures, for whoever wants them
  const c = result.changes;
  if (c && c.photos) {
    const counts = { fixed: c.fixed, broke: c.broke, right: c.unchanged_right, wrong: c.unchanged_wrong };
    detail.push(`${t("models.corrections")}: ${t("models.changes", counts)}`);
  }
  if (detail.length) $("job-detail").textContent = detail.join(" · ");
  hooks.onModelChanged(null);
  return hooks.onFinished(result);
}
