/* CityHub pages: the one fetch helper every page's script uses, and the page's
 * readiness signal (window.cityhubReady) that tests and the bench wait for.
 *
 * cityhub.api(path, options) sends the session cookie (same-origin credentials); a
 * request that changes something (not GET/HEAD) carries X-CSRF-Token with the value of
 * the readable cookie cityhub_csrf (double-submit); a 401 sends the browser to
 * /login?next=<this page>. It resolves to the parsed JSON (or text), and rejects with an
 * Error carrying .status and .problem (the API's problem+json) otherwise.
 */
(function () {
  "use strict";

  function cookie(name) {
    const prefix = name + "=";
    for (const part of document.cookie.split(";")) {
      const c = part.trim();
      if (c.startsWith(prefix)) return decodeURIComponent(c.slice(prefix.length));
    }
    return null;
  }

  function loginUrl() {
    return "/login?next=" + encodeURIComponent(location.pathname + location.search + location.hash);
  }

  /* JSON whose integers beyond 2^53 (Iceberg snapshot ids, 64-bit keys) stay exact: as
   * their source text, since a JavaScript number would round them. */
  function parseJson(text) {
    return JSON.parse(text, (key, value, context) =>
      typeof value === "number" && !Number.isSafeInteger(value) && Number.isInteger(value) && context && context.source
        ? context.source : value);
  }

  async function api(path, options) {
    const opts = Object.assign({ method: "GET" }, options || {});
    const method = opts.method.toUpperCase();
    const headers = new Headers(opts.headers || {});
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    if (method !== "GET" && method !== "HEAD") {
      const csrf = cookie("cityhub_csrf");
      if (csrf) headers.set("X-CSRF-Token", csrf);
      if (opts.json !== undefined) {
        headers.set("Content-Type", "application/json");
        opts.body = JSON.stringify(opts.json);
      }
    }
    // "include" is "same-origin" for the hub's own paths, and lets a <link rel=preload> answer be reused
    const init = { method, headers, credentials: "include", body: opts.body };
    const res = await fetch(path, init);
    if (res.status === 401 && !opts.noRedirect) {
      location.assign(loginUrl());
      throw Object.assign(new Error("需要登录 (401)"), { status: 401 });
    }
    const type = res.headers.get("Content-Type") || "";
    const body = type.includes("json") ? parseJson(await res.text()) : (opts.raw ? await res.blob() : await res.text());
    if (!res.ok) {
      const detail = (body && body.detail) || (typeof body === "string" ? body : res.statusText);
      throw Object.assign(new Error(detail), { status: res.status, problem: body });
    }
    return body;
  }

  /* Readiness: a page calls cityhub.ready() once its data is loaded and its charts drawn
   * (or cityhub.failed(err) if it cannot be); window.cityhubReady resolves then, and
   * <body data-ready="1"> (or "error") says so to anything reading the DOM. */
  let resolveReady, rejectReady;
  const readyPromise = new Promise((res, rej) => { resolveReady = res; rejectReady = rej; });
  readyPromise.catch(() => {});

  function ready(detail) {
    document.body.dataset.ready = "1";
    window.cityhubReadyAt = performance.now();
    resolveReady(detail || true);
  }

  function failed(err) {
    document.body.dataset.ready = "error";
    document.body.dataset.error = String((err && err.message) || err);
    toast(String((err && err.message) || err), true);
    rejectReady(err);
  }

  function toast(text, isError) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("error", !!isError);
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, isError ? 8000 : 3000);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("data-") || k === "href" || k === "title" || k === "id" || k.startsWith("aria-")
               || k === "role" || k === "type" || k === "colspan" || k === "download" || k === "scope") node.setAttribute(k, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node[k] = v;
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined) return "—";
    if (typeof value !== "number") return String(value);
    return value.toLocaleString("zh-CN", { maximumFractionDigits: digits === undefined ? 4 : digits });
  }

  function pct(value) {
    return value === null || value === undefined ? "—" : (value * 100).toLocaleString("zh-CN", { maximumFractionDigits: 2 }) + "%";
  }

  let sessionPromise = null;
  function session() {
    /* Who is signed in (GET /v1/session, when the hub has it), asked once; never redirects. */
    return (sessionPromise = sessionPromise || whoami());
  }

  async function whoami() {
    const who = document.getElementById("session-who");
    const login = document.getElementById("session-login");
    const logout = document.getElementById("session-logout");
    if (!who) return null;
    let me = null;
    try { me = await api("/v1/session", { noRedirect: true }); } catch (e) { me = null; }
    if (me && (me.name || me.client_id)) {
      who.textContent = (me.name || me.client_id) + (me.role ? " · " + me.role : "") + (me.region ? " · " + me.region : "");
      who.dataset.role = me.role || "";
      if (login) login.hidden = true;
      if (logout) {
        logout.hidden = false;
        logout.onclick = async () => {
          try { await api("/v1/session", { method: "DELETE", noRedirect: true }); } catch (e) { /* signed out anyway */ }
          location.assign("/login");
        };
      }
    }
    return me;
  }

  window.cityhubReady = readyPromise;
  window.cityhub = { api, cookie, loginUrl, ready, failed, toast, el, fmt, pct, session };
  document.addEventListener("DOMContentLoaded", () => { session(); });
})();
