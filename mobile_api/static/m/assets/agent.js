/* The agent console (/m/agent/): conversations handed over by the bot (claim, reply, close) and the knowledge
 * base (search, edit, submit for review, publish, hit testing, the unanswered-questions queue).
 * Uses /api/v1/consult/* and /api/v1/kb/*; the API checks the roles (consult_agent, kb_reviewer) again.
 *
 * Live: the push socket (WS /api/v1/ws) brings {"type": "consult", event, conversation_id, state} messages —
 * handoffs, claims and closes for every agent, the applicant's new lines for the agent on the conversation — and
 * the page re-reads only what they concern. Polling every 4 s is the fallback while the socket is down
 * (document.body.dataset.sync says which: "push" or "poll"). */
"use strict";

(() => {
  const { h, api, session, toast, fmtTime } = WJ;
  const app = document.getElementById("app");
  const SECTIONS = [["chats", "咨询会话"], ["kb", "知识库"], ["hits", "命中测试"], ["unanswered", "未解答问题"]];
  const STATE_LABELS = { bot: "机器人接待", waiting_human: "等待人工", human: "人工服务中", closed: "已结束" };
  const ENTRY_LABELS = { draft: "草稿", in_review: "待审核", published: "已发布", archived: "已归档" };
  const DECISIONS = { answer: "直接回答", suggest: "给出候选问题", fallback: "记为未解答并转人工" };
  const REASONS = { requested: "申请人要求人工", complaint: "投诉", bot_failed: "机器人多次未能回答" };
  const reasonText = (r) => REASONS[r] || r;
  const AUTHORS = { user: "申请人", bot: "机器人", agent: "坐席" };
  const POLL_MS = 4000;

  let section = "chats";
  let openConv = null;      // the conversation on screen: {id, lastId, view}
  let poller = null;
  let liveConn = null;
  let liveUp = false;
  let lastQueue = "";       // the queue as last drawn: redrawn only when it changed
  let kbFilter = { q: "", status: "" };

  WJ.onUnauthenticated = () => { toast("登录已失效，请重新登录"); route(); };
  // A password an admin set is changed on the staff page (the same tab keeps the session).
  const changePassword = () => { location.href = "/m/staff/#/password"; };
  WJ.onPasswordChangeRequired = changePassword;

  function mount(...nodes) {
    app.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  }
  function roles() { return (session.user && session.user.roles) || []; }
  const isAgent = () => roles().includes("consult_agent");
  const isReviewer = () => roles().includes("kb_reviewer");
  const errorBox = () => h("div", { class: "error", role: "alert", hidden: true });
  function showError(box, e) { box.textContent = e.message; box.hidden = false; }

  function header() {
    const user = session.user;
    document.getElementById("who").textContent = user ? user.name : "";
    const out = document.getElementById("logout");
    out.hidden = !user;
    out.onclick = async () => {
      await api("POST", "/auth/logout").catch(() => null);  // ends the token on the server too
      session.clear();
      stopPolling();
      if (liveConn) { liveConn.stop(); liveConn = null; }
      document.getElementById("live").hidden = true;
      location.hash = "";
      route();
    };
  }

  function stopPolling() { if (poller) { clearInterval(poller); poller = null; } }

  // Poll only on the conversations screen, and only while the push socket is down.
  function syncMode() {
    document.body.dataset.sync = liveUp ? "push" : "poll";
    if (section === "chats" && !liveUp && document.getElementById("queue")) {
      if (!poller) poller = setInterval(refresh, POLL_MS);
    } else {
      stopPolling();
    }
  }

  function onPush(msg) {
    if (msg.type !== "consult" || section !== "chats") return;
    refresh(openConv && openConv.id === msg.conversation_id);
  }

  function route() {
    header();
    stopPolling();
    if (!session.token) return showLogin();
    if (session.user && session.user.mustChange) return changePassword();
    if (!isAgent()) {
      return mount(h("div", { class: "error", role: "alert" }, "此账号没有咨询坐席权限。请使用坐席账号登录。"));
    }
    if (!liveConn) {
      const badge = document.getElementById("live");
      liveConn = WJ.live(onPush, (up) => {
        const back = up && !liveUp;
        liveUp = up;
        badge.hidden = false;
        badge.textContent = up ? "实时" : "离线";
        badge.dataset.connected = up ? "1" : "0";
        syncMode();
        if (back) refresh(true);  // catch up with what happened while the socket was down
      });
    }
    const m = location.hash.match(/^#\/(chats|kb|hits|unanswered)(?:\/(.+))?/);
    section = m ? m[1] : "chats";
    const arg = m && m[2] ? decodeURIComponent(m[2]) : null;
    const nav = h(
      "nav",
      { class: "sections", "aria-label": "坐席功能" },
      SECTIONS.map(([key, label]) =>
        h("button", { type: "button", "aria-current": section === key ? "page" : null, onclick: () => { location.hash = `#/${key}`; } }, label),
      ),
    );
    const body = h("div", { id: "section" });
    mount(nav, body);
    if (section === "chats") return showChats(body, arg ? Number(arg) : null);
    if (section === "kb") return arg ? showEntry(body, arg === "new" ? null : arg) : showEntries(body);
    if (section === "hits") return showHitTest(body);
    return showUnanswered(body);
  }
  window.addEventListener("hashchange", route);

  // Pushed messages and the poll both come here: refresh what is on screen without losing what is typed. A burst
  // of pushes makes one more refresh after the running one, not one each.
  let refreshing = null, again = false, againTranscript = false;
  async function refresh(transcriptToo = true) {
    if (section !== "chats") return;
    if (refreshing) { again = true; againTranscript = againTranscript || transcriptToo; return refreshing; }
    refreshing = (async () => {
      const list = document.getElementById("queue");
      if (list) await fillQueue(list);
      if (openConv && transcriptToo) await appendTranscript();
    })();
    try { await refreshing; } finally { refreshing = null; }
    if (again) { const t = againTranscript; again = againTranscript = false; await refresh(t); }
  }

  // ------------------------------------------------------------------ login
  function showLogin() {
    const err = errorBox();
    const form = h(
      "form",
      { class: "card", "aria-labelledby": "login-h" },
      h("h2", { id: "login-h" }, "咨询坐席登录"),
      h("label", { for: "username" }, "用户名"),
      h("input", { id: "username", type: "text", autocomplete: "username", required: true }),
      h("label", { for: "password" }, "密码"),
      h("input", { id: "password", type: "password", autocomplete: "current-password", required: true }),
      err,
      h("p", {}, h("button", { type: "submit", class: "primary" }, "登录")),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      try {
        session.save(await api("POST", "/auth/staff-login", {
          username: form.querySelector("#username").value.trim(), password: form.querySelector("#password").value,
        }, { login: true }));
        route();
      } catch (e) { showError(err, e); }
    });
    mount(form);
    form.querySelector("#username").focus();
  }

  // ------------------------------------------------------------------ conversations
  async function showChats(body, convId) {
    const list = h("ul", { class: "tasks", id: "queue", "aria-label": "会话队列" });
    const pane = h("section", { class: "card", id: "conversation", "aria-live": "polite" }, h("p", { class: "muted" }, "从左侧选择一个会话"));
    body.append(h("div", { class: "split" }, h("section", { "aria-labelledby": "queue-h" }, h("h2", { id: "queue-h" }, "等待人工与我的会话"), list), pane));
    openConv = null;
    lastQueue = "";
    await fillQueue(list);
    if (convId) await openConversation(convId);
    syncMode();
  }

  async function fillQueue(list) {
    let data;
    try { data = await api("GET", "/consult/conversations"); } catch (e) { list.replaceChildren(h("li", { class: "error" }, e.message)); return; }
    const convs = data.conversations || [];
    const drawn = JSON.stringify([convs, openConv && openConv.id]);
    if (drawn === lastQueue && list.childElementCount) return;
    lastQueue = drawn;
    list.replaceChildren(
      ...(convs.length
        ? convs.map((c) =>
          h(
            "li",
            { dataset: { convId: c.id, state: c.state }, class: openConv && openConv.id === c.id ? "fresh" : null },
            h(
              "a",
              { class: "task", href: `#/chats/${c.id}` },
              h("div", { class: "row" }, h("span", { class: "title" }, `会话 #${c.id}`), h("span", { class: `light ${c.state === "waiting_human" ? "light-yellow" : "light-none"}` }, STATE_LABELS[c.state] || c.state)),
              h("div", { class: "meta" }, `${c.channel} · ${c.messages}条消息 · ${fmtTime(c.handoff_at || c.updated_at)}`),
              c.handoff_reason ? h("div", { class: "meta" }, `转人工原因：${reasonText(c.handoff_reason)}`) : null,
            ),
          ))
        : [h("li", { class: "muted" }, "暂无等待人工的会话")]),
    );
  }

  function line(m) {
    const who = AUTHORS[m.author] || m.author;
    const buttons = m.data && Array.isArray(m.data.buttons) ? m.data.buttons.map((b) => b.title).join(" / ") : "";
    return h(
      "div",
      { class: `msg ${m.author}`, dataset: { id: m.id } },
      h("span", { class: "who" }, `${who} · ${fmtTime(m.at)}`),
      m.text || "",
      buttons ? h("div", { class: "muted" }, `选项：${buttons}`) : null,
    );
  }

  async function openConversation(id) {
    const pane = document.getElementById("conversation");
    let c;
    try { c = await api("GET", `/consult/conversations/${id}`); } catch (e) { pane.replaceChildren(h("div", { class: "error", role: "alert" }, e.message)); return; }
    renderConversation(c);
  }

  function renderConversation(c) {
    const pane = document.getElementById("conversation");
    const me = session.user && session.user.id;
    const lines = c.transcript || [];
    openConv = { id: c.id, lastId: lines.length ? lines[lines.length - 1].id : 0, state: c.state };
    const err = errorBox();
    const transcript = h("div", { class: "transcript", id: "transcript", role: "log", "aria-label": "对话记录" }, lines.map(line));
    const parts = [
      h("h2", {}, `会话 #${c.id}`),
      h("p", { id: "conv-state" }, h("strong", {}, STATE_LABELS[c.state] || c.state), c.handoff_reason ? ` · ${reasonText(c.handoff_reason)}` : ""),
      transcript,
      err,
    ];
    if (c.state === "waiting_human") {
      parts.push(h("button", {
        type: "button", class: "primary", id: "claim",
        onclick: async () => {
          try { renderConversation(await api("POST", `/consult/conversations/${c.id}/claim`)); } catch (e) { showError(err, e); }
        },
      }, "接入会话"));
    } else if (c.state === "human" && c.agent_id === me) {
      const text = h("textarea", { id: "reply", maxlength: 2000 });
      const form = h(
        "form",
        {},
        h("label", { for: "reply" }, "回复申请人"),
        text,
        h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "send" }, "发送"),
          h("button", { type: "button", class: "danger", id: "close-conv", onclick: async () => {
            try { renderConversation({ ...(await api("POST", `/consult/conversations/${c.id}/close`)), transcript: await transcriptSoFar(c.id) }); } catch (e) { showError(err, e); }
          } }, "结束会话")),
      );
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const value = text.value.trim();
        if (!value) return;
        try {
          const msg = await api("POST", `/consult/conversations/${c.id}/messages`, { text: value });
          text.value = "";
          if (msg.delivered === false) toast("申请人当前不在线，回复已保存，上线后送达");
          await appendTranscript();
        } catch (e) { showError(err, e); }
      });
      parts.push(form);
    } else if (c.state === "closed") {
      parts.push(h("p", { class: "muted" }, c.rating ? `申请人评价：${c.rating}星 ${c.rating_comment || ""}` : "会话已结束，等待申请人评价"));
    }
    pane.replaceChildren(...parts);
    transcript.scrollTop = transcript.scrollHeight;
  }

  async function transcriptSoFar(id) {
    return (await api("GET", `/consult/conversations/${id}`)).transcript;
  }

  async function appendTranscript() {
    if (!openConv) return;
    const id = openConv.id;
    let c;
    try { c = await api("GET", `/consult/conversations/${id}?after_id=${openConv.lastId}`); } catch (e) {
      if (e.status === 404 && openConv && openConv.id === id) {  // another agent claimed it meanwhile
        openConv = null;
        document.getElementById("conversation").replaceChildren(h("p", { class: "muted", id: "conv-gone" }, "该会话已由其他坐席接入"));
      }
      return;
    }
    if (!openConv || openConv.id !== id) return;
    if (c.state !== openConv.state) { renderConversation({ ...c, transcript: await transcriptSoFar(id) }); return; }
    const box = document.getElementById("transcript");
    for (const m of c.transcript || []) {
      if (box.querySelector(`[data-id="${m.id}"]`)) continue;
      box.append(line(m));
      openConv.lastId = Math.max(openConv.lastId, m.id);
    }
    box.scrollTop = box.scrollHeight;
  }

  // ------------------------------------------------------------------ knowledge base
  async function showEntries(body) {
    const q = h("input", { id: "kb-q", type: "search", value: kbFilter.q, placeholder: "问题或答案中的词" });
    const status = h("select", { id: "kb-status" }, h("option", { value: "" }, "全部状态"),
      Object.entries(ENTRY_LABELS).map(([k, v]) => h("option", { value: k, selected: kbFilter.status === k }, v)));
    const list = h("ul", { class: "tasks", id: "entries" });
    const form = h("form", { class: "card", role: "search", "aria-label": "知识库检索" },
      h("label", { for: "kb-q" }, "搜索知识条目"),
      h("div", { class: "row" }, h("div", { class: "grow" }, q), h("button", { type: "submit" }, "搜索")),
      h("label", { for: "kb-status" }, "状态"), status,
      h("p", {}, h("a", { class: "button", href: "#/kb/new", id: "new-entry" }, "新建条目")));
    const load = async () => {
      kbFilter = { q: q.value.trim(), status: status.value };
      const params = new URLSearchParams({ limit: 100 });
      if (kbFilter.q) params.set("q", kbFilter.q);
      if (kbFilter.status) params.set("status", kbFilter.status);
      try {
        const data = await api("GET", `/kb/entries?${params}`);
        list.replaceChildren(...(data.entries.length ? data.entries.map((e) => h("li", { dataset: { entry: e.id } },
          h("a", { class: "task", href: `#/kb/${encodeURIComponent(e.id)}` },
            h("div", { class: "row" }, h("span", { class: "title" }, e.question), h("span", { class: "light light-none" }, ENTRY_LABELS[e.status] || e.status)),
            h("div", { class: "meta" }, `${e.id} · 命中${e.hits}次 · 有用${e.feedback.useful}/无用${e.feedback.not_useful}`)))) : [h("li", { class: "muted" }, "没有符合条件的条目")]));
        const total = document.getElementById("kb-total");
        if (total) total.textContent = `共 ${data.total} 条`;
      } catch (e) { list.replaceChildren(h("li", { class: "error" }, e.message)); }
    };
    form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
    status.addEventListener("change", load);
    body.append(form, h("p", { class: "muted", id: "kb-total" }), list);
    await load();
  }

  async function showEntry(body, key) {
    let e = null;
    const err = errorBox();
    if (key) {
      try { e = await api("GET", `/kb/entries/${encodeURIComponent(key)}`); } catch (x) { body.append(h("div", { class: "error", role: "alert" }, x.message)); return; }
    }
    const field = (id, label, el) => [h("label", { for: id }, label), el];
    const question = h("input", { id: "e-question", type: "text", value: e ? e.question : "", required: true, maxlength: 500 });
    const similar = h("textarea", { id: "e-similar" }); similar.value = e ? e.similar.join("\n") : "";
    const answer = h("textarea", { id: "e-answer", required: true, maxlength: 4000 }); answer.value = e ? e.answer : "";
    answer.style.minHeight = "8rem";
    const item = h("input", { id: "e-item", type: "text", value: e && e.item_code ? e.item_code : "", placeholder: "如 GD-WJ-XK-0001" });
    const tags = h("input", { id: "e-tags", type: "text", value: e ? e.tags.join("，") : "" });
    const data = () => ({
      question: question.value.trim(), answer: answer.value.trim(),
      similar: similar.value.split("\n").map((s) => s.trim()).filter(Boolean),
      item_code: item.value.trim() || null, tags: tags.value.split(/[,，\s]+/).map((s) => s.trim()).filter(Boolean),
    });
    const run = async (fn) => { err.hidden = true; try { await fn(); } catch (x) { showError(err, x); } };
    const reload = (updated, msg) => { toast(msg); location.hash = `#/kb/${encodeURIComponent(updated.id)}`; if (key === updated.id) route(); };
    const buttons = [];
    if (!e) {
      buttons.push(h("button", { type: "submit", class: "primary" }, "保存为草稿"));
    } else {
      if (e.status !== "archived") buttons.push(h("button", { type: "submit", class: "primary" }, "保存修改"));
      if (e.status === "draft") buttons.push(h("button", { type: "button", id: "e-submit", onclick: () => run(async () => reload(await api("POST", `/kb/entries/${encodeURIComponent(e.id)}/submit`), "已提交审核")) }, "提交审核"));
      if (e.status === "in_review" && isReviewer()) {
        buttons.push(h("button", { type: "button", class: "primary", id: "e-publish", onclick: () => run(async () => reload(await api("POST", `/kb/entries/${encodeURIComponent(e.id)}/publish`), "已发布，机器人即刻使用新答案")) }, "审核通过并发布"));
        buttons.push(h("button", { type: "button", class: "danger", id: "e-reject", onclick: () => run(async () => {
          const note = document.getElementById("e-note").value.trim();
          if (!note) throw new Error("请填写退回意见");
          reload(await api("POST", `/kb/entries/${encodeURIComponent(e.id)}/reject`, { note }), "已退回修改");
        }) }, "退回修改"));
      }
      if (e.status === "published") buttons.push(h("button", { type: "button", class: "danger", id: "e-archive", onclick: () => run(async () => reload(await api("POST", `/kb/entries/${encodeURIComponent(e.id)}/archive`), "已归档")) }, "归档"));
    }
    const form = h("form", { class: "card", "aria-labelledby": "entry-h" },
      h("p", {}, h("a", { href: "#/kb" }, "‹ 返回知识库")),
      h("h2", { id: "entry-h" }, e ? `条目 ${e.id}` : "新建知识条目"),
      e ? h("p", {}, h("strong", { id: "e-status" }, ENTRY_LABELS[e.status] || e.status), ` · 第${e.version}版 · 命中${e.hits}次`) : null,
      field("e-question", "标准问题", question),
      field("e-similar", "相似问法（每行一个）", similar),
      field("e-answer", "答案", answer),
      field("e-item", "关联事项编码", item),
      field("e-tags", "标签（逗号分隔）", tags),
      e && e.status === "in_review" && isReviewer() ? field("e-note", "审核意见（退回时必填）", h("textarea", { id: "e-note" })) : null,
      err,
      h("div", { class: "actions" }, buttons));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      run(async () => {
        if (!e) reload(await api("POST", "/kb/entries", data()), "已保存为草稿");
        else reload(await api("PATCH", `/kb/entries/${encodeURIComponent(e.id)}`, { ...data(), expected_version: e.version }), "已保存");
      });
    });
    body.append(form);
    if (e) {
      try {
        const hist = await api("GET", `/kb/entries/${encodeURIComponent(e.id)}/history`);
        body.append(h("section", { class: "card", "aria-labelledby": "hist-h" }, h("h2", { id: "hist-h" }, "版本历史"),
          h("ol", { class: "timeline" }, hist.versions.slice().reverse().map((v) => h("li", {},
            h("strong", {}, `${v.action} → ${ENTRY_LABELS[v.status] || v.status}`), " ",
            h("span", { class: "muted" }, `第${v.version}版 · ${v.actor_name || "系统"} · ${fmtTime(v.at)}`),
            v.note ? h("div", {}, v.note) : null)))));
      } catch (x) { /* history is a courtesy */ }
    }
  }

  // ------------------------------------------------------------------ hit testing
  function showHitTest(body) {
    const q = h("input", { id: "hit-q", type: "search", placeholder: "输入申请人可能会问的问题" });
    const out = h("div", { id: "hit-results", "aria-live": "polite" });
    const err = errorBox();
    const form = h("form", { class: "card", "aria-labelledby": "hit-h" }, h("h2", { id: "hit-h" }, "命中测试"),
      h("label", { for: "hit-q" }, "测试问题"), h("div", { class: "row" }, h("div", { class: "grow" }, q), h("button", { type: "submit", class: "primary" }, "测试")), err);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      try {
        const r = await api("POST", "/kb/hit-test", { q: q.value, k: 10 });
        out.replaceChildren(
          h("p", { id: "hit-decision" }, `机器人将：${DECISIONS[r.decision] || r.decision}（回答阈值 ${r.thresholds.answer}，候选阈值 ${r.thresholds.suggest}）`),
          r.results.length
            ? h("table", { class: "compare" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "排名"), h("th", { scope: "col" }, "条目"), h("th", { scope: "col" }, "得分"))),
              h("tbody", {}, r.results.map((x, i) => h("tr", { dataset: { entry: x.id } }, h("td", {}, i + 1),
                h("td", {}, h("a", { href: `#/kb/${encodeURIComponent(x.id)}` }, x.question), h("div", { class: "muted" }, x.id)),
                h("td", { class: "score" }, x.score.toFixed(3))))))
            : h("p", { class: "muted" }, "没有命中任何已发布条目"),
        );
      } catch (x) { showError(err, x); }
    });
    body.append(form, out);
    q.focus();
  }

  // ------------------------------------------------------------------ unanswered questions
  async function showUnanswered(body) {
    const list = h("div", { id: "unanswered" });
    body.append(h("h2", {}, "未解答与低置信度问题"), h("p", { class: "muted" }, "机器人没能回答的问题。一步建新条目，或补充为已有条目的相似问法；处理后进入审核。"), list);
    let data;
    try { data = await api("GET", "/kb/unanswered"); } catch (e) { list.append(h("div", { class: "error", role: "alert" }, e.message)); return; }
    if (!data.questions.length) { list.append(h("p", { class: "muted" }, "暂无待处理的问题")); return; }
    for (const u of data.questions) {
      const err = errorBox();
      const answer = h("textarea", { id: `u-answer-${u.id}` });
      const target = h("input", { id: `u-entry-${u.id}`, type: "text", value: u.best_id || "" });
      const done = (msg) => { toast(msg); route(); };
      const run = async (payload, msg) => { err.hidden = true; try { await api("POST", `/kb/unanswered/${u.id}/resolve`, payload); done(msg); } catch (x) { showError(err, x); } };
      list.append(h("section", { class: "card", dataset: { unanswered: u.id } },
        h("h3", {}, u.question),
        h("p", { class: "muted" }, `出现${u.count}次 · 最近 ${fmtTime(u.last_seen_at)}${u.best_id ? ` · 最接近 ${u.best_id}（${Number(u.best_score || 0).toFixed(2)}）` : ""}`),
        h("label", { for: answer.id }, "新建条目：答案"), answer,
        h("p", {}, h("button", { type: "button", class: "primary", onclick: () => run({ answer: answer.value.trim() }, "已建为新条目（草稿）") }, "建为新条目")),
        h("label", { for: target.id }, "或补充到已有条目（条目编号）"), target,
        h("div", { class: "row" },
          h("button", { type: "button", onclick: () => run({ id: target.value.trim() }, "已补充为相似问法") }, "补充为相似问法"),
          h("button", { type: "button", class: "danger", onclick: () => run({ dismiss: true }, "已忽略") }, "忽略")),
        err));
    }
  }

  route();
})();
