// RIMS Utility: the sign-in page (login.html). The dashboard itself, with who is signed in and
// sign-out, is dashboard.js. No framework and no inline script (the pages'
// Content-Security-Policy forbids it). The session cookie is HttpOnly: this script never sees it.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  function showError(text) {
    const box = $("error");
    if (box) box.textContent = text || "";
  }

  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method, headers, credentials: "same-origin", cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_) {
      return { status: 0, message: "RIMS Utility is not answering. Is it running?" };
    }
    let answer = {};
    try { answer = await response.json(); } catch (_) { /* not JSON: keep the status */ }
    return { status: response.status, message: answer.message || "", data: answer.data || {},
             retryAfter: response.headers.get("Retry-After") };
  }

  function setUpSignIn(form) {
    const posId = $("pos_id");
    const key = $("key");
    const toggle = $("show-key");
    const submit = $("sign-in");

    toggle.addEventListener("click", () => {
      const show = key.type === "password";
      key.type = show ? "text" : "password";
      toggle.textContent = show ? "Hide" : "Show";
      toggle.setAttribute("aria-pressed", String(show));
      key.focus();
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showError("");
      if (!posId.value.trim()) { showError("Enter the POS ID."); posId.focus(); return; }
      if (!key.value) { showError("Enter the key."); key.focus(); return; }
      submit.disabled = true;
      const answer = await api("POST", "/api/session",
                               { pos_id: posId.value.trim(), key: key.value });
      submit.disabled = false;
      if (answer.status === 200) {
        window.location.assign("/dashboard.html");
        return;
      }
      key.value = "";
      if (answer.status === 401) {
        showError("That POS ID and key do not match. Use the same POS ID and key you " +
                  "entered when the utility was set up.");
      } else if (answer.status === 429) {
        showError("Too many wrong tries. Wait " + (answer.retryAfter || "a few") +
                  " seconds, then try again.");
      } else {
        showError(answer.message || "Signing in did not work. Please try again.");
      }
      key.focus();
    });

    // Already signed in (e.g. the page was bookmarked): straight to the dashboard.
    api("GET", "/api/session").then((answer) => {
      if (answer.status === 200) window.location.replace("/dashboard.html");
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = $("sign-in-form");
    if (form) setUpSignIn(form);
  });
})();
