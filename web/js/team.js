// Team mode (docs/SECURITY.md): the sign-in form when /auth/me says team and nobody is
// signed in (the login cookie: HttpOnly, so the page never holds the secret), who is signed
// in and signing out; for an admin (Corrections tab), the agreement between annotators, each
// disagreement resolved by choosing one annotator's labels or all of them opened as a review
// session whose saves resolve them, and the users (list, add with the token shown once, remove).

import { getJson, postJson, request } from "./api.js";
import { $, el, showMsg } from "./dom.js";
import { className, formatNumber, t } from "./i18n.js";

const me = { mode: "single", user: null };
let agreement = null; // {pairs, disagreements, list} once loaded
let users = null; // [{name, role}] once loaded
let hooks = { onReview: async () => {} };

/** Ask the server who this is; in team mode with nobody signed in, open the sign-in form.
 * options.onReview(sessionId): open a review session just made (the disagreements). */
export async function initTeam(options = {}) {
  hooks = { ...hooks, ...options };
  $("team-signout").addEventListener("click", signOut);
  $("agree-review").addEventListener("click", reviewDisagreements);
  $("users-form").addEventListener("submit", (e) => {
    e.preventDefault();
    addUser();
  });
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn();
  });
  $("signin-dialog").addEventListener("cancel", (e) => e.preventDefault()); // nothing works without it
  try {
    Object.assign(me, await getJson("/auth/me"));
  } catch {
    return; // the training API is down: single-user behaviour, the health bar says why
  }
  render();
  if (needsSignIn()) showSignIn();
}

/** In team mode with nobody signed in, every request is refused until someone signs in. */
export function needsSignIn() {
  return me.mode === "team" && !me.user;
}

export function isAdmin() {
  return me.mode === "single" || me.user?.role === "admin";
}

export function showSignIn() {
  const dialog = $("signin-dialog");
  if (!dialog.open) dialog.showModal();
}

async function signIn() {
  const name = $("signin-name").value.trim();
  const password = $("signin-password").value;
  showMsg($("signin-msg"), "");
  try {
    await postJson("/auth/login", { name, password });
  } catch (err) {
    showMsg($("signin-msg"), err.message, "error");
    return;
  }
  location.reload(); // every tab loads again, now with the login cookie
}

async function signOut() {
  try {
    await fetch("/auth/logout", { method: "POST", cache: "no-store" }); // 204, no body
  } finally {
    location.reload();
  }
}

export function render() {
  $("team-user").hidden = !me.user;
  if (me.user) $("team-name").textContent = t(`team.role_${me.user.role}`, { name: me.user.name });
  $("rev-assign").hidden = !(me.mode === "team" && isAdmin());
  $("rev-annotators").placeholder = t("assign.placeholder");
  renderAgreement();
  renderUsers();
}

/** What an admin asked of new review sessions: {annotators, overlap} (POST /sessions), or {}. */
export function assignment() {
  if ($("rev-assign").hidden) return {};
  const annotators = $("rev-annotators").value.split(",").map((n) => n.trim()).filter(Boolean);
  return annotators.length ? { annotators, overlap: Number($("rev-overlap").value) || 0 } : {};
}

/** The Corrections tab shows the agreement and the users to an admin in team mode. */
export async function loadAgreement() {
  if (me.mode !== "team" || !isAdmin()) return;
  try {
    const [summary, found, listed] = await Promise.all([getJson("/agreement"), getJson("/disagreements"), getJson("/users")]);
    agreement = { ...summary, list: found.disagreements || [] };
    users = listed.users || [];
    showMsg($("agree-msg"), "");
  } catch (err) {
    showMsg($("agree-msg"), err.message, "error");
  }
  renderAgreement();
  renderUsers();
}

function kappaText(k) {
  return k === null || k === undefined ? "–" : formatNumber(k, 2);
}

