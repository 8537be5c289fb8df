// Retrain from a review session (or from the Models tab): a confirmation that says how many
// corrections will be used and roughly how long, the job followed, the outcome in plain
// words; then the session's photos predicted again with the new version and re-sorted.

import { ApiError, getJson, postJson } from "./api.js";
import { $, el, showMsg, sleep } from "./dom.js";
import { className, t } from "./i18n.js";

const POLL_MS = 500;

/** Open the retrain dialog with the plan; resolves {epochs} when confirmed, null otherwise. */
export async function confirmRetrain() {
  const dialog = $("retrain-dialog");
  $("retrain-plan").textContent = "";
  try {
    const plan = await getJson("/retrain/plan");
    $("retrain-plan").textContent = t("retrain.plan", { n: plan.corrections, new: plan.new, s: Math.max(1, Math.round(plan.seconds)) });
  } catch (err) {
    $("retrain-plan").textContent = err.message;
  }
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        const epochs = Number($("retrain-epochs").value);
        resolve(dialog.returnValue === "ok" ? { epochs: Number.isInteger(epochs) && epochs > 0 ? epochs : null } : null);
      },
      { once: true },
    );
  });
}

/** Start (or join) a retrain and follow it; resolves the finished job's result, or throws. */
export async function runRetrain(epochs, onStage) {
  let jobId;
  try {
    jobId = (await postJson("/retrain", epochs ? { epochs } : {})).job_id;
  } catch (err) {
    jobId = err instanceof ApiError ? err.body?.job_id : null;
    if (!jobId) throw err;
  }
  return followJob(jobId, onStage);
}

async function followJob(jobId, onStage) {
  for (;;) {
    const job = await getJson(`/jobs/${encodeURIComponent(jobId)}`);
    if (job.status === "finished") return job.result || {};
    if (["failed", "stopped", "canceled"].includes(job.status)) throw new Error(t("job.failed", { error: job.error || job.status }));
    const stage = job.progress?.stage || job.status;
    onStage?.(t(`job.stage.${stage}`).startsWith("job.stage.") ? stage : t(`job.stage.${stage}`));
    await sleep(POLL_MS);
  }
}

/** The outcome of a retrain in plain words. */
export function outcomeText(result) {
  const said = result.promoted
    ? t("retrain.plain_promoted", { v: result.version ?? "?", n: result.samples ?? "?" })
    : t("retrain.plain_kept", { v: result.version ?? "?" });
  return [said, skippedText(result)].filter(Boolean).join(" ");
}

/** The stored photos a retrain could not decode and left out, in a sentence ("" when none). */
export function skippedText(result) {
  return result.skipped?.length ? t("retrain.skipped", { n: result.skipped.length }) : "";
}

/** Inference loads a new version in the background: wait until /health says it serves it. */
export async function waitUntilServed(version, timeoutMs = 60000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const health = await getJson("/health", { okStatuses: [503] });
      if ((health?.parts?.inference?.model_version ?? 0) >= version) return;
    } catch {
      // a reload may briefly fail the health check
    }
    await sleep(POLL_MS);
  }
}

export function initSessionRetrain({ state, reload }) {
  const msg = $("rev-retrain-msg");
  const go = async (epochs) => {
    $("rev-retrain").disabled = true;
    try {
      const result = await runRetrain(epochs, (stage) => showMsg(msg, t("retrain.running", { stage })));
      showMsg(msg, outcomeText(result), result.promoted ? "ok" : "");
      if (result.promoted && state.session) await repredict(state, result.version, reload);
    } catch (err) {
      showMsg(msg, err.message, "error");
    } finally {
      $("rev-retrain").disabled = false;
    }
  };
  $("rev-retrain").addEventListener("click", async () => {
    const answer = await confirmRetrain();
    if (answer) go(answer.epochs);
  });
  document.addEventListener("tagloop:auto-retrain", (e) => {
    showMsg(msg, t("job.auto"));
    runRetrainFollow(e.detail, state, reload, msg);
  });
}

async function runRetrainFollow(jobId, state, reload, msg) {
  try {
    const result = await followJob(jobId, (stage) => showMsg(msg, t("retrain.running", { stage })));
    showMsg(msg, outcomeText(result), result.promoted ? "ok" : "");
    if (result.promoted && state.session) await repredict(state, result.version, reload);
  } catch (err) {
    showMsg(msg, err.message, "error");
  }
}

async function repredict(state, version, reload) {
  const msg = $("rev-retrain-msg");
  const before = msg.textContent;
  showMsg(msg, `${before} ${t("rev.repredicting")}`, "ok");
  await waitUntilServed(version);
  const reply = await postJson(`/sessions/${state.session.id}/repredict`, {});
  showMsg(msg, `${before} ${t("rev.repredicted", { n: reply.repredicted, v: reply.model_version ?? "?" })}`, "ok");
  $("rev-disagree").replaceChildren(
    ...reply.disagreements.map((d) =>
      el("li", { class: "tag removed", dataset: { imageId: d.image_id } },
        t("rev.disagrees", { file: d.filename || d.image_id.slice(0, 12), labels: d.labels.map(className).join(", ") || "–", predicted: d.predicted.map(className).join(", ") || "–" })),
    ),
  );
  await reload();
}
