/* The staff task view (/m/staff/): log in, 待办 / 已办 / 办结 with lights, case detail, actions, batch approve,
 * 我的 (#/me): the staff member's own contacts and reminder channels, 修改密码 (#/password; the only page of an
 * account whose password an admin set), and for admins 账号管理 (#/admin): staff accounts (staff_admin.js).
 * What the page offers comes from the API (allowed_actions of the case detail); the API checks it again. */
"use strict";

(() => {
  const { h, api, session, toast, lightBadge, fmtTime } = WJ;
  const app = document.getElementById("app");
  const VIEWS = [["todo", "待办"], ["done", "已办"], ["finished", "办结"]];
  const PAGE = 20;

  // What each action asks for. `need`: the input the transition table requires (reason, opinion, days,
  // defects); `optional`: an opinion that may be left empty.
  const ACTIONS = {
    accept: { label: "受理", primary: true, optional: "受理意见" },
    not_accept: { label: "不予受理", danger: true, need: "reason", prompt: "不予受理的理由" },
    request_supplement: { label: "一次性告知补正", need: "defects" },
    approve: { label: "审批通过", primary: true, optional: "审批意见" },
    deny: { label: "不予许可", danger: true, need: "opinion", prompt: "不予许可的理由" },
    suspend: { label: "挂起（现场核查等）", need: "reason", prompt: "挂起原因" },
    resume: { label: "恢复办理", primary: true },
    extend: { label: "申请延时", need: "days", prompt: "延时理由" },
    abort: { label: "异常中止", danger: true, need: "reason", prompt: "中止原因" },
    revoke: { label: "撤销办件", danger: true, need: "reason", prompt: "撤销原因" },
    issue_licence: { label: "证照签发", primary: true },
    conclude: { label: "办结", primary: true, optional: "办结意见" },
    deliver: { label: "出件登记", primary: true },
  };

  const EVENT_LABELS = { create: "创建申请", resubmit: "重新提交" };

  const state = { view: "todo", light: "", q: "", item: "", offset: 0, items: [], selected: new Set(), fresh: new Set() };
  const itemCache = new Map();
  let catalogue = null;
  let liveConn = null;
  const shown = { case: null, busy: false };  // the case on screen; busy while one of our actions is in flight

  WJ.onUnauthenticated = () => { toast("登录已失效，请重新登录"); route(); };
  WJ.onPasswordChangeRequired = () => route();

  // ------------------------------------------------------------------ shell
  function header() {
    const user = session.user;
    document.getElementById("who").textContent = user ? user.name : "";
    const out = document.getElementById("logout");
    out.hidden = !user;
    const me = document.getElementById("me-link");
    me.hidden = !user;
    me.onclick = () => { location.hash = "#/me"; };
    out.onclick = async () => {
      await api("POST", "/auth/logout").catch(() => null);  // ends the token on the server too
      session.clear();
      if (liveConn) { liveConn.stop(); liveConn = null; }
      document.getElementById("live").hidden = true;
      location.hash = "";
      route();
    };
  }

  function startLive() {
    if (liveConn || !session.token) return;
    const badge = document.getElementById("live");
    liveConn = WJ.live(onLive, (up) => {
      badge.hidden = false;
      badge.textContent = up ? "实时" : "离线";
      badge.title = up ? "新任务会自动出现" : "实时连接中断，正在重连";
      badge.dataset.connected = up ? "1" : "0";
    });
  }

  // Any case change pushed to this staff member: refresh what is on screen.
  async function onLive(msg) {
    const caseId = msg.case_id || (msg.case && msg.case.id) || (msg.data && msg.data.case_id);
    const route_ = parseHash();
    if (route_.page === "case" && caseId && Number(caseId) === route_.id) {
      // Our own action is pushed back to us too: the action's response shows it, so only a change made by
      // someone else (a newer version than the one on screen) is announced.
      if (shown.busy) return;
      const c = await api("GET", `/staff/cases/${route_.id}`).catch(() => null);
      if (c && shown.case && c.id === shown.case.id && c.version > shown.case.version && !shown.busy) {
        renderCase(c, await itemDetail(c.item.code), "该办件刚刚有更新");
      }
      return;
    }
    if (route_.page === "tasks") {
      const before = new Set(state.items.map((t) => t.id));
      const snapshot = JSON.stringify([state.items, state.summary]);
      if (!(await loadTasks(true))) return;
      const added = state.items.filter((t) => !before.has(t.id));
      for (const t of added) state.fresh.add(t.id);
      if (JSON.stringify([state.items, state.summary]) !== snapshot) {
        const typing = document.getElementById("q");
        const typed = typing ? typing.value : null;  // keep what the user is typing across the re-render
        renderList();
        if (typed !== null) document.getElementById("q").value = typed;
      }
      if (added.length && state.view === "todo") toast(`有新的待办：${added.map((t) => t.serial_no).join("、")}`);
    }
  }

  function parseHash() {
    if (location.hash.startsWith("#/me")) return { page: "me" };
    if (location.hash.startsWith("#/password")) return { page: "password" };
    if (location.hash.startsWith("#/admin")) return { page: "admin" };
    const m = location.hash.match(/^#\/case\/(\d+)/);
    if (m) return { page: "case", id: Number(m[1]) };
    const v = location.hash.match(/^#\/tasks\/(todo|done|finished)/);
    return { page: "tasks", view: v ? v[1] : "todo" };
  }

  function route() {
    header();
    if (!session.token) return showLogin();
    if (session.user && session.user.mustChange) return showPassword(true);  // nothing else opens until then
    startLive();
    const r = parseHash();
    if (r.page === "password") return showPassword(false);
    if (r.page === "admin") return WJ.staffAdmin.show(app, mount);
    if (r.page === "case") return showCase(r.id);
    if (r.page === "me") return showMe();
    state.view = r.view;
    return showTasks();
  }
  window.addEventListener("hashchange", route);

  function mount(...nodes) {  // replaceChildren() would print a skipped (null) part as the text "null"
    app.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  }

  // ------------------------------------------------------------------ login
  function showLogin() {
    const err = h("div", { class: "error", role: "alert", hidden: true });
    const form = h(
      "form",
      { class: "card", "aria-labelledby": "login-h" },
      h("h2", { id: "login-h" }, "工作人员登录"),
      h("label", { for: "username" }, "用户名"),
      h("input", { id: "username", name: "username", type: "text", autocomplete: "username", required: true }),
      h("label", { for: "password" }, "密码"),
      h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }),
      err,
      h("p", {}, h("button", { type: "submit", class: "primary" }, "登录")),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      try {
        const login = await api("POST", "/auth/staff-login", {
          username: form.username.value.trim(),
          password: form.password.value,
        }, { login: true });
        session.save(login);
        route();
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
      }
    });
    mount(form);
    form.username.focus();
  }

  // ------------------------------------------------------------------ task lists
  async function loadCatalogue() {
    if (!catalogue) catalogue = (await api("GET", "/items")).items;
    return catalogue;
  }

  // Loads overlap (a push arrives while a batch reloads): only the latest load may change the list.
  let loadSeq = 0;
  async function loadTasks(reset) {
    const seq = ++loadSeq;
    if (reset) state.offset = 0;
    const params = new URLSearchParams({ view: state.view, limit: PAGE, offset: state.offset });
    if (state.light && state.view === "todo") params.set("light", state.light);
    if (state.q) params.set("q", state.q);
    if (state.item) params.set("item_code", state.item);
    const [page, summary] = await Promise.all([api("GET", `/staff/tasks?${params}`), api("GET", "/staff/tasks/summary")]);
    if (seq !== loadSeq) return false;
    state.items = reset ? page.items : state.items.concat(page.items);
    state.more = page.items.length === PAGE;
    state.summary = summary;
    const ids = new Set(state.items.map((t) => t.id));
    for (const id of [...state.selected]) if (!ids.has(id)) state.selected.delete(id);
    return true;
  }

  async function showTasks() {
    state.selected.clear();
    mount(h("p", { class: "muted" }, "正在加载…"));
    try {
      await Promise.all([loadTasks(true), loadCatalogue()]);
    } catch (e) {
      mount(h("div", { class: "error", role: "alert" }, e.message));
      return;
    }
    renderList();
  }

  function renderList() {
    const s = state.summary || {};
    const counts = { todo: s.todo, done: s.done, finished: s.finished };
    const tabs = h(
      "div",
      { class: "tabs", role: "tablist", "aria-label": "任务分类" },
      VIEWS.map(([key, label]) =>
        h(
          "button",
          {
            type: "button", role: "tab", id: `tab-${key}`, "aria-selected": String(state.view === key),
            "aria-controls": "tasklist", onclick: () => { location.hash = `#/tasks/${key}`; },
          },
          label,
          h("span", { class: "count", "aria-label": `${counts[key] ?? 0}件` }, counts[key] ?? 0),
        ),
      ),
    );

    const q = h("input", { id: "q", type: "search", value: state.q, placeholder: "流水号 / 申请人 / 事项名称", enterkeyhint: "search" });
    const item = h(
      "select",
      { id: "item-filter" },
      h("option", { value: "" }, "全部事项"),
      (catalogue || []).map((it) => h("option", { value: it.code, selected: it.code === state.item }, it.name)),
    );
    const filters = h(
      "form",
      { class: "card", role: "search", "aria-label": "搜索和筛选" },
      h("label", { for: "q" }, "搜索"),
      h("div", { class: "row" }, h("div", { class: "grow" }, q), h("button", { type: "submit" }, "搜索")),
      h("label", { for: "item-filter" }, "事项"),
      item,
      state.view === "todo"
        ? h(
          "div",
          { class: "chips", role: "group", "aria-label": "按灯号筛选" },
          [["", "全部", s.todo], ["red", "红灯", s.todo_red], ["yellow", "黄灯", s.todo_yellow], ["green", "绿灯", s.todo_green]].map(
            ([light, label, n]) =>
              h(
                "button",
                {
                  type: "button", "aria-pressed": String(state.light === light), dataset: { light: light || "all" },
                  onclick: async () => { state.light = light; await loadTasks(true); renderList(); },
                },
                `${label} ${n ?? 0}`,
              ),
          ),
        )
        : null,
    );
    filters.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      state.q = q.value.trim();
      await loadTasks(true);
      renderList();
    });
    item.addEventListener("change", async () => { state.item = item.value; await loadTasks(true); renderList(); });

    const batchable = (t) => state.view === "todo" && t.status === "accepted";
    const list = h(
      "ul",
      { class: "tasks", id: "tasklist", role: "tabpanel", "aria-labelledby": `tab-${state.view}` },
      state.items.map((t) =>
        h(
          "li",
          { class: state.fresh.has(t.id) ? "fresh" : null, dataset: { caseId: t.id, serial: t.serial_no } },
          batchable(t)
            ? h("input", {
              type: "checkbox", "aria-label": `选择 ${t.serial_no}`, checked: state.selected.has(t.id),
              onchange: (ev) => { ev.target.checked ? state.selected.add(t.id) : state.selected.delete(t.id); updateBatch(); },
            })
            : null,
          h(
            "a",
            { class: "task", href: `#/case/${t.id}` },
            h("div", { class: "row" }, h("span", { class: "title" }, t.item_name), lightBadge(t.deadline)),
            h("div", { class: "meta" }, `${t.serial_no} · ${t.applicant_name || "申请人"}`),
            h(
              "div",
              { class: "meta" },
              [t.status_label, t.step_name, t.deadline && t.deadline.due_date ? `时限 ${t.deadline.due_date}` : null]
                .filter(Boolean).join(" · "),
            ),
          ),
        ),
      ),
    );
    const empty = state.items.length ? null : h("p", { class: "muted" }, state.view === "todo" ? "暂无待办任务" : "暂无记录");
    const more = state.more
      ? h("button", { type: "button", onclick: async () => { state.offset += PAGE; await loadTasks(false); renderList(); } }, "加载更多")
      : null;
    const batchBar = h("div", { class: "batchbar", id: "batchbar", hidden: true });
    mount(tabs, filters, list, empty, more, batchBar);
    updateBatch();
  }

  function updateBatch() {
    const bar = document.getElementById("batchbar");
    if (!bar) return;
    const n = state.selected.size;
    bar.hidden = n === 0;
    if (!n) return;
    const opinion = h("input", { id: "batch-opinion", type: "text", placeholder: "审批意见（可不填）" });
    bar.replaceChildren(
      h("span", {}, `已选 ${n} 件`),
      h("label", { for: "batch-opinion", class: "visually-hidden" }, "批量审批意见"),
      h("div", { class: "grow" }, opinion),
      h("button", {
        type: "button", class: "primary", id: "batch-approve",
        onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const r = await api("POST", "/staff/batch-actions", {
              case_ids: [...state.selected], action: "approve", opinion: opinion.value.trim() || null,
            });
            const failed = r.results.filter((x) => !x.ok);
            toast(`批量审批：成功 ${r.succeeded} 件${failed.length ? `，失败 ${failed.length} 件（${failed.map((x) => x.message || x.code).join("；")}）` : ""}`, 6000);
            state.selected.clear();
            await loadTasks(true);
            renderList();
          } catch (e) {
            toast(e.message);
            ev.target.disabled = false;
          }
        },
      }, "批量审批通过"),
    );
  }

  // ------------------------------------------------------------------ case detail
  async function itemDetail(code) {
    if (!itemCache.has(code)) itemCache.set(code, await api("GET", `/items/${encodeURIComponent(code)}`));
    return itemCache.get(code);
  }

  async function showCase(id, banner) {
    let c, item;
    try {
      c = await api("GET", `/staff/cases/${id}`);
      item = await itemDetail(c.item.code);
    } catch (e) {
      mount(backLink(), h("div", { class: "error", role: "alert" }, e.message));
      return;
    }
    renderCase(c, item, banner);
  }

  function backLink() {
    return h("p", {}, h("a", { href: `#/tasks/${state.view}` }, "‹ 返回任务列表"));
  }

  function renderCase(c, item, banner) {
    shown.case = c;
    const fields = (item.form && item.form.fields) || [];
    const labelOf = Object.fromEntries(fields.map((f) => [f.key, f.label || f.key]));
    const d = c.deadline;
    const summary = h(
      "section",
      { class: "card", "aria-labelledby": "case-h" },
      h("h2", { id: "case-h" }, c.item.name),
      h("div", { class: "row" }, h("strong", { id: "case-status" }, c.status_label), lightBadge(d)),
      h(
        "dl",
        { class: "kv" },
        h("dt", {}, "流水号"), h("dd", { id: "case-serial" }, c.serial_no),
        h("dt", {}, "申请人"), h("dd", {}, c.applicant_name || "—"),
        h("dt", {}, "实施机构"), h("dd", {}, c.item.implementing_body || "—"),
        h("dt", {}, "当前环节"), h("dd", {}, c.step ? c.step.name || c.step.key : "—"),
        h("dt", {}, "提交时间"), h("dd", {}, fmtTime(c.submitted_at) || "—"),
        h("dt", {}, "办理时限"),
        h(
          "dd",
          { id: "case-deadline" },
          d
            ? `${d.due_date}${d.provisional ? "（暂定）" : ""}${d.paused ? "，已暂停计时" : ""}` +
                (d.days_left !== null && d.days_left !== undefined ? `，${d.days_left < 0 ? `已超期${-d.days_left}` : `剩余${d.days_left}`}个工作日` : "")
            : `受理后起算（承诺${c.limits.promised_working_days || "—"}个工作日）`,
        ),
      ),
      h(
        "ol",
        { class: "steps", "aria-label": "办理流程" },
        c.steps.map((s) =>
          h("li", { class: s.done ? "done" : c.step && c.step.key === s.key ? "current" : null }, s.name || s.key),
        ),
      ),
    );

    const actions = actionsCard(c, item);
    const form = h(
      "section",
      { class: "card", "aria-labelledby": "form-h" },
      h("h2", { id: "form-h" }, "申请表"),
      c.masked ? h("p", { class: "muted" }, "个人信息已脱敏显示") : null,
      h("dl", { class: "kv" }, Object.entries(c.form || {}).map(([k, v]) => [h("dt", {}, labelOf[k] || k), h("dd", {}, fmtValue(v))])),
    );
    const materials = materialsCard(c, item);
    const notices = c.notices && c.notices.length
      ? h(
        "section",
        { class: "card", "aria-labelledby": "notices-h" },
        h("h2", { id: "notices-h" }, "告知书"),
        c.notices.map((n) => h("div", { class: "material" }, h("strong", {}, n.title || n.kind), h("p", { class: "muted" }, n.body || ""))),
      )
      : null;
    const timeline = h(
      "section",
      { class: "card", "aria-labelledby": "timeline-h" },
      h("h2", { id: "timeline-h" }, `办理记录（${c.events_total}）`),
      h(
        "ol",
        { class: "timeline" },
        c.events.slice().reverse().map((e) =>
          h(
            "li",
            {},
            h("strong", {}, EVENT_LABELS[e.action] || e.action_label),
            " ",
            h("span", { class: "muted" }, `${fmtTime(e.at)} · ${e.actor_name || (e.actor_type === "applicant" ? "申请人" : "系统")}`),
            e.opinion ? h("div", {}, e.opinion) : null,
          ),
        ),
      ),
    );
    mount(
      backLink(),
      banner ? h("div", { class: "notice-ok", role: "status" }, banner) : null,
      summary,
      actions,
      form,
      materials,
      notices,
      timeline,
    );
  }

  function fmtValue(v) {
    if (v === null || v === undefined || v === "") return "—";
    if (Array.isArray(v)) return v.join("、");
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  // The machine reading of a material (the OCR capability stores it as `check` on the material, masked): what
  // was read beside what the applicant typed, and the findings with their Chinese messages.
  const READ_LABELS = {
    name: "姓名", sex: "性别", ethnicity: "民族", id_number: "身份证号", birth_date: "出生日期", address: "住址",
    issuer: "签发机关", valid_from: "有效期起", valid_to: "有效期至", uscc: "统一社会信用代码", entity_name: "名称",
    legal_representative: "法定代表人", cert_code: "证书编码", cert_no: "证书编号", check_date: "体检日期",
    practice_scope: "执业范围", practice_category: "执业类别", practice_place: "执业地点", school: "学校",
    major: "专业", graduation_date: "毕业日期", institution: "机构", conclusion: "结论",
  };
  const CHECK_STATUS = { pending: "正在识别…", failed: "识别失败，请人工核对", gone: "材料已替换" };

  function checkView(check, names) {
    if (!check) return null;
    const parts = [];
    if (check.status && check.status !== "done") {
      parts.push(h("p", { class: "muted" }, `机器识别：${CHECK_STATUS[check.status] || check.status}`));
    }
    if (check.status === "done") {
      const kind = check.material_type ? names[check.material_type] || check.material_type : "未能判断";
      const conf = typeof check.confidence === "number" ? `（置信度 ${Math.round(check.confidence * 100)}%）` : "";
      parts.push(h("p", { class: check.ok ? "muted" : null }, `机器识别为：${kind}${conf}${check.ok ? "，未发现问题" : ""}`));
    }
    const rows = check.fields || [];
    if (rows.length) {
      parts.push(h(
        "table",
        { class: "compare" },
        h("caption", { class: "visually-hidden" }, "识别结果与申请人填写对照"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "项目"), h("th", { scope: "col" }, "识别结果"), h("th", { scope: "col" }, "申请人填写"))),
        h("tbody", {}, rows.map((f) => h(
          "tr",
          { dataset: { field: f.field, match: f.match === null || f.match === undefined ? "" : String(f.match) } },
          h("th", { scope: "row" }, READ_LABELS[f.field] || f.field),
          h("td", { class: f.match === false ? "mismatch" : null }, fmtValue(f.read), f.match === false ? h("span", { class: "visually-hidden" }, "（不一致）") : null),
          h("td", {}, f.typed === null || f.typed === undefined ? "—" : fmtValue(f.typed)),
        ))),
      ));
    }
    const findings = check.findings || [];
    if (findings.length) {
      parts.push(h("ul", { class: "findings", "aria-label": "材料检查发现" }, findings.map((f) => h(
        "li",
        { class: `sev-${f.severity}`, dataset: { code: f.code } },
        `${f.severity === "error" ? "问题" : "提示"}：${f.message}`,
        f.suggestion ? `（建议：${f.suggestion}）` : "",
      ))));
    }
    return parts;
  }

  function materialsCard(c, item) {
    const names = Object.fromEntries((item.materials || []).map((m) => [m.material_id, m.name]));
    return h(
      "section",
      { class: "card", "aria-labelledby": "materials-h" },
      h("h2", { id: "materials-h" }, `材料（${c.materials.length}）`),
      c.materials.length ? null : h("p", { class: "muted" }, "未上传材料"),
      c.materials.map((m) => h(
        "div",
        { class: "material", dataset: { materialType: m.material_type } },
        h("strong", {}, m.name || names[m.material_type] || m.material_type),
        h("div", { class: "muted" }, `${m.filename || ""} · 第${m.version}版 · ${fmtTime(m.created_at)}`),
        h("button", { type: "button", onclick: () => openFile(c.id, m) }, "查看原件"),
        checkView(m.check, names),
      )),
    );
  }

  async function openFile(caseId, m) {
    try {
      const r = await api("GET", `/staff/cases/${caseId}/materials/${m.id}/file`, undefined, { raw: true });
      const url = URL.createObjectURL(await r.blob());
      window.open(url, "_blank", "noopener");
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (e) {
      toast(e.message);
    }
  }

  function actionsCard(c, item) {
    const allowed = c.allowed_actions || [];
    const panel = h("div", { id: "action-panel" });
    const card = h(
      "section",
      { class: "card", "aria-labelledby": "actions-h" },
      h("h2", { id: "actions-h" }, "办理"),
      allowed.length
        ? h(
          "div",
          { class: "actions" },
          allowed.map((a) => {
            const spec = ACTIONS[a] || { label: a };
            return h(
              "button",
              {
                type: "button", dataset: { action: a },
                class: [spec.primary ? "primary" : "", spec.danger ? "danger" : ""].join(" ").trim() || null,
                onclick: () => openAction(c, item, a, panel),
              },
              spec.label,
            );
          }),
        )
        : h("p", { class: "muted", id: "no-actions" }, "当前没有您可以办理的操作"),
      panel,
    );
    return card;
  }

  function openAction(c, item, action, panel) {
    const spec = ACTIONS[action] || { label: action };
    const err = h("div", { class: "error", role: "alert", hidden: true });
    const form = h("form", { "aria-label": spec.label }, h("h3", {}, spec.label));
    let collect = () => ({});

    if (spec.need === "defects") {
      const fields = (item.form && item.form.fields) || [];
      const rows = (item.materials || []).map((m) => defectRow("material_type", m.material_id, m.name));
      const fieldRows = fields.map((f) => defectRow("field", f.key, f.label || f.key));
      form.append(
        h("p", { class: "muted" }, "勾选需要补正的材料或表单内容，逐项写明问题。申请人将一次性收到全部补正要求。"),
        h("fieldset", {}, h("legend", {}, "材料"), rows.map((r) => r.el)),
        h("details", {}, h("summary", {}, "表单内容"), h("fieldset", {}, h("legend", {}, "表单字段"), fieldRows.map((r) => r.el))),
      );
      collect = () => {
        const defects = [...rows, ...fieldRows].filter((r) => r.box.checked).map((r) => r.value());
        if (!defects.length) throw new Error("请至少勾选一项需要补正的材料或内容");
        const missing = defects.find((d) => !d.reason);
        if (missing) throw new Error("请为每一项勾选的内容写明需要补正的原因");
        return { defects };
      };
    } else if (spec.need === "days") {
      const days = h("input", { id: "act-days", type: "number", min: 1, max: 365, required: true, inputmode: "numeric" });
      const reason = h("textarea", { id: "act-text", required: true });
      form.append(h("label", { for: "act-days" }, "延长工作日数"), days, h("label", { for: "act-text" }, spec.prompt), reason);
      collect = () => ({ days: Number(days.value), reason: reason.value.trim() });
    } else if (spec.need || spec.optional) {
      const text = h("textarea", { id: "act-text", required: Boolean(spec.need) });
      form.append(h("label", { for: "act-text" }, spec.prompt || spec.optional + (spec.need ? "" : "（可不填）")), text);
      const key = spec.need === "reason" ? "reason" : "opinion";
      collect = () => {
        const v = text.value.trim();
        if (spec.need && !v) throw new Error(`请填写${spec.prompt}`);
        return v ? { [key]: v } : {};
      };
    } else {
      form.append(h("p", {}, `确认${spec.label}？`));
    }
    const submit = h("button", { type: "submit", class: spec.danger ? "danger primary" : "primary", id: "act-confirm" }, `确认${spec.label}`);
    form.append(err, h("div", { class: "row" }, submit, h("button", { type: "button", onclick: () => panel.replaceChildren() }, "取消")));
    form.addEventListener("input", () => { err.hidden = true; });  // an old complaint goes once the user acts on it
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      let body;
      try {
        body = { action, expected_version: c.version, ...collect() };
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
        return;
      }
      submit.disabled = true;
      shown.busy = true;
      try {
        const updated = await api("POST", `/staff/cases/${c.id}/actions`, body);
        renderCase(updated, item, `已${spec.label}：${updated.status_label}`);
        window.scrollTo(0, 0);
      } catch (e) {
        if (e.status === 409 && e.code === "conflict") {
          // The case changed since it was shown (someone else acted, a material check finished): show the case
          // as it is now and let the user decide again rather than act on what they no longer see.
          const latest = await api("GET", `/staff/cases/${c.id}`).catch(() => null);
          if (latest) {
            renderCase(latest, item, "办件刚刚有更新（他人办理或材料识别完成），请核对后重新办理");
            return;
          }
        }
        err.textContent = e.message;
        err.hidden = false;
        submit.disabled = false;
      } finally {
        shown.busy = false;
      }
    });
    panel.replaceChildren(form);
    const first = form.querySelector("input, textarea");
    (first || submit).focus();
  }

  // ------------------------------------------------------------------ 我的: contacts and reminder channels
  // Reminders (deadline lights, follow-ups, the leaders' briefing) always reach the in-app inbox; these contacts let
  // them reach the phone too. Shown in the clear: they are the staff member's own (GET /staff/me?reveal=true).
  const CONTACT_FIELDS = [
    ["phone", "手机号码（短信提醒）", "tel", "tel", "11位手机号码"],
    ["email", "电子邮箱（每日简报等）", "email", "email", "name@example.com"],
    ["wechat_mp_openid", "微信服务号 openid（模板消息）", "text", "off", "点“用微信绑定”，无需手工填写"],
  ];
  const CHANNELS = [["wechat_mp", "微信服务号"], ["sms", "短信"], ["email", "电子邮件"]];

  async function showMe() {
    mount(h("p", { class: "muted" }, "正在加载…"));
    let me, prefs;
    try {
      [me, prefs] = await Promise.all([api("GET", "/staff/me?reveal=true"), api("GET", "/staff/me/notifications")]);
    } catch (e) {
      mount(h("div", { class: "error", role: "alert" }, e.message));
      return;
    }
    const errs = {};
    const inputs = CONTACT_FIELDS.map(([key, label, mode, autocomplete, placeholder]) => {
      errs[key] = h("div", { id: `me-${key}-err`, class: "error", role: "alert", hidden: true });
      return [
        h("label", { for: `me-${key}` }, label),
        h("input", {
          id: `me-${key}`, name: key, type: "text", inputmode: mode, autocomplete, placeholder,
          value: me.contacts[key] || "", "aria-describedby": `me-${key}-err`,
        }),
        errs[key],
      ];
    });
    // The openid is never seen by its owner: they send a one-time code to the service account, which binds it.
    const bindOut = h("div", { id: "me-bind-out", class: "notice-ok", role: "status", hidden: true });
    const bindButton = h("button", { type: "button", id: "me-bind" }, "用微信绑定");
    bindButton.addEventListener("click", async () => {
      try {
        const r = await api("POST", "/staff/me/wechat-bind-code");
        bindOut.replaceChildren(
          h("strong", { class: "bind-code" }, r.message_text), h("br"), r.instruction,
          "。发送后点“刷新”查看绑定结果。",
          h("button", { type: "button", onclick: () => showMe() }, "刷新"));
      } catch (e) {
        bindOut.replaceChildren(e.message);
      }
      bindOut.hidden = false;
    });
    inputs[2].push(h("div", { class: "row" }, bindButton), bindOut);
    const byDefault = h("input", { type: "checkbox", id: "me-default", checked: prefs.default });
    const boxes = CHANNELS.map(([key, label]) =>
      h("input", { type: "checkbox", id: `me-ch-${key}`, value: key, checked: prefs.default || prefs.channels.includes(key) }));
    const sync = () => { for (const b of boxes) b.disabled = byDefault.checked; };
    byDefault.addEventListener("change", sync);
    const err = h("div", { class: "error", role: "alert", hidden: true });
    const form = h(
      "form",
      { class: "card", "aria-labelledby": "me-h" },
      h("h2", { id: "me-h" }, `我的联系方式 · ${me.name}`),
      h("p", { class: "muted" }, "提醒始终发送到站内消息；填写后也会按下列方式发送到您的手机。留空即删除。"),
      inputs,
      h("h3", {}, "接收提醒的方式"),
      h("label", { class: "check", for: "me-default" }, byDefault, "按各类提醒的默认方式（超期提醒：服务号、短信；简报：电子邮件）"),
      CHANNELS.map(([key, label], i) => h("label", { class: "check", for: `me-ch-${key}` }, boxes[i], label)),
      err,
      h("div", { class: "row" },
        h("button", { type: "submit", class: "primary", id: "me-save" }, "保存"),
        h("button", { type: "button", onclick: () => { location.hash = "#/tasks/todo"; } }, "返回任务")),
    );
    sync();
    const isAdmin = (session.user.roles || []).includes("admin");
    const account = h("section", { class: "card", "aria-labelledby": "acct-h" },
      h("h2", { id: "acct-h" }, "账号"),
      h("div", { class: "row" },
        h("button", { type: "button", id: "to-password", onclick: () => { location.hash = "#/password"; } }, "修改密码"),
        isAdmin ? h("button", { type: "button", id: "to-admin", onclick: () => { location.hash = "#/admin"; } }, "账号管理") : null));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      for (const e of Object.values(errs)) e.hidden = true;
      const body = Object.fromEntries(CONTACT_FIELDS.map(([key]) => [key, form.elements[key].value.trim()]));
      try {
        await api("PUT", "/staff/me", body);
        const channels = byDefault.checked ? null : boxes.filter((b) => b.checked).map((b) => b.value);
        await api("PUT", "/staff/me/notifications", { channels });
        toast("已保存");
        await showMe();
      } catch (e) {
        const fields = (e.details && e.details.fields) || {};
        let shown_ = false;
        for (const [key, message] of Object.entries(fields)) {
          if (errs[key]) { errs[key].textContent = message; errs[key].hidden = false; shown_ = true; }
        }
        if (!shown_) { err.textContent = e.message; err.hidden = false; }
        const firstBad = Object.keys(fields).find((k) => errs[k]);
        if (firstBad) document.getElementById(`me-${firstBad}`).focus();
      }
    });
    mount(form, account);
  }

  // ------------------------------------------------------------------ password
  // `forced`: the password was set by an admin (new account, reset) and the API opens nothing else until changed.
  function showPassword(forced) {
    const err = h("div", { id: "pw-err", class: "error", role: "alert", hidden: true });
    const field = (id, label, autocomplete) => [
      h("label", { for: id }, label),
      h("input", { id, name: id, type: "password", autocomplete, required: true, "aria-describedby": "pw-err pw-hint" }),
    ];
    const form = h(
      "form",
      { class: "card", "aria-labelledby": "pw-h" },
      h("h2", { id: "pw-h" }, "修改密码"),
      forced ? h("p", { class: "notice-ok" }, "您的密码由管理员设置，请先修改为只有您知道的密码。") : null,
      field("pw-old", forced ? "管理员提供的密码" : "原密码", "current-password"),
      field("pw-new", "新密码", "new-password"),
      h("p", { id: "pw-hint", class: "muted" }, "至少8位，包含大写字母、小写字母、数字、符号中的至少3类，不能包含用户名。"),
      field("pw-again", "再次输入新密码", "new-password"),
      err,
      h("div", { class: "row" },
        h("button", { type: "submit", class: "primary" }, "确认修改"),
        forced ? null : h("button", { type: "button", onclick: () => { location.hash = "#/me"; } }, "取消")),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      const [oldPw, newPw, again] = ["pw-old", "pw-new", "pw-again"].map((k) => form.elements[k].value);
      if (newPw !== again) {
        err.textContent = "两次输入的新密码不一致";
        err.hidden = false;
        form.elements["pw-again"].focus();
        return;
      }
      try {
        const r = await api("POST", "/staff/me/password", { old_password: oldPw, new_password: newPw });
        session.renew(r.access_token, { mustChange: false });
        toast("密码已修改");
        location.hash = "#/tasks/todo";
        route();
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
        form.elements[e.code === "password_incorrect" ? "pw-old" : "pw-new"].focus();
      }
    });
    mount(form);
    form.elements["pw-old"].focus();
  }

  function defectRow(kind, key, name) {
    const id = `defect-${kind}-${key}`;
    const box = h("input", { type: "checkbox", id, dataset: { key } });
    const reason = h("textarea", { id: `${id}-reason`, hidden: true, placeholder: "写明问题和补正要求" });
    const reasonLabel = h("label", { for: `${id}-reason`, class: "visually-hidden" }, `${name}的补正原因`);
    box.addEventListener("change", () => { reason.hidden = !box.checked; if (box.checked) reason.focus(); });
    const el = h("div", { class: "defect" }, h("label", { class: "check", for: id }, box, name), reasonLabel, reason);
    return { el, box, value: () => ({ [kind]: key, reason: reason.value.trim() }) };
  }

  route();
})();
