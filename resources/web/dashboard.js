// RIMS Utility dashboard (dashboard.html): one page, its views switched by the address's #hash:
//   #overview, #invoices?filters, #invoice/<id>, #reports?settings, #reconciliation?dates,
//   #tax-bands?dates (Kenya only)
// Plain JavaScript, no framework, no build step, no inline script (the Content-Security-Policy
// forbids it). The JSON API it reads is /api/dashboard/… (docs: the dashboard contract).
// Rules kept throughout:
// - money arrives as exact decimal text ("1234.5"); it is shown with thousands separators by
//   string manipulation, never through a float;
// - every error answer's message is shown in the alert region (#error); a 401 anywhere means
//   the session ended: back to the sign-in page;
// - the session cookie is HttpOnly (this script never sees it); the CSRF token handed out by
//   GET /api/session goes with every state-changing request;
// - data is put on the page with textContent / createElement only, never as HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 10000;        // overview, sending state, first page of the invoice list
  const DETAIL_BUSY_MS = 2000;     // an invoice on its way: refresh its detail often
  const VIEWS = ["overview", "invoices", "invoice", "reports", "reconciliation", "tax-bands"];
  const TITLES = { overview: "Overview", invoices: "Invoices", invoice: "Invoice",
                   reports: "Sales report", reconciliation: "Reconciliation",
                   "tax-bands": "Tax per band" };
  const STATE_LABELS = { queued: "Queued", sending: "Sending", synced: "Synced",
                         rejected: "Rejected", held: "Held" };
  // What one sending attempt ended in: the forwarder's words (and the contract's older ones).
  const OUTCOME_LABELS = {
    accepted: "Recorded by KPRA", synced: "Recorded by KPRA",
    already_recorded: "KPRA already had it", rejected: "Refused by KPRA",
    auth_failed: "Key not accepted", held: "Key not accepted",
    retry_later: "Will try again", retry: "Will try again",
    ambiguous: "Answer lost; will check again", interrupted: "Interrupted",
    retry_requested: "Retry asked on the dashboard",
  };
  const INVOICE_FILTERS = ["q", "kind", "state", "from", "to", "payment_mode", "pos_id"];
  const BAND_SETTINGS = ["from", "to", "pos_id"];
  const REPORT_SETTINGS = ["period", "from", "to", "pos_id", "payment_mode"];

  let csrfToken = null;
  let routeSeq = 0;          // bumps on every view change: late answers for an old view are dropped
  let viewTimer = null;      // the current view's next refresh
  let currentView = null;
  let errorSource = null;    // which part of the page put the text in #error
  let sendingPaused = null;
  // Which tax authority (GET /api/dashboard/authority): KPRA, or Kenya eTIMS through the KRA
  // Agent or ProTax. Kenya shows kinds, items, tax bands, KES and the receipt link.
  let authority = { upstream: "kpra", kenya: false, authority: "KPRA RIMS", signer: "KPRA",
                    currency: null, customer_lookup: false, customer_lookup_absent: null };

  // ---------------------------------------------------------------- text helpers

  /** "1234567.5" → "1,234,567.50": string work only (never a float), at least 2 decimals. */
  function money(text) {
    if (text === null || text === undefined || text === "") return "—";
    const raw = String(text).trim();
    const m = /^([-+]?)(\d*)(?:\.(\d*))?$/.exec(raw);
    if (!m || (m[2] === "" && !m[3])) return raw;  // not plain decimal text: show it as it is
    const sign = m[1] === "-" ? "-" : "";
    const whole = (m[2] || "0").replace(/^0+(?=\d)/, "");
    let frac = m[3] || "";
    if (frac.length < 2) frac = (frac + "00").slice(0, 2);
    return sign + whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + frac;
  }

  /** Exact sum of decimal texts (BigInt, scaled), as decimal text. */
  function decimalSum(texts) {
    const parts = texts.map((t) => /^(-?)(\d*)(?:\.(\d*))?$/.exec(String(t).trim()))
      .filter((m) => m);
    const scale = Math.max(0, ...parts.map((m) => (m[3] || "").length));
    let total = 0n;
    for (const m of parts) {
      const digits = (m[2] || "0") + (m[3] || "").padEnd(scale, "0");
      total += (m[1] === "-" ? -1n : 1n) * BigInt(digits);
    }
    const negative = total < 0n;
    let digits = (negative ? -total : total).toString().padStart(scale + 1, "0");
    if (scale) digits = digits.slice(0, -scale) + "." + digits.slice(-scale);
    return (negative ? "-" : "") + digits;
  }

  /** For comparing and drawing only, never for showing a total. */
  function roughly(text) {
    const n = Number(text);
    return Number.isFinite(n) ? n : 0;
  }

  /** " negative" for a money cell's class when the amount takes money back, else "". */
  function neg(text) {
    return roughly(text) < 0 ? " negative" : "";
  }

  function wholeNumber(n) {
    if (n === null || n === undefined) return "—";
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function plural(n, one, many) {
    return wholeNumber(n) + " " + (n === 1 ? one : (many || one + "s"));
  }

  /** 7260 → "2 hours"; 90 → "1 minute"; 200000 → "2 days". */
  function ageWords(seconds) {
    if (seconds === null || seconds === undefined) return null;
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return s <= 1 ? "a moment" : plural(s, "second");
    const minutes = Math.floor(s / 60);
    if (minutes < 60) return plural(minutes, "minute");
    const hours = Math.floor(minutes / 60);
    if (hours < 48) {
      const rest = minutes % 60;
      return plural(hours, "hour") + (hours < 3 && rest ? " " + plural(rest, "minute") : "");
    }
    return plural(Math.floor(hours / 24), "day");
  }

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                  "Dec"];

  /** "2026-11-21" → "21 Nov 2026" (no Date object: the text is the shop PC's local date). */
  function dayWords(day, withYear) {
    const m = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(day || "");
    if (!m) return day || "";
    const month = MONTHS[Number(m[2]) - 1] || m[2];
    if (!m[3]) return month + " " + m[1];
    return Number(m[3]) + " " + month + (withYear === false ? "" : " " + m[1]);
  }

  function stateBadge(state) {
    return el("span", { class: "badge state-" + state }, STATE_LABELS[state] || state);
  }

  /** el("a", {href: "#x", class: "y"}, "text", child…): safe DOM building, no HTML parsing. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function setText(id, text) {
    const node = $(id);
    const value = text === null || text === undefined ? "" : String(text);
    if (node && node.textContent !== value) node.textContent = value;
  }

  function todayText() {
    const d = new Date();
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" +
      String(d.getDate()).padStart(2, "0");
  }

  // ---------------------------------------------------------------- messages

  function showError(text, source) {
    const box = $("error");
    box.textContent = text || "";
    errorSource = text ? (source || "page") : null;
  }

  function clearError(source) {
    if (!source || errorSource === source) showError("");
  }

  function showNotice(text) {
    setText("notice", text || "");
  }

  // ---------------------------------------------------------------- the API

  let inFlight = 0;       // API requests under way (see idle())
  let loadingImages = 0;  // chart pictures loading off-screen
  let leaving = false;    // signing out: no more refreshes

  /** {status, ok, message, data, errors}. Network failure: status 0. A 401 sends the browser to
   *  the sign-in page and never resolves, so no caller acts on it. */
  async function api(method, path, body) {
    inFlight += 1;
    let answer;
    try {
      answer = await request(method, path, body);
    } finally {
      inFlight -= 1;
    }
    if (answer.status === 401 && path !== "/api/session") {
      leaving = true;
      window.location.assign("/login.html");
      return new Promise(() => {});
    }
    return answer;
  }

  async function request(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
    let response;
    try {
      response = await fetch(path, {
        method, headers, credentials: "same-origin", cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_) {
      return { status: 0, ok: false, data: {}, errors: {},
               message: "RIMS Utility is not answering. Is it still running? This page tries " +
                        "again by itself." };
    }
    let answer = {};
    try { answer = await response.json(); } catch (_) { /* not JSON: keep the status */ }
    const ok = response.status >= 200 && response.status < 300;
    let message = answer.message || "";
    if (!ok && !message) {
      message = "The utility answered " + response.status + " to " + path.split("?")[0] + ".";
    }
    return { status: response.status, ok, message, data: answer.data || {},
             errors: answer.errors || {} };
  }

  /** Nothing under way: no API request, no picture loading. */
  function idle() {
    return inFlight === 0 && loadingImages === 0 &&
      [...document.images].every((img) => img.complete || !img.getAttribute("src"));
  }

  /** Resolves once idle() (at most `ms` later): leaving the page then cancels nothing. */
  function settle(ms) {
    return new Promise((resolve) => {
      const until = Date.now() + ms;
      const check = () => (idle() || Date.now() > until ? resolve() : setTimeout(check, 25));
      check();
    });
  }

  /** The query string of the non-empty values of `params` among `names`. */
  function queryOf(params, names) {
    const out = new URLSearchParams();
    for (const name of names) {
      const value = params[name];
      if (value !== undefined && value !== null && String(value).trim() !== "") {
        out.set(name, String(value).trim());
      }
    }
    return out.toString();
  }

  function withQuery(path, query) {
    return query ? path + "?" + query : path;
  }

  function paramsObject(searchParams, names) {
    const out = {};
    for (const name of names) out[name] = searchParams.get(name) || "";
    return out;
  }

  function formValues(form, names) {
    const out = {};
    for (const name of names) out[name] = (form.elements[name] && form.elements[name].value) || "";
    return out;
  }

  function fillForm(form, values) {
    for (const [name, value] of Object.entries(values)) {
      const field = form.elements[name];
      if (!field) continue;
      if (field.tagName === "SELECT" && value &&
          ![...field.options].some((o) => o.value === value)) {
        field.append(el("option", { value }, value));  // e.g. a POS not seen yet
      }
      field.value = value || "";
    }
  }

  // ---------------------------------------------------------------- routing

  function parseHash() {
    const raw = window.location.hash.replace(/^#/, "");
    const cut = raw.indexOf("?");
    const path = cut < 0 ? raw : raw.slice(0, cut);
    const params = new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1));
    const detail = /^invoice\/(\d+)$/.exec(path);
    if (detail) return { view: "invoice", id: detail[1], params };
    if (path === "tax-bands" && !authority.kenya) return { view: "overview", params };
    if (VIEWS.includes(path) && path !== "invoice") return { view: path, params };
    return { view: "overview", params };
  }

  /** Put `hash` in the address without a new history entry or a hashchange. */
  function replaceHash(hash) {
    if (window.location.hash !== hash) {
      window.history.replaceState(null, "", window.location.pathname + hash);
    }
  }

  function route(moveFocus) {
    const target = parseHash();
    routeSeq += 1;
    clearTimeout(viewTimer);
    viewTimer = null;
    showNotice("");
    clearError();
    setText("print-title", "");
    const changed = currentView !== target.view;
    currentView = target.view;
    for (const name of VIEWS) $("view-" + name).hidden = name !== target.view;
    const tab = target.view === "invoice" ? "invoices" :
      target.view === "tax-bands" ? "reports" : target.view;
    for (const link of document.querySelectorAll(".tabs a")) {
      if (link.dataset.view === tab) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = TITLES[target.view] + " · RIMS Utility";
    if (changed && moveFocus) {
      const heading = document.querySelector("#view-" + target.view + " h1");
      if (heading) heading.focus({ preventScroll: false });
    }
    const seq = routeSeq;
    if (target.view === "overview") loadOverview(seq);
    else if (target.view === "invoices") loadInvoices(seq, target.params);
    else if (target.view === "invoice") loadInvoice(seq, target.id, true);
    else if (target.view === "reports") loadReport(seq, target.params);
    else if (target.view === "reconciliation") loadReconciliation(seq, target.params);
    else if (target.view === "tax-bands") loadTaxBands(seq, target.params);
  }

  function current(seq) {
    return seq === routeSeq;
  }

  function later(seq, fn, ms) {
    if (!current(seq) || leaving) return;
    clearTimeout(viewTimer);
    viewTimer = setTimeout(() => {
      if (!current(seq)) return;
      if (document.hidden) { later(seq, fn, ms); return; }  // a hidden tab costs nothing
      fn();
    }, ms);
  }

  // ---------------------------------------------------------------- session, sending

  async function startSession() {
    const answer = await api("GET", "/api/session");
    if (answer.status !== 200) {
      window.location.replace("/login.html");
      return false;
    }
    csrfToken = answer.data.csrf_token;
    setText("signed-in-as", "Signed in as POS " + answer.data.pos_id);
    const who = await api("GET", "/api/dashboard/authority");
    if (who.ok) applyAuthority(who.data);
    return true;
  }

  /** The payment filters offer this authority's modes (KPRA: Cash, Card; Kenya: the eTIMS
   *  payment types), [{payment_mode, payment_mode_name}]; none given: the page's own. */
  function fillPaymentModes(modes) {
    if (!Array.isArray(modes) || !modes.length) return;
    for (const id of ["f-payment", "r-payment"]) {
      const select = $(id);
      const chosen = select.value;
      select.replaceChildren(el("option", { value: "" }, "All"), ...modes.map(
        (m) => el("option", { value: String(m.payment_mode) }, m.payment_mode_name)));
      select.value = chosen;
    }
  }

  /** The name of a payment mode (the report's scope line), as the filter offers it. */
  function paymentModeName(mode) {
    const found = (authority.payment_modes || []).find((m) => String(m.payment_mode) === mode);
    return found ? found.payment_mode_name : mode === "1" ? "Cash" : mode === "2" ? "Card" :
      "mode " + mode;
  }

  /** Show the parts of the page that belong to this authority, and name it. */
  function applyAuthority(a) {
    authority = Object.assign({}, authority, a);
    const kenya = Boolean(authority.kenya);
    document.body.classList.toggle("kenya", kenya);
    for (const node of document.querySelectorAll(".kenya-only")) node.hidden = !kenya;
    for (const node of document.querySelectorAll(".kpra-only")) node.hidden = kenya;
    $("authority-strip").hidden = !kenya;
    setText("authority-badge", (authority.authority || "").replace(/ \((TEST|LIVE) key\)$/, ""));
    setText("authority-key", authority.key_mode === "test" ?
      "· TEST key: invoices go to ProTax's sandbox, not to KRA" :
      authority.key_mode === "live" ? "· LIVE key" : "");
    for (const node of document.querySelectorAll(".signer")) {
      node.textContent = authority.signer || "the tax authority";
    }
    const signer = authority.signer || "KPRA";
    OUTCOME_LABELS.accepted = OUTCOME_LABELS.synced = "Recorded by " + signer;
    OUTCOME_LABELS.already_recorded = signer + " already had it";
    OUTCOME_LABELS.rejected = "Refused by " + signer;
    OUTCOME_LABELS.submitted = "Accepted, being signed";
    fillPaymentModes(authority.payment_modes);
    const lookup = kenya && authority.customer_lookup;
    $("pin-lookup").hidden = !lookup;
    $("pin-absent").hidden = !kenya || lookup;
    if (kenya && !lookup) {
      const label = $("pin-absent-label");
      label.title = authority.customer_lookup_absent || "Not offered by this tax authority.";
      label.setAttribute("aria-label", "Customer PIN lookup is not available: " + label.title);
    }
    if (kenya) {
      setText("inv-total-head", "Total (" + (authority.currency || "KES") + ")");
      $("f-q").previousElementSibling.textContent = "Number";
      setText("inv-number-head", "Number");
      $("f-q").placeholder = "e.g. INV-1001";
      setText("inv-tax-head", "Tax (" + (authority.currency || "KES") + ")");
      $("invoices-title").nextElementSibling.textContent = "Every sale, credit note, item " +
        "registration and stock adjustment the till sent, newest first. Choose one to see its " +
        "items, tax bands and receipt QR code.";
    }
  }

  /** A document's amount, or "—" for the kinds without money (items, stock). */
  function rowMoney(row, field) {
    return row.has_money === false ? "—" : money(row[field]);
  }

  async function signOut() {
    const button = $("sign-out");
    button.disabled = true;
    leaving = true;
    clearTimeout(viewTimer);
    await settle(2000);  // let what is loading finish: nothing half-done, nothing cancelled
    const out = await api("DELETE", "/api/session");
    if (out.status === 200 || out.status === 401) {
      window.location.assign("/login.html");
      return;
    }
    leaving = false;
    button.disabled = false;
    showError(out.message || "Signing out did not work. Please try again.");
  }

  function renderSending(paused) {
    sendingPaused = paused;
    const button = $("sending-toggle");
    button.hidden = false;
    button.textContent = paused ? "Resume sending" : "Pause sending";
    setText("sending-state", paused ? "Sending is paused" : "Sending is on");
    $("sending-state").className = "sending-state " + (paused ? "paused" : "on");
  }

  async function refreshSending() {
    if (leaving) return;
    const answer = await api("GET", "/api/dashboard/sending");
    if (answer.ok) {
      renderSending(Boolean(answer.data.paused));
      clearError("sending");
    } else if (answer.status === 0) {
      showError(answer.message, "sending");
    }
  }

  async function toggleSending() {
    const button = $("sending-toggle");
    button.disabled = true;
    const answer = await api("POST", "/api/dashboard/sending", { paused: !sendingPaused });
    button.disabled = false;
    if (!answer.ok) { showError(answer.message); return; }
    renderSending(Boolean(answer.data.paused));
    showNotice(answer.message);
    if (currentView === "overview") loadOverview(routeSeq);
  }

  // ---------------------------------------------------------------- overview

  let chartsKey = null;
  let chartVersion = 0;

  function measure() {
    const checked = document.querySelector("input[name=measure]:checked");
    return checked ? checked.value : "sales";
  }

  async function loadOverview(seq) {
    const answer = await api("GET", "/api/dashboard/overview");
    if (!current(seq)) return;
    if (!answer.ok) {
      showError(answer.message, "overview");
    } else {
      clearError("overview");
      renderOverview(answer.data, answer.message);
    }
    refreshSending();
    later(seq, () => loadOverview(seq), REFRESH_MS);
  }

  function renderOverview(d, headline) {
    const sales = d.sales_today || {};
    const counts = d.counts || {};
    const upstream = d.upstream || {};
    const received = Object.values(counts).reduce((a, b) => a + (Number(b) || 0), 0);
    setText("overview-headline", received ? headline :
      "No invoices yet — they appear here as soon as the till sends one.");
    const kes = authority.currency ? " " + authority.currency : "";
    setText("ov-sales-total", money(sales.total) + kes);
    setText("ov-sales-sub", "before tax " + money(sales.amount) +
      (authority.kenya ? "; credit notes subtracted" : ""));
    setText("ov-tax", money(sales.tax) + kes);
    setText("ov-count", wholeNumber(sales.count));
    setText("ov-today", "on " + dayWords(d.today));
    $("practice-badge").hidden = !d.practice;

    // Reachability: a coloured badge with words, plus a sentence.
    const reach = $("ov-reach");
    const name = upstream.name || "The tax authority";
    let kind, words, sentence;
    if (upstream.sending_paused) {
      kind = "amber"; words = "Paused";
      sentence = "Sending is paused. Invoices are received and kept; press \"Resume sending\" " +
                 "at the top to send them.";
    } else if (upstream.reachable === true) {
      kind = "green"; words = "Reachable";
      sentence = name + " answers.";
    } else if (upstream.reachable === false) {
      kind = "red"; words = "Not reachable";
      sentence = name + " cannot be reached" +
        (upstream.last_error ? ": " + upstream.last_error : ".") +
        " Invoices are kept safely and sent by themselves when it answers again" +
        (upstream.next_try_in_s ? " (next try in " + ageWords(upstream.next_try_in_s) + ")." : ".");
    } else {
      kind = "amber"; words = "Not checked yet";
      sentence = "No invoice has been sent to " + name + " since the utility started.";
    }
    reach.className = "badge reach-" + kind;
    setText("ov-reach", words);
    setText("ov-reach-words", sentence + (d.practice ?
      " Practice mode: invoices go to the built-in practice server, not to " +
      (authority.kenya ? "KRA eTIMS." : "KPRA.") : ""));

    const lastSync = d.last_successful_sync;
    setText("ov-last-sync", lastSync ?
      ageWords(d.last_successful_sync_age_s) + " ago (" + lastSync + ")" : "None yet");
    setText("ov-oldest", d.oldest_pending_at ?
      ageWords(d.oldest_pending_age_s) + " (since " + d.oldest_pending_at + ")" :
      "Nothing is waiting");
    const waiting = (counts.queued || 0) + (counts.sending || 0);
    setText("ov-pending", plural(d.pending || 0, "invoice") +
      (counts.held && waiting ? " (" + wholeNumber(counts.held) + " of them held)" : "") +
      (counts.held && !waiting ? " (all of them held)" : ""));
    setText("ov-synced", plural(counts.synced || 0, "invoice"));

    renderProblems(d, counts);
    renderCharts(d);
  }

  function renderProblems(d, counts) {
    const held = counts.held || 0;
    const rejected = counts.rejected || 0;
    setText("ov-held", held ? plural(held, "invoice") + " held" : "None");
    setText("ov-rejected", rejected ? plural(rejected, "invoice") + " rejected" : "None");
    $("ov-held").className = held ? "warn" : "";
    $("ov-rejected").className = rejected ? "bad" : "";
    $("ov-no-problems").hidden = Boolean(held || rejected);
    $("ov-retry-row").hidden = !(held || rejected);
    const see = $("ov-see-failed");
    see.href = rejected ? "#invoices?state=rejected" : "#invoices?state=held";
    see.textContent = rejected ? "See the rejected invoices" : "See the held invoices";

    const box = el("div", { id: "ov-problems" });
    for (const pos of d.held_pos || []) {
      box.append(el("div", { class: "problem warn-box" },
        el("p", { class: "problem-title" },
           "POS " + pos.pos_id + " is held" + (pos.since ? " since " + pos.since : "") + "."),
        el("p", { class: "problem-reason" }, pos.reason || "The tax authority did not accept its key."),
        el("p", { class: "what-to-do" }, el("strong", {}, "What to do: "),
           "check this POS's key with KPRA, enter it again in the setup window (or run " +
           "rims-utility setup for POS " + pos.pos_id + "), then press \"Retry all failed\". " +
           "Its new sales are kept safely until then.")));
    }
    for (const problem of d.problems || []) {
      if (problem.state === "held" && (d.held_pos || []).length) continue;  // said above
      const rejectedOnes = problem.state === "rejected";
      box.append(el("div", { class: "problem " + (rejectedOnes ? "bad-box" : "warn-box") },
        el("p", { class: "problem-title" }, plural(problem.count, "invoice") + " " +
           (rejectedOnes ? "rejected" : "held") + ":"),
        el("p", { class: "problem-reason" }, problem.reason || "No reason was given."),
        el("p", { class: "what-to-do" }, el("strong", {}, "What to do: "),
           rejectedOnes ?
             "the tax authority refused these invoices as they were sent. Check the reason " +
             "above with your POS supplier or KPRA; once it is fixed, press \"Retry all failed\"." :
             "check the key of the POS with KPRA and run setup again, then press " +
             "\"Retry all failed\".")));
    }
    const old = $("ov-problems");
    if (old.innerHTML !== box.innerHTML) old.replaceWith(box);  // unchanged: leave it alone
  }

  function renderCharts(d) {
    const m = measure();
    const key = m + "|" + JSON.stringify(d.daily || []) + "|" + JSON.stringify(d.hourly || []);
    if (key === chartsKey) return;
    chartsKey = key;
    chartVersion += 1;
    const label = m === "tax" ? "tax" : "sales (totals with tax)";
    const field = m === "tax" ? "tax" : "total";
    const daily = d.daily || [];
    const hourly = d.hourly || [];
    const best = (list) => list.reduce((a, b) => (roughly(b[field]) > roughly(a[field]) ? b : a),
                                       list[0] || {});
    const dailySum = decimalSum(daily.map((x) => x[field] || "0"));
    const hourlySum = decimalSum(hourly.map((x) => x[field] || "0"));
    const topDay = best(daily);
    const topHour = best(hourly);
    const dailyAlt = "Bar chart of " + label + " per day for the last 30 days" +
      (daily.length ? ", " + dayWords(daily[0].day, false) + " to " +
        dayWords(daily[daily.length - 1].day, false) : "") +
      ". Total " + money(dailySum) +
      (roughly(topDay[field]) > 0 ? "; highest on " + dayWords(topDay.day, false) + ": " +
        money(topDay[field]) : "; no sales in these days") + ".";
    const hourlyAlt = "Bar chart of " + label + " per hour today. Total " + money(hourlySum) +
      (roughly(topHour[field]) > 0 ? "; busiest hour " + String(topHour.hour).padStart(2, "0") +
        ":00 with " + money(topHour[field]) : "; no sales yet today") + ".";
    swapImage($("chart-daily"), "/api/dashboard/charts/daily.svg?measure=" + m + "&v=" +
              chartVersion, dailyAlt);
    swapImage($("chart-hourly"), "/api/dashboard/charts/hourly.svg?measure=" + m + "&v=" +
              chartVersion, hourlyAlt);
    const what = m === "tax" ? "Tax" : "Sales";
    setText("chart-daily-caption", what + " in the last 30 days: " + money(dailySum));
    setText("chart-hourly-caption", what + " today: " + money(hourlySum));
  }

  /** Load the new picture off-screen, then show it: no blank flash while it loads. */
  function swapImage(img, src, alt) {
    if (!img.getAttribute("src")) {
      img.src = src;
      img.alt = alt;
      return;
    }
    const next = new Image();
    loadingImages += 1;
    next.onload = () => { loadingImages -= 1; img.src = src; img.alt = alt; };
    next.onerror = () => { loadingImages -= 1; };
    next.src = src;
  }

  // ---------------------------------------------------------------- invoice list

  const list = { key: null, filters: {}, stack: [null], next: null, seq: 0, rowsKey: null,
                 posLoaded: false };

  async function loadPosOptions() {
    if (list.posLoaded) return;
    const answer = await api("GET", "/api/dashboard/pos");
    if (!answer.ok) return;  // the lists keep "All" and whatever the address names
    list.posLoaded = true;
    for (const select of document.querySelectorAll(".pos-select")) {
      const chosen = select.value;
      for (const posId of answer.data.pos_ids || []) {
        if (![...select.options].some((o) => o.value === posId)) {
          select.append(el("option", { value: posId }, posId));
        }
      }
      select.value = chosen;
    }
  }

  async function loadInvoices(seq, params) {
    loadPosOptions();
    const filters = paramsObject(params, INVOICE_FILTERS);
    fillForm($("invoice-filters"), filters);
    const key = queryOf(filters, INVOICE_FILTERS);
    if (key !== list.key) {  // new filters: back to the first page
      list.key = key;
      list.stack = [null];
      list.rowsKey = null;
    }
    list.filters = filters;
    const exportQuery = key;
    $("inv-export-csv").href = withQuery("/api/dashboard/export/invoices.csv", exportQuery);
    $("inv-export-xlsx").href = withQuery("/api/dashboard/export/invoices.xlsx", exportQuery);
    await fetchInvoicePage(seq);
  }

  async function fetchInvoicePage(seq) {
    const after = list.stack[list.stack.length - 1];
    const query = queryOf(Object.assign({}, list.filters, { after: after || "" }),
                          INVOICE_FILTERS.concat(["after"]));
    const answer = await api("GET", withQuery("/api/dashboard/invoices", query));
    if (!current(seq)) return;
    if (!answer.ok) {
      showError(answer.message, "invoices");
      if (answer.status !== 0) renderInvoiceRows([], true);
    } else {
      clearError("invoices");
      list.next = answer.data.next || null;
      renderInvoiceRows(answer.data.items || [], false);
    }
    // The first page keeps itself up to date: a new sale appears within seconds.
    if (list.stack.length === 1) later(seq, () => fetchInvoicePage(seq), REFRESH_MS);
  }

  function renderInvoiceRows(items, failed) {
    const filtered = list.key !== "";
    const page = list.stack.length;
    $("inv-prev").disabled = page <= 1;
    $("inv-next").disabled = failed || !list.next;
    $("inv-pager").hidden = page <= 1 && !list.next;  // one page only: nothing to turn
    setText("inv-page", items.length || page > 1 ? "Page " + page : "");
    const first = (page - 1);
    setText("inv-summary", failed ? "" : items.length ?
      "Showing " + plural(items.length, authority.kenya ? "document" : "invoice") + (page > 1 ? " on page " + page : "") +
      (list.next ? "; more on the next page." : ".") : "");
    const rowsKey = JSON.stringify(items) + "|" + first;
    if (rowsKey === list.rowsKey) return;  // unchanged: no redraw, no flicker, focus stays
    list.rowsKey = rowsKey;
    const focusedHref = document.activeElement && document.activeElement.closest &&
      document.activeElement.closest("#invoice-rows") ?
      document.activeElement.getAttribute("href") : null;
    const body = el("tbody", { id: "invoice-rows" });
    const kenya = authority.kenya;
    for (const row of items) {
      const shown = kenya ? row.number || row.invoice_no : row.invoice_no;
      const link = el("a", { href: "#invoice/" + row.id, class: "invoice-link" }, shown);
      const numberCell = el("td", { class: "invoice-no" }, link);
      if (kenya && row.kind === "credit_note" && row.original_invoice_no) {
        numberCell.append(el("span", { class: "sub-line" }, "credits " + row.original_invoice_no));
      } else if (kenya && (row.kind === "item" || row.kind === "stock") && row.item_name) {
        numberCell.append(el("span", { class: "sub-line" }, row.item_name));
      }
      const customer = row.customer_name || row.customer_pin ?
        [row.customer_name || "", row.customer_pin ? " (" + row.customer_pin + ")" : ""].join("") :
        "—";
      const tr = el("tr", { "data-id": row.id, class: "clickable" + (kenya ? " kind-" +
                              row.kind : "") },
        numberCell,
        kenya ? el("td", { class: "nowrap" }, el("span", { class: "kind kind-" + row.kind },
                                                 row.kind_name)) : null,
        el("td", { class: "nowrap" }, row.date_time),
        el("td", {}, row.pos_id),
        kenya ? null : el("td", {}, row.payment_mode_name || ""),
        kenya ? el("td", { class: "customer" }, customer) : null,
        el("td", { class: "num" + neg(row.total_amount) },
           rowMoney(row, "total_amount"),
           kenya && row.has_money && row.currency && row.currency !== authority.currency ?
             el("span", { class: "sub-line" }, "sold in " + row.currency) : null),
        el("td", { class: "num" + neg(row.tax_amount) },
           rowMoney(row, "tax_amount")),
        el("td", {}, stateBadge(row.state)),
        el("td", { class: "num" }, wholeNumber(row.attempts)));
      body.append(tr);
    }
    $("invoice-rows").replaceWith(body);
    if (focusedHref) {
      const again = body.querySelector('a[href="' + CSS.escape(focusedHref) + '"]');
      if (again) again.focus();
    }
    const empty = $("inv-empty");
    empty.hidden = items.length > 0 || failed;
    empty.textContent = "";
    if (!items.length && !failed) {
      if (page > 1) {
        empty.append("No more invoices. ");
      } else if (filtered) {
        empty.append("No invoices match these filters. ",
                     el("button", { type: "button", class: "link-button", id: "empty-clear" },
                        "Clear the filters"));
      } else {
        empty.append(el("strong", {}, "No invoices yet"),
                     " — they appear here as soon as the till sends one.");
      }
    }
    $("invoice-table").classList.toggle("is-empty", !items.length);
  }

  function applyInvoiceFilters() {
    const values = formValues($("invoice-filters"), INVOICE_FILTERS);
    if (values.from && values.to && values.from > values.to) {
      showError("The \"From date\" is after the \"To date\". Swap them or choose again.",
                "invoices");
      return;
    }
    const query = queryOf(values, INVOICE_FILTERS);
    replaceHash("#invoices" + (query ? "?" + query : ""));
    routeSeq += 1;
    clearTimeout(viewTimer);
    loadInvoices(routeSeq, new URLSearchParams(query));
  }

  function turnPage(forward) {
    if (forward) {
      if (!list.next) return;
      list.stack.push(list.next);
    } else {
      if (list.stack.length <= 1) return;
      list.stack.pop();
    }
    routeSeq += 1;
    clearTimeout(viewTimer);
    fetchInvoicePage(routeSeq).then(() => {
      $("invoices-title").scrollIntoView({ block: "start" });
    });
  }

  // ---------------------------------------------------------------- one invoice

  let shownInvoice = null;

  async function loadInvoice(seq, id, first) {
    if (first) {
      shownInvoice = null;
      setText("invoice-title", "Invoice");
      setText("invoice-explain", "Loading…");
      setText("retry-result", "");
      $("invoice-retry").hidden = true;
      const back = list.key ? "#invoices?" + list.key : "#invoices";
      $("back-to-list").href = back;
    }
    const answer = await api("GET", "/api/dashboard/invoices/" + encodeURIComponent(id));
    if (!current(seq)) return;
    if (!answer.ok) {
      showError(answer.message, "invoice");
      if (first) setText("invoice-explain", answer.status === 404 ?
        "There is no such invoice here. Go back to the list and choose one." : "");
      if (answer.status === 0) later(seq, () => loadInvoice(seq, id, false), REFRESH_MS);
      return;
    }
    clearError("invoice");
    renderInvoice(answer.data);
    const busy = answer.data.state === "queued" || answer.data.state === "sending";
    later(seq, () => loadInvoice(seq, id, false), busy ? DETAIL_BUSY_MS : REFRESH_MS);
  }

  function explainInvoice(d) {
    if (authority.kenya) return explainKenya(d);
    switch (d.state) {
      case "synced":
        return "Recorded by the tax authority" +
          (d.transaction_id ? " with transaction id " + d.transaction_id : "") +
          (d.synced_at ? " on " + d.synced_at : "") + ". Nothing more to do.";
      case "queued":
        return d.attempts ?
          "Waiting to be sent again" + (d.next_attempt_at ? " (next try at " +
            d.next_attempt_at + ")" : "") + ". It goes by itself; nothing to do." :
          "Waiting to be sent. It goes by itself within seconds; nothing to do.";
      case "sending":
        return "Being sent to the tax authority right now.";
      case "rejected":
        return "The tax authority refused this invoice (the reason is under \"Last error\"). " +
          "Check it with your POS supplier or KPRA; when it is fixed, press Retry.";
      case "held":
        return "Held: the tax authority did not accept the key of POS " + d.pos_id + " (see " +
          "\"Last error\"). Fix the key in setup, then press Retry.";
      default:
        return "";
    }
  }

  function explainKenya(d) {
    const what = { invoice: "sale", credit_note: "credit note", item: "item",
                   stock: "stock adjustment" }[d.kind] || "document";
    const signer = authority.signer || "KRA eTIMS";
    const waiting = (d.waiting_for || []).length;
    switch (d.state) {
      case "synced":
        if (d.kind === "item") return "Registered with " + signer + (d.upstream_ref ?
          " (id " + d.upstream_ref + ")" : "") + ". Sales of this item can be signed now.";
        if (d.kind === "stock") return "Reported to " + signer + ". Nothing more to do.";
        return "Signed by " + signer + (d.transaction_id ? " (" + signedIdName() + " " +
          d.transaction_id + ")" : "") + (d.synced_at ? " on " + d.synced_at : "") +
          ". Nothing more to do.";
      case "queued":
        if (waiting) return "Waiting: this " + what + " goes to " + signer + " as soon as " +
          "what it needs (below) is done. Nothing to do unless that was rejected.";
        if (d.upstream_ref) return "Received by " + authority.authority.replace(/^KRA eTIMS via /, "") +
          " (id " + d.upstream_ref + "), waiting for " + signer + " to sign it. The utility " +
          "asks again by itself.";
        return d.attempts ? "Waiting to be sent again" + (d.next_attempt_at ? " (next try at " +
          d.next_attempt_at + ")" : "") + ". It goes by itself; nothing to do." :
          "Waiting to be sent. It goes by itself within seconds; nothing to do.";
      case "sending":
        return "Being sent to " + signer + " right now.";
      case "rejected":
        return signer + " refused this " + what + " (the reason is under \"Last error\"). " +
          "Fix it with your POS supplier; then press Retry.";
      case "held":
        return "Held: " + authority.authority + " did not accept the credentials of POS " +
          d.pos_id + " (see \"Last error\"). Fix them in setup, then press Retry.";
      default:
        return "";
    }
  }

  /** The Kenya parts of one document: items, bands, what it waits for, its receipt link. */
  function renderKenya(d) {
    const box = $("invoice-waiting");
    box.textContent = "";
    const waits = d.waiting_for || [];
    box.hidden = !waits.length;
    if (waits.length) {
      box.append(el("p", { class: "problem-title" }, "Waiting before it can be sent"),
        el("ul", { class: "waits" }, ...waits.map((w) => el("li", {},
          el("a", { href: "#invoice/" + w.invoice_id }, w.message.replace(/^waiting/, "Waiting")),
          " (" + (STATE_LABELS[w.state] || w.state) + ")"))));
    }
    const lines = d.lines || [];
    const bands = d.bands || [];
    $("invoice-lines-panel").hidden = !lines.length && !bands.length;
    const body = el("tbody", { id: "line-rows" });
    for (const l of lines) {
      body.append(el("tr", {},
        el("td", { class: "nowrap code" }, l.item_code),
        el("td", {}, l.item_name),
        el("td", { class: "num" }, l.quantity),
        el("td", { class: "num" }, money(l.unit_price)),
        el("td", { class: "num" }, roughly(l.discount_amount) ? money(l.discount_amount) : "—"),
        el("td", { class: "nowrap" }, l.tax_type + " · " + rateText(l.tax_rate)),
        el("td", { class: "num" + neg(l.tax_amount) }, money(l.tax_amount)),
        el("td", { class: "num" + neg(l.total) }, money(l.total))));
    }
    $("line-rows").replaceWith(body);
    const bandBody = el("tbody", { id: "invoice-band-rows" });
    for (const b of bands) {
      const used = roughly(b.taxable) !== 0 || roughly(b.tax) !== 0;
      bandBody.append(el("tr", { class: used ? null : "unused" },
        el("th", { scope: "row" }, "Band " + b.band),
        el("td", { class: "num" }, rateText(b.rate)),
        el("td", { class: "num" + neg(b.taxable) }, money(b.taxable)),
        el("td", { class: "num" + neg(b.tax) }, money(b.tax))));
    }
    $("invoice-band-rows").replaceWith(bandBody);
    const foot = el("tfoot", { id: "invoice-band-foot" });
    if (d.band_totals) {
      foot.append(el("tr", { class: "total-row" },
        el("th", { scope: "row", colspan: "2" }, "Total (" + (d.currency || "KES") + ")"),
        el("td", { class: "num" }, money(d.band_totals.taxable)),
        el("td", { class: "num" }, money(d.band_totals.tax))));
    }
    $("invoice-band-foot").replaceWith(foot);
    const doc = d.document;
    $("invoice-document-panel").hidden = !doc;
    const facts = el("dl", { id: "invoice-document", class: "facts wide" });
    for (const [name, value] of Object.entries(doc || {})) {
      facts.append(el("dt", {}, name), el("dd", {}, value));
    }
    $("invoice-document").replaceWith(facts);

    // The receipt QR: the authority's own link, once it signed the document.
    const qr = $("invoice-qr");
    const signed = Boolean(d.receipt_url);
    const hasReceipt = d.kind === "invoice" || d.kind === "credit_note";
    $("invoice-qr").hidden = !signed;
    $("invoice-qr-url-line").hidden = !signed;
    $("invoice-qr-png-line").hidden = !signed;
    $("invoice-receipt-line").hidden = !signed;
    const pending = $("invoice-qr-pending");
    pending.hidden = signed;
    pending.textContent = hasReceipt ?
      "The receipt QR appears once " + (authority.signer || "KRA eTIMS") +
      " has signed the " + (d.kind === "credit_note" ? "credit note" : "invoice") + "." :
      "Item registrations and stock adjustments have no receipt.";
    if (signed) {
      if (qr.getAttribute("src") !== d.receipt_qr_svg) qr.src = d.receipt_qr_svg;
      qr.alt = "Receipt QR code for " + (d.number || d.invoice_no) + ", which opens " +
        d.receipt_url;
      setText("invoice-qr-url", d.receipt_url);
      const link = $("invoice-receipt-link");
      link.href = d.receipt_url;
      link.textContent = d.receipt_link_text || "Open the receipt link";
      $("invoice-qr-png").href = d.receipt_qr_png;
      $("invoice-qr-png").setAttribute("download", "receipt_qr_" + d.pos_id + "_" +
                                       (d.number || d.invoice_no) + ".png");
    } else {
      qr.removeAttribute("src");
    }
  }

  function rateText(rate) {
    if (rate === null || rate === undefined || rate === "") return "—";
    return /^[-\d.]+$/.test(String(rate)) ? rate + " %" : String(rate);
  }

  /** What the authority's id of a signed sale is called. */
  function signedIdName() {
    return authority.upstream === "protax" ? "CUIN" : "KRA invoice no";
  }

  function kenyaFields(d) {
    // The row's amounts are in KES; a foreign-currency sale shows its own figures first:
    // "100.00 USD (12,900.00 KES at 129)".
    const home = authority.currency || "KES";
    const foreign = d.currency && d.currency !== home && d.band_totals && d.exchange_rate;
    const kes = (t, own) => foreign ?
      money(d.band_totals[own]) + " " + d.currency + " (" + money(t) + " " + home + " at " +
        d.exchange_rate + ")" :
      money(t) + " " + home;
    const fields = [[d.kind === "credit_note" ? "Credit note no" : d.kind === "item" ?
                      "Item code" : d.kind === "stock" ? "Reference" : "Invoice no",
                     d.number || d.invoice_no],
                    ["Kind", d.kind_name],
                    ["Date and time", d.date_time],
                    ["POS ID", d.pos_id],
                    ["Shop's KRA PIN", d.ntn]];
    if (d.kind === "credit_note") {
      const original = d.original_invoice_id ?
        el("a", { href: "#invoice/" + d.original_invoice_id }, d.original_invoice_no) :
        d.original_invoice_no || "—";
      fields.push(["Credits invoice", original]);
      if (d.reason) fields.push(["Reason", d.reason]);
    }
    if (d.has_money) {
      fields.push(["Customer PIN", d.customer_pin || "None (a walk-in sale)"],
                  ["Customer name", d.customer_name || "—"],
                  ["Before tax", kes(d.amount, "net"), "num"],
                  ["Tax", kes(d.tax_amount, "tax"), "num"],
                  ["Total", kes(d.total_amount, "gross"), "num strong"]);
    }
    const upstreamName = authority.upstream === "protax" ? "ProTax id" : "KRA Agent sale id";
    fields.push(["State", stateBadge(d.state)],
                [d.has_money ? signedIdName() : "Confirmation", d.transaction_id || "None yet"],
                [upstreamName, d.upstream_ref || "None yet"],
                ["Attempts", wholeNumber(d.attempts)],
                ["Received at", d.received_at || "—"],
                ["Synced at", d.synced_at || "Not yet"]);
    return fields;
  }

  function renderInvoice(d) {
    const key = JSON.stringify(d);
    if (key === shownInvoice) return;
    shownInvoice = key;
    const title = $("invoice-title");
    title.textContent = "";
    const name = authority.kenya ? (d.kind_name || "Invoice") + " " + (d.number || d.invoice_no) :
      "Invoice " + d.invoice_no;
    title.append(name + " ", stateBadge(d.state));
    document.title = name + " · RIMS Utility";
    setText("invoice-explain", explainInvoice(d));
    $("invoice-explain").className = "headline state-line state-line-" + d.state;
    $("invoice-retry").hidden = !d.can_retry;
    $("invoice-retry").textContent = d.state === "held" ? "Retry (release this POS)" :
      "Retry sending this invoice";

    // Two pairs a line on a wide screen: read across, then down.
    const fields = [
      ["Invoice no", d.invoice_no],
      ["Date and time", d.date_time],
      ["POS ID", d.pos_id],
      ["NTN", d.ntn],
      ["Payment", d.payment_mode_name],
      ["Tax rate", d.tax_rate === null || d.tax_rate === undefined ? "—" : d.tax_rate + " %"],
      ["Amount", money(d.amount), "num"],
      ["Tax", money(d.tax_amount), "num"],
      ["Total", money(d.total_amount), "num strong"],
      ["State", stateBadge(d.state)],
      ["Transaction id", d.transaction_id || "None yet"],
      ["Attempts", wholeNumber(d.attempts)],
      ["Received at", d.received_at || "—"],
      ["Synced at", d.synced_at || "Not yet"],
      ["Last HTTP status", d.last_status === null || d.last_status === undefined ? "—" :
        String(d.last_status)],
    ];
    if (authority.kenya) fields.splice(0, fields.length, ...kenyaFields(d));
    if (d.next_attempt_at) fields.push(["Next try at", d.next_attempt_at]);
    if (d.last_error) fields.push(["Last error", d.last_error, "wrap"]);
    if (d.ambiguous) {
      fields.push(["Note", "The last answer was lost on the way back; the utility checks " +
                           "with the authority so the invoice is never recorded twice.", "wrap"]);
    }
    const facts = el("dl", { id: "invoice-fields", class: "facts wide" });
    for (const [name, value, cls] of fields) {
      const long = (cls || "").includes("wrap");
      facts.append(el("dt", { class: long ? "long" : null }, name),
                   el("dd", { class: cls || null }, value));
    }
    $("invoice-fields").replaceWith(facts);

    const warnings = el("div", { id: "invoice-warnings" });
    if ((d.warnings || []).length) {
      warnings.className = "problem warn-box";
      warnings.append(el("h3", {}, "Warnings"),
        el("ul", { class: "warnings" }, ...d.warnings.map((w) => el("li", {},
          w.field ? el("strong", {}, w.field + ": ") : null, w.message || String(w)))));
    }
    $("invoice-warnings").replaceWith(warnings);

    if (authority.kenya) {
      renderKenya(d);
    } else {
      renderKpraQr(d);
    }
    renderAttempts(d);
  }

  function renderKpraQr(d) {
    const qr = $("invoice-qr");
    const qrSrc = d.qr_svg || d.qr_png;
    if (qr.getAttribute("src") !== qrSrc) qr.src = qrSrc;
    qr.alt = "QR code for invoice " + d.invoice_no + ", which opens " + d.qr_url;
    setText("invoice-qr-url", d.qr_url);
    $("invoice-qr-png").href = d.qr_png || d.qr_svg;
    $("invoice-qr-png").setAttribute("download", "qr_" + d.pos_id + "_" + d.invoice_no + ".png");
  }

  function renderAttempts(d) {
    const attempts = d.attempts_list || [];
    const body = el("tbody", { id: "attempt-rows" });
    for (const a of attempts) {
      body.append(el("tr", {},
        el("td", { class: "nowrap" }, a.at || ""),
        el("td", { class: "num" }, a.http_status === null || a.http_status === undefined ?
          "—" : String(a.http_status)),
        el("td", { class: "nowrap" }, OUTCOME_LABELS[a.outcome] || a.outcome || ""),
        el("td", { class: "wrap" }, a.message || ""),
        el("td", { class: "num nowrap" }, a.duration_ms === null || a.duration_ms === undefined ?
          "—" : wholeNumber(a.duration_ms) + " ms")));
    }
    $("attempt-rows").replaceWith(body);
    $("attempts-empty").hidden = attempts.length > 0;
    $("attempts-table").classList.toggle("is-empty", !attempts.length);
  }

  async function retryInvoice() {
    const target = parseHash();
    if (target.view !== "invoice") return;
    const button = $("invoice-retry");
    button.disabled = true;
    setText("retry-result", "Asking the utility to send it again…");
    const answer = await api("POST", "/api/dashboard/invoices/" + target.id + "/retry", {});
    button.disabled = false;
    if (!answer.ok) {
      setText("retry-result", "");
      showError(answer.message, "invoice");
    } else {
      clearError("invoice");
      setText("retry-result", answer.message);
      if (answer.data.invoice) renderInvoice(answer.data.invoice);
    }
    const seq = routeSeq;
    later(seq, () => loadInvoice(seq, target.id, false), 500);
  }

  async function retryAll() {
    const button = $("retry-all");
    button.disabled = true;
    const answer = await api("POST", "/api/dashboard/retry", { states: ["rejected", "held"] });
    button.disabled = false;
    if (!answer.ok) { showError(answer.message, "retry"); return; }
    clearError("retry");
    showNotice(answer.message);
    const seq = routeSeq;
    if (currentView === "overview") {
      clearTimeout(viewTimer);
      loadOverview(seq);
    }
  }

  // ---------------------------------------------------------------- reports

  /** The line above a printed report: where it comes from and when. */
  function printedBy() {
    const now = new Date();
    const time = String(now.getHours()).padStart(2, "0") + ":" +
      String(now.getMinutes()).padStart(2, "0");
    return "RIMS Utility · printed " + dayWords(todayText()) + " at " + time + " · " +
      $("signed-in-as").textContent.replace(/^Signed in as /, "by ");
  }

  function rangeWords(from, to) {
    if (!from && !to) return "";
    return "From " + dayWords(from) + " to " + dayWords(to);
  }

  async function loadReport(seq, params) {
    loadPosOptions();
    const settings = paramsObject(params, REPORT_SETTINGS);
    if (!settings.period) settings.period = "day";
    fillForm($("report-filters"), settings);
    const answer = await api("GET", withQuery("/api/dashboard/reports/sales",
                                              queryOf(settings, REPORT_SETTINGS)));
    if (!current(seq)) return;
    if (!answer.ok) {
      showError(answer.message, "reports");
      return;
    }
    clearError("reports");
    const d = answer.data;
    // The page shows the dates the report covers (the defaults too); the downloads use them,
    // so a file always matches what is on the screen.
    const effective = Object.assign({}, settings, { period: d.period, from: d.from, to: d.to });
    fillForm($("report-filters"), effective);
    const query = queryOf(effective, REPORT_SETTINGS);
    $("rep-export-csv").href = withQuery("/api/dashboard/export/sales.csv", query);
    $("rep-export-xlsx").href = withQuery("/api/dashboard/export/sales.xlsx", query);
    const range = rangeWords(d.from, d.to);
    const scope = (settings.pos_id ? ", POS " + settings.pos_id : "") +
      (settings.payment_mode ? ", " + paymentModeName(settings.payment_mode).toLowerCase() +
        " only" : "");
    setText("reports-range", range + scope + ": " +
            plural((d.totals || {}).count || 0, authority.kenya ? "sale or credit note" :
                   "invoice", authority.kenya ? "sales and credit notes" : null) + "." +
            (authority.kenya ? " Amounts in " + (authority.currency || "KES") +
              "; credit notes subtract." : ""));
    setText("print-title", printedBy());
    const totals = d.totals || {};
    setText("report-period-head", d.period === "month" ? "Month" : "Day");

    const rows = d.rows || [];
    const body = el("tbody", { id: "report-rows" });
    for (const r of rows) {
      body.append(el("tr", {},
        el("td", { class: "nowrap" }, d.period === "month" ? dayWords(r.period) : r.period),
        el("td", {}, r.pos_id),
        el("td", {}, r.payment_mode_name || ""),
        el("td", { class: "num" }, wholeNumber(r.count)),
        el("td", { class: "num" }, money(r.amount)),
        el("td", { class: "num" }, money(r.tax)),
        el("td", { class: "num" }, money(r.total))));
    }
    $("report-rows").replaceWith(body);
    const foot = el("tfoot", { id: "report-foot" });
    if (rows.length) {
      foot.append(el("tr", { class: "total-row" },
        el("th", { scope: "row", colspan: "3" }, "Grand total"),
        el("td", { class: "num" }, wholeNumber(totals.count)),
        el("td", { class: "num" }, money(totals.amount)),
        el("td", { class: "num" }, money(totals.tax)),
        el("td", { class: "num" }, money(totals.total))));
    }
    $("report-foot").replaceWith(foot);
    $("report-empty").hidden = rows.length > 0;
    $("report-table").classList.toggle("is-empty", !rows.length);

    subtotalTable("by-mode-rows", d.by_payment_mode || [], (r) => r.payment_mode_name, totals);
    subtotalTable("by-pos-rows", d.by_pos || [], (r) => "POS " + r.pos_id, totals);
  }

  function subtotalTable(id, rows, name, totals) {
    const body = el("tbody", { id });
    for (const r of rows) {
      body.append(el("tr", {},
        el("th", { scope: "row" }, name(r)),
        el("td", { class: "num" }, wholeNumber(r.count)),
        el("td", { class: "num" }, money(r.amount)),
        el("td", { class: "num" }, money(r.tax)),
        el("td", { class: "num" }, money(r.total))));
    }
    if (rows.length) {
      body.append(el("tr", { class: "total-row" },
        el("th", { scope: "row" }, "Total"),
        el("td", { class: "num" }, wholeNumber(totals.count)),
        el("td", { class: "num" }, money(totals.amount)),
        el("td", { class: "num" }, money(totals.tax)),
        el("td", { class: "num" }, money(totals.total))));
    } else {
      body.append(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No sales.")));
    }
    $(id).replaceWith(body);
  }

  /** A report's settings form applied (sales, reconciliation, tax bands): the dates checked,
   *  the settings put in the address (#view?…), the view loaded again. ``view`` also names
   *  the part of the page an error belongs to. */
  function applySettings(formId, names, view, load) {
    const values = formValues($(formId), names);
    if (values.from && values.to && values.from > values.to) {
      showError("The \"From date\" is after the \"To date\". Swap them or choose again.", view);
      return;
    }
    const query = queryOf(values, names);
    replaceHash("#" + view + (query ? "?" + query : ""));
    routeSeq += 1;
    clearTimeout(viewTimer);
    load(routeSeq, new URLSearchParams(query));
  }

  function applyReportSettings() {
    applySettings("report-filters", REPORT_SETTINGS, "reports", loadReport);
  }

  // ---------------------------------------------------------------- reconciliation

  async function loadReconciliation(seq, params) {
    const dates = paramsObject(params, ["from", "to"]);
    fillForm($("recon-filters"), dates);
    const answer = await api("GET", withQuery("/api/dashboard/reports/reconciliation",
                                              queryOf(dates, ["from", "to"])));
    if (!current(seq)) return;
    if (!answer.ok) {
      showError(answer.message, "reconciliation");
      return;
    }
    clearError("reconciliation");
    const d = answer.data;
    const effective = { from: d.from, to: d.to };
    fillForm($("recon-filters"), effective);
    const query = queryOf(effective, ["from", "to"]);
    $("rec-export-csv").href = withQuery("/api/dashboard/export/reconciliation.csv", query);
    $("rec-export-xlsx").href = withQuery("/api/dashboard/export/reconciliation.xlsx", query);
    setText("recon-message", answer.message);
    const range = rangeWords(d.from, d.to);
    setText("recon-range", range + ".");
    setText("print-title", printedBy());
    const card = (prefix, t) => {
      setText(prefix + "-total", money(t.total));
      setText(prefix + "-sub", plural(t.count || 0, "invoice") + ", tax " + money(t.tax));
    };
    card("rc-local", d.local || {});
    card("rc-confirmed", d.confirmed || {});
    card("rc-unconfirmed", d.unconfirmed || {});
    const unconfirmed = (d.unconfirmed || {}).count || 0;
    $("rc-unconfirmed-box").classList.toggle("attention", unconfirmed > 0);
    const link = $("rc-unconfirmed-link");
    link.href = "#invoices?" + queryOf({ state: "unconfirmed", from: d.from, to: d.to },
                                       ["state", "from", "to"]);
    link.textContent = unconfirmed ? "See the " + plural(unconfirmed, "invoice") +
      " not confirmed" : "See the list (none now)";

    const days = d.days || [];
    const body = el("tbody", { id: "recon-rows" });
    for (const r of days) {
      body.append(el("tr", { class: r.unconfirmed_count ? "attention" : null },
        el("td", { class: "nowrap" }, r.day),
        el("td", { class: "num" }, wholeNumber(r.local_count)),
        el("td", { class: "num" }, money(r.local_total)),
        el("td", { class: "num" }, wholeNumber(r.confirmed_count)),
        el("td", { class: "num" }, money(r.confirmed_total)),
        el("td", { class: "num" }, wholeNumber(r.unconfirmed_count)),
        el("td", { class: "num" }, money(r.unconfirmed_total))));
    }
    $("recon-rows").replaceWith(body);
    const foot = el("tfoot", { id: "recon-foot" });
    if (days.length) {
      const l = d.local || {}, c = d.confirmed || {}, u = d.unconfirmed || {};
      foot.append(el("tr", { class: "total-row" },
        el("th", { scope: "row" }, "Total"),
        el("td", { class: "num" }, wholeNumber(l.count)),
        el("td", { class: "num" }, money(l.total)),
        el("td", { class: "num" }, wholeNumber(c.count)),
        el("td", { class: "num" }, money(c.total)),
        el("td", { class: "num" }, wholeNumber(u.count)),
        el("td", { class: "num" }, money(u.total))));
    }
    $("recon-foot").replaceWith(foot);
    $("recon-empty").hidden = days.length > 0;
    $("recon-table").classList.toggle("is-empty", !days.length);
  }

  function applyReconciliationDates() {
    applySettings("recon-filters", ["from", "to"], "reconciliation", loadReconciliation);
  }

  // ---------------------------------------------------------------- tax bands (Kenya)

  async function loadTaxBands(seq, params) {
    loadPosOptions();
    const settings = paramsObject(params, BAND_SETTINGS);
    fillForm($("bands-filters"), settings);
    const answer = await api("GET", withQuery("/api/dashboard/reports/tax-bands",
                                              queryOf(settings, BAND_SETTINGS)));
    if (!current(seq)) return;
    if (!answer.ok) {
      showError(answer.message, "tax-bands");
      return;
    }
    clearError("tax-bands");
    const d = answer.data;
    const effective = Object.assign({}, settings, { from: d.from, to: d.to });
    fillForm($("bands-filters"), effective);
    const query = queryOf(effective, BAND_SETTINGS);
    $("bands-export-csv").href = withQuery("/api/dashboard/export/tax-bands.csv", query);
    $("bands-export-xlsx").href = withQuery("/api/dashboard/export/tax-bands.xlsx", query);
    setText("bands-range", rangeWords(d.from, d.to) +
            (settings.pos_id ? ", POS " + settings.pos_id : "") + ". Amounts in " +
            (d.currency || "KES") + ".");
    setText("print-title", printedBy());
    const card = (prefix, t, one) => {
      setText(prefix + "-total", money(t.total) + " " + (d.currency || "KES"));
      setText(prefix + "-sub", plural(Math.abs(t.count || 0), one) + ", tax " + money(t.tax));
    };
    card("bd-sales", d.sales || {}, "sale");
    card("bd-credit", d.credit_notes || {}, "credit note");
    card("bd-net", d.net || {}, "document");
    const bands = d.bands || [];
    const body = el("tbody", { id: "bands-rows" });
    for (const b of bands) {
      body.append(el("tr", {},
        el("th", { scope: "row" }, "Band " + b.band),
        el("td", { class: "num" }, rateText(b.rate)),
        el("td", { class: "num" }, wholeNumber(b.count)),
        el("td", { class: "num" + neg(b.taxable) }, money(b.taxable)),
        el("td", { class: "num" + neg(b.tax) }, money(b.tax))));
    }
    $("bands-rows").replaceWith(body);
    const foot = el("tfoot", { id: "bands-foot" });
    if (bands.length) {
      foot.append(el("tr", { class: "total-row" },
        el("th", { scope: "row", colspan: "3" }, "Total"),
        el("td", { class: "num" }, money((d.totals || {}).taxable)),
        el("td", { class: "num" }, money((d.totals || {}).tax))));
    }
    $("bands-foot").replaceWith(foot);
    $("bands-empty").hidden = bands.length > 0;
    $("bands-table").classList.toggle("is-empty", !bands.length);
  }

  function applyBandSettings() {
    applySettings("bands-filters", BAND_SETTINGS, "tax-bands", loadTaxBands);
  }

  // ---------------------------------------------------------------- customer PIN (ProTax)

  const PIN_PATTERN = /^[A-Za-z]\d{9}[A-Za-z]$/;

  async function lookUpPin() {
    const input = $("pin-input");
    const result = $("pin-result");
    const pin = input.value.trim().toUpperCase();
    result.className = "pin-result";
    if (!PIN_PATTERN.test(pin)) {
      input.setAttribute("aria-invalid", "true");
      result.classList.add("bad");
      result.textContent = "A KRA PIN is a letter, 9 digits and a letter, like P051234567A.";
      return;
    }
    input.removeAttribute("aria-invalid");
    input.value = pin;
    const button = $("pin-check");
    button.disabled = true;
    result.textContent = "Asking ProTax about " + pin + "…";
    const answer = await api("GET", "/api/dashboard/customers?pin=" + encodeURIComponent(pin));
    button.disabled = false;
    if (!answer.ok) {
      result.classList.add("bad");
      result.textContent = answer.message;
      return;
    }
    result.textContent = "";
    if (answer.data.found) {
      result.classList.add("ok");
      result.append(el("strong", {}, answer.data.name || "A registered taxpayer"),
                    " — " + pin + " is registered with KRA.");
    } else {
      result.classList.add("bad");
      result.append(el("strong", {}, "Not found: "),
                    "KRA has no taxpayer with PIN " + pin + ". Check it with the customer.");
    }
  }

  // ---------------------------------------------------------------- wiring

  function onSubmit(id, fn) {
    $(id).addEventListener("submit", (event) => { event.preventDefault(); fn(); });
  }

  function wire() {
    $("sign-out").addEventListener("click", signOut);
    $("sending-toggle").addEventListener("click", toggleSending);
    $("retry-all").addEventListener("click", retryAll);
    $("invoice-retry").addEventListener("click", retryInvoice);
    for (const radio of document.querySelectorAll("input[name=measure]")) {
      radio.addEventListener("change", () => { chartsKey = null; loadOverview(routeSeq); });
    }

    onSubmit("invoice-filters", applyInvoiceFilters);
    for (const name of ["kind", "state", "payment_mode", "pos_id", "from", "to"]) {
      $("invoice-filters").elements[name].addEventListener("change", applyInvoiceFilters);
    }
    $("f-clear").addEventListener("click", () => {
      fillForm($("invoice-filters"), Object.fromEntries(INVOICE_FILTERS.map((n) => [n, ""])));
      applyInvoiceFilters();
      $("f-q").focus();
    });
    $("inv-empty").addEventListener("click", (event) => {
      if (event.target.id === "empty-clear") $("f-clear").click();
    });
    $("inv-next").addEventListener("click", () => turnPage(true));
    $("inv-prev").addEventListener("click", () => turnPage(false));
    // A click anywhere on a row opens the invoice (the number is the keyboard's way in).
    $("invoice-table").addEventListener("click", (event) => {
      const row = event.target.closest("tr[data-id]");
      if (!row || event.target.closest("a")) return;
      if (window.getSelection && String(window.getSelection())) return;  // copying text
      window.location.hash = "#invoice/" + row.dataset.id;
    });

    onSubmit("report-filters", applyReportSettings);
    for (const name of ["period", "pos_id", "payment_mode", "from", "to"]) {
      $("report-filters").elements[name].addEventListener("change", applyReportSettings);
    }
    onSubmit("bands-filters", applyBandSettings);
    for (const name of BAND_SETTINGS) {
      $("bands-filters").elements[name].addEventListener("change", applyBandSettings);
    }
    onSubmit("pin-form", lookUpPin);
    onSubmit("recon-filters", applyReconciliationDates);
    for (const name of ["from", "to"]) {
      $("recon-filters").elements[name].addEventListener("change", applyReconciliationDates);
    }
    for (const button of document.querySelectorAll(".print-button")) {
      button.addEventListener("click", () => window.print());
    }
    window.addEventListener("hashchange", () => route(true));
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && currentView === "overview") loadOverview(routeSeq);
    });
    // The sending state sits in the top bar on every view.
    setInterval(() => {
      if (!document.hidden && !leaving && currentView !== "overview") refreshSending();
    }, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    wire();
    if (!(await startSession())) return;
    if (!window.location.hash) replaceHash("#overview");
    route(false);
    refreshSending();
  });

  // For the browser tests and curious integrators: the pure helpers.
  // idle(): nothing loading, so a test may leave the page without cancelling a request.
  window.RimsDashboard = { money, decimalSum, ageWords, dayWords, idle };
})();
