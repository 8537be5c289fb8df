// Review uploads: each photo sent once to /batch_predict (the first alone, for a fast first
// card), and what inference said added to the session on the server.

import { postJson, uploadForm } from "./api.js";
import { $ } from "./dom.js";
import { serverText } from "./i18n.js";
import { scoresOf } from "./labels.js";
import { droppedFiles, requestChunks, wireDropZone } from "./uploads.js";

const FIRST_CHUNK = 1;
const CHUNK_FILES = 8;
const IN_FLIGHT = 3; // predictions on their way at once: the server decodes one while it computes another

/**
 * Upload `files` into session `sessionId`. onChunk({items, files, errors, last}) after each
 * request, in the files' order: items are the session's new items (as the server returned them
 * in /sessions/{id}/items terms), files maps image_id -> File (for a local preview), errors are
 * sentences, last says it was the last chunk. Up to IN_FLIGHT chunks are predicted at once; each
 * is added to the session in order once the ones before it are.
 */
export async function uploadToSession(sessionId, files, { onChunk, onProgress }) {
  const chunks = requestChunks(files, { maxFiles: CHUNK_FILES, firstFiles: FIRST_CHUNK });
  const predicted = [];
  const launch = () => {
    if (predicted.length < chunks.length) predicted.push(predictChunk(chunks[predicted.length]));
  };
  launch(); // the first photo alone, for a fast first card
  let done = 0;
  for (let k = 0; k < chunks.length; k++) {
    const { items, byId, errors } = await predicted[k];
    while (predicted.length < Math.min(k + 1 + IN_FLIGHT, chunks.length)) launch();
    try {
      if (items.length) await postJson(`/sessions/${sessionId}/items`, { items });
    } catch (err) {
      errors.push(err.message);
    }
    done += chunks[k].length;
    onProgress?.(done, files.length);
    await onChunk({ items, files: byId, errors, last: k === chunks.length - 1 });
  }
}

/** One chunk through /batch_predict: {items, byId, errors}; never rejects. */
async function predictChunk(chunk) {
  const form = new FormData();
  chunk.forEach((f) => form.append("files", f, f.name));
  const errors = [];
  const items = [];
  const byId = {};
  try {
    const reply = await uploadForm("/batch_predict", form, () => {});
    (reply.results || []).forEach((r, k) => {
      if (r.error) {
        errors.push(`${r.filename || chunk[k].name}: ${serverText(r.error, r.code)}`);
        return;
      }
      byId[r.image_id] = chunk[k];
      items.push({
        image_id: r.image_id,
        filename: chunk[k].name,
        scores: scoresOf(r),
        thresholds: r.thresholds || reply.thresholds || null,
        model_version: r.model_version ?? reply.model_version,
      });
    });
  } catch (err) {
    errors.push(err.message);
  }
  return { items, byId, errors };
}

/** The tab's ways in for photos (file and folder pickers, the drop zone, a paste): each calls onFiles(files). */
export function wireUploadInputs(onFiles) {
  for (const id of ["rev-files", "rev-folder"]) {
    const input = $(id);
    input.addEventListener("change", () => {
      onFiles([...input.files]);
      input.value = "";
    });
  }
  wireDropZone($("rev-drop"), async (dt) => onFiles(await droppedFiles(dt)));
  document.addEventListener("paste", (e) => {
    if ($("panel-review").hidden) return;
    const files = [...(e.clipboardData?.files || [])];
    if (!files.length) return;
    e.preventDefault();
    onFiles(files);
  });
}