function renderAgreement() {
  $("agree-card").hidden = !agreement;
  if (!agreement) return;
  $("agree-summary").textContent = t("agree.summary", {
    pairs: formatNumber(agreement.pairs.length, 0),
    n: formatNumber(agreement.disagreements, 0),
  });
  const head = el("tr", {}, ...["agree.a", "agree.b", "agree.photos", "agree.kappa", "agree.per_class"].map((k) => el("th", {}, t(k))));
  const rows = agreement.pairs.map((p) =>
    el("tr", { dataset: { pair: `${p.a}|${p.b}` } },
      el("td", {}, p.a),
      el("td", {}, p.b),
      el("td", {}, formatNumber(p.photos, 0)),
      el("td", { dataset: { testid: "agree-kappa" } }, kappaText(p.kappa)),
      el("td", { class: "muted" }, Object.entries(p.per_class || {})
        .filter(([, k]) => k !== null)
        .map(([c, k]) => `${className(c)} ${kappaText(k)}`).join(" · "))));
  $("agree-pairs").replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  $("agree-list").replaceChildren(...agreement.list.map(disagreementRow));
  $("agree-review").disabled = !agreement.list.length;
}

function disagreementRow(d) {
  const name = d.filename || d.image_id.slice(0, 12);
  const choices = Object.entries(d.labels).map(([who, labels]) =>
    el("li", {},
      `${who}: ${labels.length ? labels.map(className).join(", ") : t("ind.no_labels")} `,
      el("button", {
        type: "button",
        class: "small",
        dataset: { testid: "agree-resolve" },
        onclick: () => resolve(d.image_id, labels),
      }, t("agree.use", { name: who }))));
  return el("li", { class: "row no-thumb", dataset: { imageId: d.image_id } },
    el("div", { class: "row-body" }, el("p", { class: "row-title" }, name), el("ul", {}, ...choices)));
}

async function resolve(imageId, labels) {
  try {
    await postJson(`/disagreements/${encodeURIComponent(imageId)}/resolve`, { labels });
  } catch (err) {
    showMsg($("agree-msg"), err.message, "error");
    return;
  }
  await loadAgreement();
}

/** Every unresolved disagreement as a new review session, opened in the Review tab. */
async function reviewDisagreements() {
  $("agree-review").disabled = true;
  try {
    const made = await postJson("/disagreements/review", {});
    await hooks.onReview(made.session.id);
  } catch (err) {
    showMsg($("agree-msg"), err.message, "error");
    $("agree-review").disabled = false;
  }
}

function renderUsers() {
  $("users-card").hidden = !users;
  if (!users) return;
  $("users-list").replaceChildren(...users.map((u) =>
    el("li", { class: "row no-thumb", dataset: { testid: "user-row", name: u.name } },
      el("div", { class: "row-body" },
        el("p", { class: "row-title" }, u.name),
        el("p", { class: "muted" }, t(`users.role_${u.role}`))),
      u.name === me.user?.name
        ? el("span", { class: "muted" }, t("users.you")) // removing yourself would lock you out
        : el("button", { type: "button", class: "small", onclick: () => removeUser(u.name) }, t("users.remove")))));
}

/** An admin adds a user; its API token is shown here once (the server keeps only a hash). */
async function addUser() {
  const body = { name: $("users-name").value.trim(), role: $("users-role").value };
  if ($("users-password").value) body.password = $("users-password").value;
  $("users-token-box").hidden = true;
  try {
    const made = await postJson("/users", body);
    $("users-name").value = "";
    $("users-password").value = "";
    showMsg($("users-msg"), t("users.added", { name: made.user.name }), "ok");
    $("users-token").textContent = made.token;
    $("users-token-box").hidden = false;
  } catch (err) {
    showMsg($("users-msg"), err.message, "error");
    return;
  }
  await loadAgreement();
}

async function removeUser(name) {
  if (!window.confirm(t("users.remove_confirm", { name }))) return;
  try {
    await request(`/users/${encodeURIComponent(name)}`, { method: "DELETE" });
    showMsg($("users-msg"), t("users.removed", { name }), "ok");
  } catch (err) {
    showMsg($("users-msg"), err.message, "error");
    return;
  }
  await loadAgreement();
}
