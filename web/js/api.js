// Talking to the gateway. Every failure becomes an ApiError with a message for a person:
// the server's {"success": false, "error": "..."} text when there is one, otherwise a
// translated sentence for the HTTP status. Never raw JSON, never silence.

import { hasText, lang, t } from "./i18n.js";

const TOKEN_KEY = "tagloop.token";

export class ApiError extends Error {
  constructor(message, status = 0, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

let askToken = null; // set by the app: async () => string | null

export function setTokenPrompt(fn) {
  askToken = fn;
}

/** Whether the page holds a token (which <img> and <a> requests cannot send). */
export function heldToken() {
  return Boolean(sessionStorage.getItem(TOKEN_KEY));
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** The server's sentence in English; in another language, the translation of its stable code. */
function messageFor(status, body) {
  const code = body && typeof body.code === "string" ? body.code : "";
  if (code && lang() !== "en" && hasText(`code.${code}`)) return t(`code.${code}`);
  if (body && typeof body.error === "string" && body.error) return body.error;
  if (body && typeof body.detail === "string" && body.detail) return body.detail;
  const specific = t(`err.${status}`);
  return specific === `err.${status}` ? t("err.status", { status }) : specific;
}

function parseBody(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** A 401 asks for a token once, then the caller retries with it. */
async function tokenAfter401() {
  if (!askToken) return false;
  const token = await askToken();
  if (!token) return false;
  sessionStorage.setItem(TOKEN_KEY, token);
  return true;
}

/**
 * fetch() returning the parsed JSON body and the reply's ETag; throws ApiError unless the
 * reply is 2xx (or its status is listed in `okStatuses`, as /health's 503 is). With
 * `ifNoneMatch` (an ETag), a 304 returns {status: 304, data: null}.
 */
export async function request(path, { method = "GET", json, form, okStatuses = [], retried = false, keepalive = false, ifNoneMatch = null } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (ifNoneMatch) headers["If-None-Match"] = ifNoneMatch;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, cache: "no-store", keepalive });
  } catch {
    throw new ApiError(t("err.network"));
  }
  const etag = res.headers.get("ETag");
  if (res.status === 304) return { status: 304, data: null, etag }; // unchanged since `ifNoneMatch`
  if (res.status === 204) return { status: 204, data: null, etag }; // done, nothing to say (a DELETE)
  const data = parseBody(await res.text());
  if (res.status === 401 && !retried && (await tokenAfter401())) {
    return request(path, { method, json, form, okStatuses, retried: true, keepalive, ifNoneMatch });
  }
  if (!res.ok && !okStatuses.includes(res.status)) {
    throw new ApiError(messageFor(res.status, data), res.status, data);
  }
  if (data === null || typeof data !== "object") {
    throw new ApiError(t("err.status", { status: res.status }), res.status);
  }
  if (data.success === false && res.ok) {
    throw new ApiError(messageFor(res.status, data), res.status, data);
  }
  return { status: res.status, data, etag };
}

export async function getJson(path, opts = {}) {
  return (await request(path, opts)).data;
}

/** keepalive: the request is finished even when the page is left or reloaded meanwhile. */
export async function postJson(path, json, { keepalive = false } = {}) {
  return (await request(path, { method: "POST", json, keepalive })).data;
}

export async function postForm(path, form) {
  return (await request(path, { method: "POST", form })).data;
}

/**
 * POST a FormData with XMLHttpRequest, for its upload progress events.
 * onProgress(loaded, total) is called while the body is sent.
 */
export function uploadForm(path, form, onProgress, retried = false) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener("error", () => reject(new ApiError(t("err.network"))));
    xhr.addEventListener("load", async () => {
      const data = parseBody(xhr.responseText);
      if (xhr.status === 401 && !retried && (await tokenAfter401())) {
        uploadForm(path, form, onProgress, true).then(resolve, reject);
        return;
      }
      if (xhr.status < 200 || xhr.status >= 300 || !data || data.success === false) {
        reject(new ApiError(messageFor(xhr.status, data), xhr.status, data));
        return;
      }
      resolve(data);
    });
    xhr.send(form);
  });
}

/** The filename a Content-Disposition header names, else `fallback`. */
function filenameOf(res, fallback) {
  const header = res.headers.get("Content-Disposition") || "";
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(header);
  if (star) return decodeURIComponent(star[1].trim());
  const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(header);
  return plain ? plain[1].trim() : fallback;
}

/**
 * GET a file (an export, a stored photo) with the same token as every other call:
 * {blob, filename}; throws ApiError on a failed reply, as request() does.
 */
export async function getBlob(path, { fallbackName = "download", cache = "no-store", retried = false } = {}) {
  let res;
  try {
    res = await fetch(path, { headers: authHeaders(), cache });
  } catch {
    throw new ApiError(t("err.network"));
  }
  if (res.status === 401 && !retried && (await tokenAfter401())) return getBlob(path, { fallbackName, cache, retried: true });
  if (!res.ok) {
    const data = parseBody(await res.text().catch(() => ""));
    throw new ApiError(messageFor(res.status, data), res.status, data);
  }
  return { blob: await res.blob(), filename: filenameOf(res, fallbackName) };
}

/** Save a blob as a file through the browser's download. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Download `path` as a file, with the token; throws ApiError when it cannot be had. */
export async function download(path, fallbackName) {
  const { blob, filename } = await getBlob(path, { fallbackName });
  saveBlob(blob, filename);
  return filename;
}

// Writes a person must not have to redo (a saved label) are kept in the page while the
// gateway or the service behind it is restarting, and sent again with a growing pause
// until one lands. Only "not reachable now" is retried: a network error, 502, 503, 504.
// Any other refusal settles the write at once, so its caller can take its mark back.
const RETRY_STATUSES = new Set([0, 502, 503, 504]);
const RETRY_PAUSES_MS = [500, 1000, 2000, 4000, 8000];
const waitingWrites = new Set();
const waitingListeners = new Set();

/** fn(count) whenever the number of writes waiting to be sent again changes. */
export function onWritesWaiting(fn) {
  waitingListeners.add(fn);
}

export function writesWaiting() {
  return waitingWrites.size;
}

function setWaiting(write, isWaiting) {
  const changed = isWaiting ? !waitingWrites.has(write) : waitingWrites.has(write);
  if (isWaiting) waitingWrites.add(write);
  else waitingWrites.delete(write);
  if (changed) for (const fn of waitingListeners) fn(waitingWrites.size);
}

/**
 * POST JSON until it is stored: resolves with the reply once one attempt lands, rejects
 * only when the server refuses it for good (4xx, 500, 507). Repeating a save is safe:
 * the server keeps the latest labels of a photo.
 */
export async function postJsonUntilStored(path, json, { keepalive = false } = {}) {
  const write = { path };
  try {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await postJson(path, json, { keepalive });
      } catch (err) {
        if (!(err instanceof ApiError) || !RETRY_STATUSES.has(err.status)) throw err;
        setWaiting(write, true);
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSES_MS[Math.min(attempt, RETRY_PAUSES_MS.length - 1)]));
      }
    }
  } finally {
    setWaiting(write, false);
  }
}
