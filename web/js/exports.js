// Export buttons (Review tab): the files come through fetch with the UI's token, as every
// other call does, so they download with TAGLOOP_TOKEN_FOR_ALL too; a failure is said. An
// export waits for this tab's saves still on their way, so the last card saved is in it.

import { download } from "./api.js";
import { $, showMsg } from "./dom.js";
import { t } from "./i18n.js";

const FORMATS = ["csv", "voc", "coco"];
const SUFFIX = { csv: "csv", voc: "zip", coco: "json" };

let sessionOf = () => null;
let savesLanded = async () => {};

/** `currentSession()` -> the open review session's id, or null; `landed()` resolves once
 * every save sent so far has its answer. */
export function initExports(currentSession, landed) {
  sessionOf = currentSession;
  savesLanded = landed;
  for (const fmt of FORMATS) {
    $(`rev-export-${fmt}`).addEventListener("click", (e) => exportFile(e.currentTarget, fmt, sessionOf()));
    $(`rev-export-all-${fmt}`).addEventListener("click", (e) => exportFile(e.currentTarget, fmt, null));
  }
  syncExports();
}

/** The session's buttons work only while a session is open. */
export function syncExports() {
  for (const fmt of FORMATS) $(`rev-export-${fmt}`).disabled = !sessionOf();
}

async function exportFile(button, fmt, session) {
  const msg = $("rev-export-msg");
  const path = session ? `/export?format=${fmt}&session=${session}` : `/export?format=${fmt}`;
  const name = `${session ? `tagloop-session-${session}` : "tagloop-corrections"}.${SUFFIX[fmt]}`;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  showMsg(msg, t("export.downloading", { file: name }));
  try {
    await savesLanded();
    const saved = await download(path, name);
    showMsg(msg, t("export.done", { file: saved }), "ok");
  } catch (err) {
    showMsg(msg, t("export.failed", { file: name, error: err.message }), "error");
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    syncExports();
  }
}
