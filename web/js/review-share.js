// Several browsers on one session. A card on screen is leased to this browser (its client id,
// kept in localStorage: one per browser) for 60 s on the server and renewed while it stays on
// screen, so another browser passes over it; the session is polled every second so each
// browser sees the other's saves and progress.

import { postJson } from "./api.js";

const CLIENT_KEY = "tagloop.review.client";
export const POLL_MS = 1000;
const RENEW_MS = 20_000; // the server's lease lasts 60 s: renewed well before it runs out
const TRUST_MS = 45_000; // a lease granted this long ago may have run out: ask again

const held = new Map(); // image_id -> when the server last granted this browser's lease (ms)

/** This browser's id, made once (random, not a secret: it only names who holds a card). */
export function clientId() {
  let id = localStorage.getItem(CLIENT_KEY);
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem(CLIENT_KEY, id);
  }
  return id;
}

/** Whether this browser holds the card now. */
export function holds(imageId) {
  const at = held.get(imageId);
  return at !== undefined && Date.now() - at < TRUST_MS;
}

/** Whether the lease should be renewed (it is held and was granted a while ago). */
export function renewDue(imageId) {
  const at = held.get(imageId);
  return at !== undefined && Date.now() - at >= RENEW_MS;
}

/**
 * Lease the card to this browser (or renew the lease). False when another browser holds it
 * (the item is then marked `leased`); any other failure counts as held, so that a network
 * hiccup never stops the work (a save lands whatever the lease).
 */
export async function claim(sessionId, item) {
  if (!item || item.status === "saved") return true;
  try {
    await postJson(`/sessions/${sessionId}/items/${item.image_id}/lease`, { client: clientId() });
    held.set(item.image_id, Date.now());
    item.leased = false;
    return true;
  } catch (err) {
    if (err.body?.code !== "card_leased") return true;
    held.delete(item.image_id);
    item.leased = true;
    return false;
  }
}

/** A save ends the lease on the server; forget it here too. */
export function release(imageId) {
  held.delete(imageId);
}
