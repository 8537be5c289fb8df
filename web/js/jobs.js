// Retrain jobs, for every tab: start one (or join the one already running), follow it
// (tolerating a few failed polls, as during a gateway or worker restart), cancel it, and
// wait until inference serves the version it published. One signal, AUTO_RETRAIN, tells
// the page that saving a correction started a retrain by itself.

import { ApiError, getJson, postJson, request } from "./api.js";
import { sleep } from "./dom.js";
import { t } from "./i18n.js";

const POLL_MS = 500;
const MAX_POLL_FAILURES = 10;
const ACTIVE = ["queued", "started", "deferred", "scheduled"];
const ENDED = ["failed", "stopped", "canceled"];

/** The page-wide event whose detail is the id of a retrain the server started by itself. */
export const AUTO_RETRAIN = "tagloop:auto-retrain";

export function signalAutoRetrain(jobId) {
  if (jobId) document.dispatchEvent(new CustomEvent(AUTO_RETRAIN, { detail: jobId }));
}

/** POST /retrain; when one is already running (409), its id: one job at a time. */
export async function startOrJoin(epochs) {
  try {
    return (await postJson("/retrain", epochs ? { epochs } : {})).job_id;
  } catch (err) {
    const jobId = err instanceof ApiError ? err.body?.job_id : null;
    if (!jobId) throw err;
    return jobId;
  }
}

/** Whether the job is still queued or running (false when gone). */
export async function isActive(jobId) {
  try {
    return ACTIVE.includes((await getJson(`/jobs/${encodeURIComponent(jobId)}`)).status);
  } catch {
    return false;
  }
}

/** Poll a job until it ends: resolves the finished job; throws an Error in plain words when it
 * failed, was stopped, or could not be read MAX_POLL_FAILURES times in a row (or is gone). */
export async function followJob(jobId, onUpdate = () => {}) {
  let failures = 0;
  for (;;) {
    let job;
    try {
      job = await getJson(`/jobs/${encodeURIComponent(jobId)}`);
      failures = 0;
    } catch (err) {
      failures += 1;
      if ((err instanceof ApiError && err.status === 404) || failures >= MAX_POLL_FAILURES) {
        throw new Error(t("job.lost", { error: err.message }));
      }
      await sleep(POLL_MS);
      continue;
    }
    onUpdate(job);
    if (job.status === "finished") return job;
    if (ENDED.includes(job.status)) {
      throw new Error(t(job.status === "failed" ? "job.failed" : "job.stopped", { error: job.error || job.status }));
    }
    await sleep(POLL_MS);
  }
}

export function cancelJob(jobId) {
  return request(`/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE" });
}

/** A job's stage in words ("training", "publishing"...), the raw name when untranslated. */
export function stageText(job) {
  const stage = job.status === "finished" ? "finished" : job.progress?.stage || job.status || "";
  const text = t(`job.stage.${stage}`);
  return text.startsWith("job.stage.") ? stage : text;
}

/** Inference loads a new version in the background: wait until /health says it serves it. */
export async function waitUntilServed(version, timeoutMs = 60000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const health = await getJson("/health", { okStatuses: [503] });
      if ((health?.parts?.inference?.model_version ?? 0) >= version) return true;
    } catch {
      // a reload may briefly fail the health check
    }
    await sleep(POLL_MS);
  }
  return false;
}
