// What the browser refuses before uploading: files that are not JPEG/PNG/WebP or are larger
// than the server accepts (16 MiB per request), so nobody waits for a 20 MB upload to fail.

import { humanSize } from "./dom.js";
import { t } from "./i18n.js";

export const MAX_FILE_BYTES = 16 * 1024 * 1024 - 64 * 1024; // the request limit, less the form's overhead
const TYPES = new Set(["image/jpeg", "image/png", "image/webp"]);
const EXT = /\.(jpe?g|png|webp)$/i;

/** null when the file can be uploaded, else a sentence saying why not (in the UI's language). */
export function refusal(file) {
  const typed = file.type ? TYPES.has(file.type) : EXT.test(file.name || "");
  if (!typed) return t("code.unsupported_image_named", { file: file.name || "?" });
  if (file.size > MAX_FILE_BYTES) {
    return t("code.too_large_named", { file: file.name || "?", size: humanSize(file.size), max: humanSize(MAX_FILE_BYTES) });
  }
  return null;
}

/** {ok: [files], refused: [sentences]} */
export function screenFiles(files) {
  const ok = [];
  const refused = [];
  for (const file of files) {
    const why = refusal(file);
    if (why) refused.push(why);
    else ok.push(file);
  }
  return { ok, refused };
}

/** A drop zone: highlighted while something is dragged over it; onDrop(dataTransfer) on a drop. */
export function wireDropZone(zone, onDrop) {
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    onDrop(e.dataTransfer);
  });
}

/** Files of a drop, walking into dropped folders. */
export async function droppedFiles(dt) {
  const entries = [...(dt?.items || [])].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...(dt?.files || [])];
  const out = [];
  for (const entry of entries) await walkEntry(entry, out);
  return out;
}

async function walkEntry(entry, out) {
  if (entry.isFile) {
    out.push(await new Promise((res, rej) => entry.file(res, rej)));
    return;
  }
  const reader = entry.createReader();
  for (;;) {
    const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
    if (!batch.length) return;
    for (const child of batch) await walkEntry(child, out);
  }
}
