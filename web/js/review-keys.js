// Review hotkeys: the defaults, the person's own (localStorage), and the dialog that changes them.

import { $, el, showMsg } from "./dom.js";
import { className, t } from "./i18n.js";
import { VOC_CLASSES } from "./labels.js";

const STORAGE_KEY = "tagloop.review.keys";
const CLASS_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "q", "w", "e", "r", "t", "y", "u", "i", "o", "p"];
export const ACTIONS = ["save", "next", "prev", "accept", "reset", "undo"];
const ACTION_KEYS = { save: "Enter", next: "ArrowRight", prev: "ArrowLeft", accept: "a", reset: "Escape", undo: "z" };

export function defaultKeys() {
  const keys = {};
  VOC_CLASSES.forEach((label, i) => {
    keys[label] = CLASS_KEYS[i];
  });
  return { ...keys, ...ACTION_KEYS };
}

let keys = load();

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
    if (saved && typeof saved === "object") return { ...defaultKeys(), ...saved };
  } catch {
    // a damaged setting falls back to the defaults
  }
  return defaultKeys();
}

/** The key of a class or an action ("cat" -> "8", "save" -> "Enter"). */
export function keyOf(name) {
  return keys[name];
}

/** What a key press means: {kind: "class"|"action", name} or null. */
export function actionFor(key) {
  const pressed = key.length === 1 ? key.toLowerCase() : key;
  for (const [name, k] of Object.entries(keys)) {
    if (k === pressed) return { kind: VOC_CLASSES.includes(name) ? "class" : "action", name };
  }
  return null;
}

/** How a key is shown on screen. */
export function keyLabel(key) {
  const names = { ArrowRight: "→", ArrowLeft: "←", Escape: "Esc", " ": "Space" };
  return names[key] || (key?.length === 1 ? key.toUpperCase() : key || "");
}

export function initKeysDialog({ onChanged }) {
  const dialog = $("keys-dialog");
  $("rev-keys").addEventListener("click", () => {
    fillDialog(keys);
    dialog.returnValue = "";
    dialog.showModal();
  });
  $("keys-defaults").addEventListener("click", () => fillDialog(defaultKeys()));
  $("keys-ok").addEventListener("click", (e) => {
    const chosen = readDialog();
    const clash = duplicate(chosen);
    if (clash) {
      e.preventDefault();
      showMsg($("keys-msg"), t("keys.duplicate", { key: keyLabel(clash) }), "error");
    } else {
      keys = chosen;
      localStorage.setItem(STORAGE_KEY, JSON.stringify(keys));
    }
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "ok") onChanged();
  });
}

function fillDialog(source) {
  showMsg($("keys-msg"), "");
  const names = [...ACTIONS, ...VOC_CLASSES];
  $("keys-grid").replaceChildren(
    ...names.map((name) => {
      const input = el("input", {
        type: "text",
        id: `key-${name}`,
        class: "key-input",
        dataset: { name, key: source[name] },
        value: keyLabel(source[name]),
        readonly: true,
        "aria-label": nameOf(name),
        onkeydown: (e) => captureKey(e, input),
      });
      return el("label", { class: "key-row", for: `key-${name}` }, el("span", {}, nameOf(name)), input);
    }),
  );
}

function nameOf(name) {
  return VOC_CLASSES.includes(name) ? className(name) : t(`keys.action.${name}`);
}

function captureKey(e, input) {
  if (e.key === "Tab" || e.key === "Shift") return;
  e.preventDefault();
  e.stopPropagation();
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  input.dataset.key = key;
  input.value = keyLabel(key);
}

function readDialog() {
  const out = {};
  document.querySelectorAll("#keys-grid .key-input").forEach((input) => {
    out[input.dataset.name] = input.dataset.key;
  });
  return out;
}

function duplicate(map) {
  const seen = new Set();
  for (const key of Object.values(map)) {
    if (seen.has(key)) return key;
    seen.add(key);
  }
  return null;
}
