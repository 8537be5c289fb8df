// The last batch survives a reload: a small record (filename, image_id, scores, version,
// correction) in localStorage, and the photos read back from the server by image_id. A photo
// the server no longer has is named as such; its scores are still shown.

import { getBlob, postJson } from "./api.js";

const RECORD_KEY = "tagloop.batch.last";
const FETCHES_AT_ONCE = 4;

/** Keep what the batch predicted; only finished tiles (a result or an error) are kept. */
export function saveRecord(items, threshold) {
  const kept = items.filter((it) => it.result).map(recordOf);
  try {
    if (kept.length) localStorage.setItem(RECORD_KEY, JSON.stringify({ threshold, items: kept }));
    else localStorage.removeItem(RECORD_KEY);
  } catch {
    // storage full or refused: the batch still works, it just won't come back after a reload
  }
}

function recordOf(it) {
  const r = it.result;
  if (r.error) return { filename: it.name, error: r.error };
  return { filename: it.name, imageId: r.imageId, scores: r.scores, modelVersion: r.modelVersion ?? null, corrected: r.corrected ?? null };
}

export function forgetRecord() {
  localStorage.removeItem(RECORD_KEY);
}

/** The stored record as tiles without photos yet: [{name, file: null, url: null, result}], or null. */
export function loadRecord() {
  let record;
  try {
    record = JSON.parse(localStorage.getItem(RECORD_KEY) || "null");
  } catch {
    return null;
  }
  if (!record || !Array.isArray(record.items) || !record.items.length) return null;
  const items = record.items.filter((r) => r && typeof r.filename === "string").map(tileOf);
  return items.length ? { threshold: Number(record.threshold) || null, items } : null;
}

function tileOf(r) {
  const result = typeof r.imageId === "string" && r.scores && typeof r.scores === "object"
    ? { imageId: r.imageId, scores: r.scores, modelVersion: r.modelVersion, ...(r.corrected ? { corrected: r.corrected } : {}) }
    : { error: String(r.error || "?") };
  return { name: r.filename, file: null, url: null, result, restoring: !result.error };
}

/**
 * Fetch the photos of restored tiles (with the UI's token); a tile whose photo is gone gets
 * `missing: true`. onTile() after each tile settles. Throws when the server cannot be asked.
 */
export async function fetchPhotos(items, onTile) {
  const waiting = items.filter((it) => it.restoring);
  const ids = [...new Set(waiting.map((it) => it.result.imageId))];
  const present = new Set((await postJson("/images/present", { image_ids: ids })).present);
  const queue = [...waiting];
  const worker = async () => {
    for (let it = queue.shift(); it; it = queue.shift()) {
      await fetchOne(it, present.has(it.result.imageId));
      onTile();
    }
  };
  await Promise.all(Array.from({ length: FETCHES_AT_ONCE }, worker));
}

async function fetchOne(it, present) {
  it.restoring = false;
  if (!present) {
    it.missing = true;
    return;
  }
  try {
    const { blob } = await getBlob(`/images/${it.result.imageId}`, { cache: "default" });
    it.file = new File([blob], it.name, { type: blob.type });
    it.url = URL.createObjectURL(it.file);
  } catch {
    it.missing = true;
  }
}

/** Tiles still waiting for their photo when the server could not be asked: none will come. */
export function giveUp(items) {
  for (const it of items) {
    if (!it.restoring) continue;
    it.restoring = false;
    it.missing = true;
  }
}
