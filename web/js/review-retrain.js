// Retrain from a review session (or from the Models tab): a confirmation that says how many
// corrections will be used and roughly how long, the job followed (jobs.js), the outcome in
// plain words with the corrected photos fixed / broken / unchanged, and "use it anyway" when
// the rule kept the current model; then the session's photos predicted again with the new
// version and re-sorted. "Audit labels" opens the saved labels the model finds implausible
// (GET /corrections/suspects) as a review session.

import { ApiError, getJson, postJson } from "./api.js";
import { $, el, showMsg } from "./dom.js";
import { className, formatNumber, t } from "./i18n.js";
import { AUTO_RETRAIN, followJob, stageText, startOrJoin, waitUntilServed } from "./jobs.js";

const AUDIT_LIMIT = 50;
const REPREDICT_POLL_MS = 1000;

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
  return followResult(await startOrJoin(epochs), onStage);
}

async function followResult(jobId, onStage) {
  const job = await followJob(jobId, (j) => onStage?.(stageText(j)));
  return job.result || {};
}

/** The outcome of a retrain in plain words: what happened, why, and what changed. */
export function outcomeText(result) {
  const said = result.promoted
    ? t("retrain.plain_promoted", { v: result.version ?? "?", n: result.samples ?? "?" })
    : t("retrain.plain_kept", { v: result.version ?? "?", why: gateText(result.gate) });
  return [said, changesText(result), skippedText(result)].filter(Boolean).join(" ");
}

/** Why the promotion rule decided as it did, in plain words ("" for a version it did not judge). */
export function gateText(gate) {
  if (!gate || !gate.code) return "";
  const d = (x) => (typeof x === "number" ? formatNumber(x, 4) : "?");
  const vars = {
    n: gate.photos, c: gate.candidate_right, p: gate.parent_right,
    d: d(gate.loss_difference), lo: d(gate.interval?.[0]), hi: d(gate.interval?.[1]),
    k: gate.anchors_changed, a: gate.anchors, m: gate.anchor_limit,
  };
  const said = [t(`gate.${gate.code}`, vars)];
  if (gate.forced) said.push(t("gate.forced"));
  return said.join(" ");
}

/** "Corrected photos: 12 fixed, 0 broken, 3 right, 1 still wrong." ("" without counts). */
export function changesText(result) {
  const c = result.changes;
  return c && c.photos ? `${t("models.corrections")}: ${changeCounts(c)}.` : "";
}

/** "12 fixed, 0 broken, 3 right, 1 still wrong": the corrected photos, before -> after. */
export function changeCounts(c) {
  return t("models.changes", { fixed: c.fixed ?? 0, broke: c.broke ?? 0, right: c.unchanged_right ?? 0, wrong: c.unchanged_wrong ?? 0 });
}

/** A "use it anyway" button: activates `version` in one click, says so in `msg`, then `after()`. */
export function useItAnyway(version, msg, after = () => {}) {
  const button = el("button", { type: "button", class: "small", dataset: { testid: "use-anyway" } }, t("retrain.use_anyway"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await postJson(`/models/${encodeURIComponent(version)}/activate`, {});
      showMsg(msg, t("models.activated", { v: version }), "ok");
      after(version);
    } catch (err) {
      showMsg(msg, err.message, "error");
      button.disabled = false;
    }
  });
  return button;
}

/** The stored photos a retrain could not decode and left out, in a sentence ("" when none). */
export function skippedText(result) {
  return result.skipped?.length ? t("retrain.skipped", { n: result.skipped.length }) : "";
}

export function initSessionRetrain({ state, reload }) {
  const msg = $("rev-retrain-msg");
  const follow = async (result) => {
    showMsg(msg, outcomeText(result), result.promoted ? "ok" : "");
    if (!result.promoted && result.version) msg.append(" ", useItAnyway(result.version, msg));
    if (result.promoted && state.session) await repredict(state, result.version, reload);
  };
  const running = (stage) => showMsg(msg, t("retrain.running", { stage }));
  const go = async (epochs) => {
    $("rev-retrain").disabled = true;
    try {
      await follow(await runRetrain(epochs, running));
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
  document.addEventListener(AUTO_RETRAIN, async (e) => {
    showMsg(msg, t("job.auto"));
    try {
      await follow(await followResult(e.detail, running));
    } catch (err) {
      showMsg(msg, err.message, "error");
    }
  });
  $("rev-retrain").after(auditButton(msg));
}

function auditButton(msg) {
  const button = el("button", { type: "button", dataset: { testid: "rev-audit" } }, t("rev.audit"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await openAudit(msg);
    } catch (err) {
      showMsg(msg, err.message, "error");
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** The suspect labels as a review session: each photo with its saved labels, the suspect
 * classes at the model's out-of-fold probability. */
async function openAudit(msg) {
  const { suspects } = await getJson(`/corrections/suspects?limit=${AUDIT_LIMIT}`);
  if (!suspects.length) {
    showMsg(msg, t("rev.audit_none"));
    return;
  }
  const byImage = new Map();
  for (const s of suspects) {
    if (!byImage.has(s.image_id)) byImage.set(s.image_id, { filename: s.filename, suspects: [] });
    byImage.get(s.image_id).suspects.push(s);
  }
  const items = await Promise.all([...byImage].map(async ([imageId, { filename, suspects: mine }]) => {
    const saved = (await getJson(`/corrections/${encodeURIComponent(imageId)}`)).corrections[0]?.corrected_labels || [];
    const scores = Object.fromEntries(saved.map((label) => [label, 1]));
    for (const s of mine) {
      const pGiven = Math.exp(-s.score);
      scores[s.class] = s.given ? pGiven : 1 - pGiven; // the model's probability of the class
    }
    return { image_id: imageId, filename, scores };
  }));
  const review = await import("./review.js"); // loaded already: review.js imports this module
  const id = await review.createSession(t("rev.audit_session"), { items });
  await review.openSession(id);
  showMsg(msg, t("rev.audit_opened", { n: suspects.length, p: items.length }), "ok");
}

async function repredict(state, version, reload) {
  const msg = $("rev-retrain-msg");
  const before = msg.textContent;
  const sid = state.session.id;
  showMsg(msg, `${before} ${t("rev.repredicting")}`, "ok");
  await waitUntilServed(version);
  // In the background on the server: the session stays usable, and re-sorts as it goes.
  let run = await postJson(`/sessions/${sid}/repredict`, {});
  while (run.state === "running") {
    if (run.total) showMsg(msg, `${before} ${t("rev.repredicting_n", { done: formatNumber(run.done, 0), total: formatNumber(run.total, 0) })}`, "ok");
    await new Promise((resolve) => setTimeout(resolve, REPREDICT_POLL_MS));
    run = await getJson(`/sessions/${sid}/repredict`);
  }
  if (run.state !== "finished") throw new ApiError(run.error || t("rev.repredict_failed"));
  showMsg(msg, `${before} ${t("rev.repredicted", { n: formatNumber(run.done, 0), v: run.model_version ?? "?" })}`, "ok");
  $("rev-disagree").replaceChildren(
    ...run.disagreements.map((d) =>
      el("li", { class: "tag removed", dataset: { imageId: d.image_id } },
        t("rev.disagrees", { file: d.filename || d.image_id.slice(0, 12), labels: d.labels.map(className).join(", ") || "–", predicted: d.predicted.map(className).join(", ") || "–" })),
    ),
  );
  if (state.session?.id === sid) await reload();
}
