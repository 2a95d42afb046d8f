/* 账号管理 (#/admin on the staff page, admins only): staff accounts of the admin's department and below — create
 * (a password typed or generated, shown once), change name, department and roles, disable / enable, unlock,
 * reset a password. Everything is the API's (/admin/staff…), which checks the role and the scope again. */
"use strict";

WJ.staffAdmin = (() => {
  const { h, api, toast } = WJ;
  let roles = [], departments = [];
  const label = (code) => (roles.find((r) => r.code === code) || { label: code }).label;

  function roleBoxes(prefix, checked) {
    return h("fieldset", { class: "roles" }, h("legend", {}, "角色"),
      roles.map((r) => h("label", { class: "check", for: `${prefix}-${r.code}` },
        h("input", { type: "checkbox", id: `${prefix}-${r.code}`, value: r.code, checked: checked.includes(r.code) }),
        r.label)));
  }
  const picked = (box) => [...box.querySelectorAll("input:checked")].map((i) => i.value);

  function deptSelect(id, selected) {
    return h("select", { id, name: id },
      departments.map((d) => h("option", { value: d.id, selected: d.id === selected }, d.name)));
  }

  // A password the server generated: shown here once, never again.
  function oncePassword(who, password) {
    return h("div", { class: "notice-ok", id: "once-password", role: "status" },
      `${who}的密码（仅显示这一次，请当面或以安全方式告知本人，首次登录须修改）：`,
      h("strong", { class: "secret" }, password));
  }

  function createForm(refresh, out) {
    const err = h("div", { class: "error", role: "alert", hidden: true });
    const boxes = roleBoxes("new-role", []);
    const form = h("form", { class: "card", "aria-labelledby": "new-h", hidden: true },
      h("h3", { id: "new-h" }, "新建账号"),
      h("label", { for: "new-username" }, "用户名"),
      h("input", { id: "new-username", type: "text", autocomplete: "off", required: true, placeholder: "字母开头，3至32位" }),
      h("label", { for: "new-name" }, "姓名"),
      h("input", { id: "new-name", type: "text", autocomplete: "off", required: true }),
      h("label", { for: "new-dept" }, "所属部门"),
      deptSelect("new-dept", departments[0] && departments[0].id),
      boxes,
      h("label", { for: "new-password" }, "初始密码（留空由系统生成）"),
      h("input", { id: "new-password", type: "password", autocomplete: "new-password" }),
      err,
      h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "创建"),
        h("button", { type: "button", onclick: () => { form.hidden = true; } }, "取消")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.hidden = true;
      const password = form.querySelector("#new-password").value;
      try {
        const made = await api("POST", "/admin/staff", {
          username: form.querySelector("#new-username").value.trim(),
          name: form.querySelector("#new-name").value.trim(),
          department_id: Number(form.querySelector("#new-dept").value),
          roles: picked(boxes),
          password: password || null,
        });
        form.reset();
        form.hidden = true;
        toast(`已创建账号 ${made.username}`);
        out.replaceChildren(made.initial_password ? oncePassword(made.name, made.initial_password) : "");
        await refresh();
      } catch (e) {
        const fields = (e.details && e.details.fields) || {};
        err.textContent = Object.keys(fields).length ? Object.values(fields).join("；") : e.message;
        err.hidden = false;
      }
    });
    return form;
  }

  function accountItem(s, refresh, out) {
    const err = h("div", { class: "error", role: "alert", hidden: true });
    const panel = h("div", { class: "panel" });
    const act = async (method, path, body, done) => {
      err.hidden = true;
      try {
        const r = await api(method, path, body);
        if (done) done(r);
        await refresh();
      } catch (e) {
        err.textContent = e.message;
        err.hidden = false;
      }
    };
    const confirmThen = (text, danger, run) => {
      panel.replaceChildren(h("p", {}, text), h("div", { class: "row" },
        h("button", { type: "button", class: danger ? "danger primary" : "primary", onclick: run }, "确认"),
        h("button", { type: "button", onclick: () => panel.replaceChildren() }, "取消")));
    };
    const edit = () => {
      const boxes = roleBoxes(`edit-${s.id}`, s.roles);
      const name = h("input", { id: `edit-name-${s.id}`, type: "text", value: s.name });
      panel.replaceChildren(
        h("label", { for: `edit-name-${s.id}` }, "姓名"), name,
        h("label", { for: `edit-dept-${s.id}` }, "所属部门"), deptSelect(`edit-dept-${s.id}`, s.department_id),
        boxes,
        h("p", { class: "muted" }, "调整角色或部门后，该账号需重新登录。"),
        h("div", { class: "row" },
          h("button", { type: "button", class: "primary", onclick: () => act("PATCH", `/admin/staff/${s.id}`, {
            name: name.value.trim(),
            department_id: Number(panel.querySelector(`#edit-dept-${s.id}`).value),
            roles: picked(boxes),
          }, () => toast("已保存")) }, "保存"),
          h("button", { type: "button", onclick: () => panel.replaceChildren() }, "取消")));
    };
    const who = `${s.name}（${s.username}）`;
    const self = WJ.session.user && WJ.session.user.id === s.id;  // the API refuses these on oneself anyway
    const badges = [
      !s.active && h("span", { class: "state state-off" }, "已停用"),
      s.locked && h("span", { class: "state state-locked" }, "已锁定"),
      s.must_change_password && h("span", { class: "state" }, "待修改密码"),
    ];
    return h("li", { class: "account", dataset: { username: s.username } },
      h("div", { class: "title" }, who, " ", badges),
      h("div", { class: "meta" }, `${s.department || ""} · ${s.roles.map(label).join("、")}`),
      h("div", { class: "row" },
        h("button", { type: "button", onclick: edit }, "编辑"),
        self ? null : s.active
          ? h("button", { type: "button", class: "danger", onclick: () => confirmThen(`停用${who}？停用后不能登录，已登录的设备立即退出。`, true,
            () => act("POST", `/admin/staff/${s.id}/disable`, undefined, () => toast("已停用"))) }, "停用")
          : h("button", { type: "button", onclick: () => act("POST", `/admin/staff/${s.id}/enable`, undefined, () => toast("已启用")) }, "启用"),
        s.locked ? h("button", { type: "button", onclick: () => act("POST", `/admin/staff/${s.id}/unlock`, undefined, () => toast("已解锁")) }, "解锁") : null,
        self ? null : h("button", { type: "button", onclick: () => confirmThen(`重置${who}的密码？将生成临时密码，本人登录后须修改。`, false,
          () => act("POST", `/admin/staff/${s.id}/reset-password`, {}, (r) => out.replaceChildren(oncePassword(who, r.temporary_password)))) }, "重置密码")),
      panel, err);
  }

  async function show(app, mount) {
    mount(h("p", { class: "muted" }, "正在加载…"));
    try {
      [roles, departments] = (await Promise.all([api("GET", "/admin/roles"), api("GET", "/admin/departments")])).map((r) => r.items);
    } catch (e) {
      mount(h("div", { class: "error", role: "alert" }, e.message));
      return;
    }
    const out = h("div", { id: "admin-out" });
    const list = h("ul", { class: "accounts", id: "accounts", "aria-label": "工作人员账号" });
    const q = h("input", { id: "admin-q", type: "search", placeholder: "用户名或姓名" });
    const lockedOnly = h("input", { type: "checkbox", id: "admin-locked" });
    async function refresh() {
      const params = new URLSearchParams({ limit: "200" });
      if (q.value.trim()) params.set("q", q.value.trim());
      if (lockedOnly.checked) params.set("locked", "true");
      const items = (await api("GET", `/admin/staff?${params}`)).items;
      list.replaceChildren(...items.map((s) => accountItem(s, refresh, out)));
      if (!items.length) list.append(h("li", { class: "muted" }, "没有符合条件的账号"));
    }
    const form = createForm(refresh, out);
    const search = h("form", { class: "row", role: "search" },
      h("label", { for: "admin-q", class: "visually-hidden" }, "搜索账号"), h("span", { class: "grow" }, q),
      h("button", { type: "submit" }, "搜索"),
      h("label", { class: "check", for: "admin-locked" }, lockedOnly, "仅看已锁定"));
    search.addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
    lockedOnly.addEventListener("change", refresh);
    mount(h("section", { class: "card", "aria-labelledby": "admin-h" },
      h("h2", { id: "admin-h" }, "账号管理"),
      h("div", { class: "row" },
        h("button", { type: "button", class: "primary", id: "admin-new", onclick: () => { form.hidden = false; form.querySelector("#new-username").focus(); } }, "新建账号"),
        h("button", { type: "button", onclick: () => { location.hash = "#/me"; } }, "返回")),
      out, form, search, list));
    await refresh();
  }

  return { show };
})();
