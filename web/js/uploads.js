// What the browser refuses before uploading: files that are not JPEG/PNG/WebP or are larger
// than the server accepts (the gateway's /limits.json), so nobody waits for a 20 MB upload
// to fail. Until the limits are read (or if they cannot be), the server's 413 says it.

import { getJson } from "./api.js";
import { humanSize } from "./dom.js";
import { t } from "./i18n.js";

const FORM_OVERHEAD = 64 * 1024; // the multipart framing around a file
const limits = { maxBodyBytes: null };
getJson("/limits.json")
  .then((body) => (limits.maxBodyBytes = body.max_body_bytes))
  .catch(() => {});

/** The largest request body the server takes, once known (else null). */
export function maxBodyBytes() {
  return limits.maxBodyBytes;
}
const TYPES = new Set(["image/jpeg", "image/png", "image/webp"]);
const EXT = /\.(jpe?g|png|webp)$/i;

/** null when the file can be uploaded, else a sentence saying why not (in the UI's language). */
export function refusal(file) {
  const typed = file.type ? TYPES.has(file.type) : EXT.test(file.name || "");
  if (!typed) return t("code.unsupported_image_named", { file: file.name || "?" });
  const max = limits.maxBodyBytes && limits.maxBodyBytes - FORM_OVERHEAD;
  if (max && file.size > max) {
    return t("code.too_large_named", { file: file.name || "?", size: humanSize(file.size), max: humanSize(max) });
  }
  return null;
}

/**
 * `things` split into requests of at most `firstFiles` (the first) then `maxFiles` things, none
 * over 3/4 of the server's body limit (room for the form around them); `sizeOf` gives the bytes.
 */
export function requestChunks(things, { maxFiles, firstFiles = maxFiles, sizeOf = (file) => file.size }) {
  const budget = limits.maxBodyBytes ? limits.maxBodyBytes * 0.75 : Infinity;
  const out = [];
  let cur = [];
  let bytes = 0;
  for (const thing of things) {
    const most = out.length === 0 ? firstFiles : maxFiles;
    if (cur.length && (cur.length >= most || bytes + sizeOf(thing) > budget)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(thing);
    bytes += sizeOf(thing);
  }
  if (cur.length) out.push(cur);
  return out;
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
