/* The resource catalogue (GET /v1/catalog) with share and open types and update cycles;
 * grant requests (GET /v1/grants): the owning department approves or rejects them
 * (POST /v1/grants/{id}/approve|reject, with the session's CSRF header), a county sees
 * its own and their state, and applies (POST /v1/grants). Every decision is the API's. */
(function () {
  "use strict";
  const { api, el } = window.cityhub;
  const config = JSON.parse(document.getElementById("catalogue-config").textContent);
  const SHARE = { unconditional: "无条件共享", conditional: "有条件共享", not_shared: "不予共享" };
  const OPEN = { unconditional: "无条件开放", conditional: "有条件开放", not_open: "不予开放" };
  const CYCLE = { real_time: "实时", hourly: "每小时", daily: "每日", weekly: "每周", monthly: "每月",
                  quarterly: "每季度", yearly: "每年" };
  const STATUS = { pending: "待审批", approved: "已批准", rejected: "已驳回", revoked: "已撤销" };
  const ROLE = { county: "区县", department: "部门", scoring: "评分", admin: "管理员" };
  let me = null;
  let catalog = null;

  function time(t) { return t ? String(t).replace("T", " ").slice(0, 16) : "—"; }
  function body(id) { return document.querySelector(`#${id} .body`); }
  function refused(id, err) {
    const words = err.status === 403 ? "无权访问" : err.status === 401 ? "需要登录" : "加载失败";
    body(id).replaceChildren(el("div", { class: "refused", "data-status": String(err.status || ""), role: "alert" },
      `${words}（${err.status || "?"}）：${err.message}`));
  }

  function categoryName(id) {
    const c = catalog && catalog.categories.find((x) => x.id === id);
    return c ? `${c.name_zh}（${id}）` : id;
  }

  function renderCatalog() {
    const depts = Object.fromEntries(catalog.departments.map((d) => [d.id, d.name_zh]));
    const rows = catalog.categories.map((c) => el("tr", { "data-category": c.id },
      el("td", {}, el("strong", {}, c.name_zh), el("span", { class: "en" }, c.name_en)),
      el("td", { "data-field": "id" }, c.id),
      el("td", { "data-field": "owner" }, c.owner_name_zh || depts[c.owner] || c.owner),
      el("td", { "data-field": "share_type", "data-value": c.share_type }, el("span", { class: "badge" }, SHARE[c.share_type] || c.share_type)),
      el("td", { "data-field": "open_type", "data-value": c.open_type }, el("span", { class: "badge" }, OPEN[c.open_type] || c.open_type)),
      el("td", { "data-field": "update_cycle", "data-value": c.update_cycle }, CYCLE[c.update_cycle] || c.update_cycle),
      el("td", { "data-field": "fed" }, c.fed ? el("span", { class: "badge ok" }, "已接入") : el("span", { class: "badge" }, "未接入")),
      el("td", {}, c.datasets.map((d) => d.id).join(", ") || "—")));
    body("catalog").replaceChildren(el("table", { class: "grid", id: "catalog-table" },
      el("thead", {}, el("tr", {}, ...["类别", "编号", "提供部门", "共享类型", "开放类型", "更新周期", "接入", "数据集"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)));
  }

  async function decide(id, action) {
    const note = action === "approve" ? "经页面批准" : "经页面驳回";
    try {
      const g = await api(`/v1/grants/${encodeURIComponent(id)}/${action}`, { method: "POST", json: { note } });
      cityhub.toast(`授权 ${id} ${STATUS[g.status] || g.status}`);
    } catch (e) {
      cityhub.toast(`操作被拒绝（${e.status}）：${e.message}`, true);
    }
    await loadGrants();
  }

  function grantRow(g, canDecide) {
    const actions = canDecide && g.status === "pending"
      ? el("div", { class: "actions" },
          el("button", { type: "button", "data-action": "approve", onclick: () => decide(g.id, "approve") }, "批准"),
          el("button", { type: "button", "data-action": "reject", onclick: () => decide(g.id, "reject") }, "驳回"))
      : "";
    return el("tr", { "data-grant": g.id, "data-status": g.status },
      el("td", {}, g.id.slice(0, 8)),
      el("td", { "data-field": "client_id", title: g.client_id }, g.client_id === me.client_id ? "本账号" : g.client_id.slice(0, 8)),
      el("td", { "data-field": "category" }, categoryName(g.category_id)),
      el("td", { title: g.purpose }, g.purpose.length > 40 ? g.purpose.slice(0, 40) + "…" : g.purpose),
      el("td", {}, g.fields.join(", ") || "—"),
      el("td", {}, g.scope === "city" ? "全市" : "本县"),
      el("td", { "data-field": "status" }, el("span", { class: `badge status-${g.status}` }, (STATUS[g.status] || g.status) + (g.live ? " · 生效中" : ""))),
      el("td", {}, time(g.requested_at)),
      el("td", {}, g.status === "approved" ? time(g.expires_at) : "—"),
      el("td", {}, g.decided_by ? `${g.decided_by} ${time(g.decided_at)}` : "—"),
      el("td", {}, actions));
  }

  function grantTable(id, grants, canDecide) {
    if (!grants.length) return el("p", { class: "muted", id: id + "-empty" }, "暂无授权申请。");
    return el("table", { class: "grid", id: id + "-table" },
      el("thead", {}, el("tr", {}, ...["编号", "申请方", "类别", "用途", "明文字段", "范围", "状态", "申请时间", "有效期至", "决定", "操作"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, grants.map((g) => grantRow(g, canDecide))));
  }

  async function loadGrants() {
    let data;
    try { data = await api("/v1/grants"); } catch (e) { refused("mine", e); refused("decide", e); return; }
    const owned = new Set(catalog.categories.filter((c) => me.role === "department" && c.owner === me.department).map((c) => c.id));
    const decides = me.role === "admin" || me.role === "department";
    const toDecide = data.grants.filter((g) => me.role === "admin" || owned.has(g.category_id));
    const mine = data.grants.filter((g) => g.client_id === me.client_id);
    document.getElementById("decide").hidden = !decides;
    document.getElementById("mine").hidden = me.role === "admin";
    if (decides) body("decide").replaceChildren(grantTable("decide", toDecide, true));
    if (me.role !== "admin") body("mine").replaceChildren(grantTable("mine", mine, false));
  }

  function fillApply() {
    const sel = document.getElementById("apply-category");
    const wanted = catalog.categories.filter((c) => c.share_type !== "not_shared" && !(me.role === "department" && c.owner === me.department));
    sel.replaceChildren(...wanted.map((c) => el("option", { value: c.id }, `${c.name_zh}（${SHARE[c.share_type]}）`)));
    document.getElementById("apply-scope").disabled = me.role !== "county";
    document.getElementById("apply-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      const json = { category: f.get("category"), purpose: f.get("purpose"), days: Number(f.get("days") || 90) };
      if (me.role === "county") json.scope = f.get("scope");
      try {
        const g = await api("/v1/grants", { method: "POST", json });
        cityhub.toast(`已提交授权申请 ${g.id.slice(0, 8)}，等待 ${categoryName(g.category_id)} 的提供部门审批`);
        ev.target.reset();
      } catch (e) {
        cityhub.toast(`申请被拒绝（${e.status}）：${e.message}`, true);
      }
      await loadGrants();
    });
  }

  async function main() {
    me = await api("/v1/session");
    const where = me.region ? (config.city.counties[me.region] || me.region) : (me.department || config.city.name);
    document.getElementById("who-note").textContent = `${me.name} · ${ROLE[me.role] || me.role} · ${where}`;
    try { catalog = await api("/v1/catalog"); } catch (e) { refused("catalog", e); return; }
    const dept = me.department && catalog.departments.find((d) => d.id === me.department);
    if (dept) document.getElementById("who-note").textContent = `${me.name} · ${ROLE[me.role]} · ${dept.name_zh}`;
    renderCatalog();
    if (me.role !== "admin") fillApply();
    await loadGrants();
  }

  window.cityhubCatalogue = { decide, loadGrants };
  main().then(() => cityhub.ready(), (e) => cityhub.failed(e));
})();
