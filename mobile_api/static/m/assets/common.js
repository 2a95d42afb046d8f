/* Shared helpers of the staff and agent pages: the API client, a DOM builder, toasts and the live socket.
 * Plain ES2017, no library: every page element is built with h(), which sets text, never HTML, so nothing a
 * user typed can become markup. */
"use strict";

const WJ = (() => {
  const API = "/api/v1";
  const TOKEN_KEY = "weijian.staff.token";
  const USER_KEY = "weijian.staff.user";

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else if (v === true) el.setAttribute(k, "");
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  class ApiError extends Error {
    constructor(status, body) {
      const err = (body && body.error) || {};
      super(err.message || `请求失败（${status}）`);
      this.status = status;
      this.code = err.code || String(status);
      this.details = err.details;
    }
  }

  const session = {
    get token() { return sessionStorage.getItem(TOKEN_KEY); },
    get user() { try { return JSON.parse(sessionStorage.getItem(USER_KEY) || "null"); } catch (e) { return null; } },
    save(login) {
      sessionStorage.setItem(TOKEN_KEY, login.access_token);
      sessionStorage.setItem(USER_KEY, JSON.stringify({
        id: login.staff_id, name: login.name, roles: login.roles, mustChange: !!login.must_change_password,
      }));
    },
    // A new token for the same user (after a password change), and what changed about them.
    renew(token, patch) {
      sessionStorage.setItem(TOKEN_KEY, token);
      sessionStorage.setItem(USER_KEY, JSON.stringify({ ...this.user, ...patch }));
    },
    clear() { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(USER_KEY); },
  };

  let onUnauthenticated = () => {};
  let onPasswordChangeRequired = () => {};

  async function api(method, path, body, opts = {}) {
    const headers = { Accept: "application/json" };
    if (session.token) headers.Authorization = `Bearer ${session.token}`;
    let payload;
    if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    const r = await fetch(API + path, { method, headers, body: payload });
    if (opts.raw && r.ok) return r;
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    if (!r.ok) {
      if (r.status === 401 && !opts.login) { session.clear(); onUnauthenticated(); }
      if (r.status === 403 && data && data.error && data.error.code === "password_change_required") {
        session.renew(session.token, { mustChange: true });
        onPasswordChangeRequired();
      }
      throw new ApiError(r.status, data);
    }
    return data;
  }

  function toast(text, ms = 3500) {
    for (const old of document.querySelectorAll(".toast")) old.remove();  // one at a time: the latest counts
    const el = h("div", { class: "toast", role: "status", "aria-live": "polite" }, text);
    document.body.append(el);
    setTimeout(() => el.remove(), ms);
  }

  const LIGHT_TEXT = { red: "红灯", yellow: "黄灯", green: "绿灯" };

  function lightBadge(deadline) {
    if (!deadline || !deadline.light) return null;
    const left = deadline.days_left;
    let text = LIGHT_TEXT[deadline.light];
    if (left !== null && left !== undefined) text += left < 0 ? ` 超期${-left}个工作日` : ` 剩${left}个工作日`;
    if (deadline.paused) text += "（已暂停计时）";
    return h("span", { class: `light light-${deadline.light}`, dataset: { light: deadline.light } }, text);
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso.endsWith("Z") || /[+-]\d\d:\d\d$/.test(iso) ? iso : iso + "Z");
    if (isNaN(d)) return iso;
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
  }

  /* The live channel (WS /api/v1/ws): the token goes in the first message, not the URL (URLs end up in access
   * logs); the server answers {"type": "ready"} and then pushes case events of the staff member's department.
   * Reconnects with back-off; `onMessage(msg)` gets each pushed message, `onState(connected)` the state. */
  function live(onMessage, onState) {
    let ws = null, delay = 1000, stopped = false, pinger = null;
    function connect() {
      if (stopped || !session.token) return;
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      ws = new WebSocket(`${proto}//${location.host}${API}/ws`);
      ws.onopen = () => ws.send(JSON.stringify({ token: session.token }));
      ws.onmessage = (ev) => {
        let msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (msg.type === "ready") {
          delay = 1000;
          onState(true);
          clearInterval(pinger);
          pinger = setInterval(() => ws.readyState === 1 && ws.send('{"type":"ping"}'), 25000);
        } else if (msg.type !== "pong") {
          onMessage(msg);
        }
      };
      ws.onclose = (ev) => {
        clearInterval(pinger);
        onState(false);
        if (ev.code === 4401) { stopped = true; return; }  // the token is no longer valid: the next API call says so
        if (!stopped) setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    connect();
    return { stop() { stopped = true; clearInterval(pinger); if (ws) ws.close(); } };
  }

  return {
    h, api, ApiError, session, toast, lightBadge, fmtTime, live,
    set onUnauthenticated(fn) { onUnauthenticated = fn; },
    set onPasswordChangeRequired(fn) { onPasswordChangeRequired = fn; },
  };
})();
