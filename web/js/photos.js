// Stored photos (GET /images/{id}) in <img> elements. An <img> cannot send the token the page
// holds (TAGLOOP_TOKEN_FOR_ALL closes /images too), so while one is held a photo is fetched
// with it and shown from a blob URL, the most recent ones kept; without a token the plain URL
// is used and the browser caches it (the bytes behind an id never change).

import { getBlob, heldToken } from "./api.js";

const KEEP = 200;
const fetched = new Map(); // image_id -> Promise of an object URL, least recently used first
const ready = new Map(); // image_id -> object URL, once fetched
let observer = null;

export function photoPath(imageId) {
  return `/images/${encodeURIComponent(imageId)}`;
}

function blobUrl(imageId) {
  let url = fetched.get(imageId);
  if (url) fetched.delete(imageId); // re-inserted below: now the most recently used
  else {
    url = getBlob(photoPath(imageId), { cache: "default" }).then(({ blob }) => URL.createObjectURL(blob));
    url.then((u) => ready.set(imageId, u), () => fetched.delete(imageId));
  }
  fetched.set(imageId, url);
  while (fetched.size > KEEP) forget(fetched.keys().next().value);
  return url;
}

function forget(imageId) {
  const url = fetched.get(imageId);
  fetched.delete(imageId);
  ready.delete(imageId);
  url.then((u) => URL.revokeObjectURL(u), () => {});
}

/**
 * Show the stored photo `imageId` in `img`; `lazy`: only once it is near the screen.
 * With a token, an image not fetched yet is blank until it is: never the previous photo.
 */
export function showPhoto(img, imageId, { lazy = false } = {}) {
  img.dataset.photo = imageId;
  if (!heldToken()) {
    if (img.getAttribute("src") !== photoPath(imageId)) img.src = photoPath(imageId);
    return;
  }
  if (ready.has(imageId)) {
    img.src = ready.get(imageId);
    blobUrl(imageId);
    return;
  }
  img.removeAttribute("src");
  if (lazy) watcher().observe(img);
  else load(img);
}

function load(img) {
  const imageId = img.dataset.photo;
  blobUrl(imageId).then(
    (url) => {
      if (img.dataset.photo === imageId) img.src = url;
    },
    () => img.classList.add("broken"),
  );
}

function watcher() {
  observer ??= new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        observer.unobserve(entry.target);
        load(entry.target);
      }
    },
    { rootMargin: "300px" },
  );
  return observer;
}

/** Fetch a photo ahead of showing it. */
export function prefetchPhoto(imageId) {
  if (heldToken()) blobUrl(imageId).catch(() => {});
  else new Image().src = photoPath(imageId);
}
