/* The engineers' console: connectors (GET /v1/connectors), the quarantine browser
 * (GET /v1/quarantine, /v1/quarantine/{id}, POST /v1/quarantine/release) and datasets
 * (GET /v1/datasets), all read as the signed-in person through cityhub.api: what the API
 * refuses, a section shows as refused, with the API's reason. */
(function () {
  "use strict";
  const { api, el, fmt } = window.cityhub;
  const SOURCE = { file_drop: "文件投递", http: "HTTP 接口", sql: "数据库", kafka: "Kafka 消息" };

  function time(t) { return t ? String(t).replace("T", " ").slice(0, 19) : "—"; }
  function body(id) { return document.querySelector(`#${id} .body`); }

  function refused(id, err) {
    const words = err.status === 403 ? "无权访问" : err.status === 401 ? "需要登录" : "加载失败";
    body(id).replaceChildren(el("div", { class: "refused", "data-status": String(err.status || ""), role: "alert" },
      `${words}（${err.status || "?"}）：${err.message}`));
  }

  function driftText(d) {
    if (!d) return "";
    const parts = [...Object.keys(d.new_fields || {}).map((k) => "+" + k),
                   ...Object.keys(d.missing_fields || {}).map((k) => "−" + k),
                   ...Object.keys(d.type_changes || {}).map((k) => "~" + k.split(":")[0])];
    return parts.join(" ");
  }

  function freshBadge(c) {
    if (c.fresh === null || c.fresh === undefined) return el("span", { class: "badge", "data-fresh": "none" }, "无数据");
    const label = c.fresh ? "新鲜" : "过期";
    return el("span", { class: "badge " + (c.fresh ? "ok" : "bad"), "data-fresh": String(c.fresh) },
      `${label} ${fmt(c.age_hours, 1)}h / 目标 ${fmt(c.freshness_hours, 1)}h`);
  }

  function num(field, v) { return el("td", { class: "num", "data-field": field, "data-value": v === null ? "" : String(v) }, fmt(v, 0)); }

  async function loadConnectors() {
    let data;
    try { data = await api("/v1/connectors"); } catch (e) { refused("connectors", e); return; }
    const rows = data.connectors.map((c) => el("tr", { "data-connector": c.connector },
      el("td", {}, el("strong", {}, c.connector)),
      el("td", { "data-field": "dataset" }, c.dataset || "—"),
      el("td", {}, SOURCE[c.source] || c.source || "—"),
      el("td", { "data-field": "last_run" }, time(c.last_run)),
      el("td", { "data-field": "result" }, el("span", { class: "badge " + (c.result.startsWith("ok") ? "ok" : c.result.startsWith("never") ? "" : "bad"), title: c.result }, c.result.length > 48 ? c.result.slice(0, 48) + "…" : c.result)),
      num("landed", c.landed), num("quarantined", c.quarantined), num("lag", c.lag),
      el("td", { "data-field": "last_data" }, time(c.last_data)),
      el("td", { "data-field": "fresh" }, freshBadge(c)),
      el("td", { "data-field": "drift", class: "reason" }, driftText(c.drift)),
      el("td", { class: "num", "data-field": "failures", "data-value": String(c.failures),
                 title: c.last_failure ? `${time(c.last_failure.at)} ${c.last_failure.error || ""}` : "" },
         c.failures ? el("span", { class: "badge bad" }, String(c.failures)) : "0")));
    body("connectors").replaceChildren(el("table", { class: "grid", id: "connectors-table" },
      el("thead", {}, el("tr", {}, ...["连接器", "数据集", "来源", "最近运行", "结果", "入湖行数", "隔离条数", "积压",
        "最新数据", "新鲜度 (实际/目标)", "结构漂移", "近期失败"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)));
  }

  /* -- the quarantine ---------------------------------------------------------------- */
  let after = null;
  const chosen = new Set();

  function filters() {
    const p = new URLSearchParams({ limit: "50" });
    const c = document.getElementById("q-connector").value;
    const r = document.getElementById("q-reason").value.trim();
    if (c) p.set("connector", c);
    if (r) p.set("reason", r);
    if (after) p.set("after", after);
    return p;
  }

  function itemRow(it) {
    const box = el("input", { type: "checkbox", "aria-label": "选择 " + it.id, onchange: (ev) => {
      if (ev.target.checked) chosen.add(it.id); else chosen.delete(it.id);
      document.getElementById("q-release-selected").disabled = chosen.size === 0;
    } });
    box.dataset.item = it.id;
    return el("tr", { "data-item": it.id, onclick: (ev) => { if (ev.target !== box) showItem(it.id); } },
      el("td", {}, box),
      el("td", {}, el("a", { href: "#item-" + it.id }, it.id)),
      el("td", {}, time(it.quarantined_at)),
      el("td", { "data-field": "connector" }, it.connector),
      el("td", { "data-field": "dataset" }, it.dataset),
      el("td", { "data-field": "reason", class: "reason", title: it.reason }, it.reason.length > 60 ? it.reason.slice(0, 60) + "…" : it.reason));
  }

  async function loadQuarantine(more) {
    if (!more) { after = null; chosen.clear(); document.getElementById("q-release-selected").disabled = true; }
    let data;
    try { data = await api("/v1/quarantine?" + filters()); } catch (e) { refused("quarantine", e); return; }
    const table = document.getElementById("quarantine-table");
    const rows = data.items.map(itemRow);
    if (more && table) {
      table.tBodies[0].append(...rows);
    } else if (!rows.length) {
      body("quarantine").replaceChildren(el("p", { class: "muted", id: "quarantine-empty" }, "没有符合条件的隔离条目。"));
    } else {
      body("quarantine").replaceChildren(el("table", { class: "grid", id: "quarantine-table" },
        el("thead", {}, el("tr", {}, ...["", "编号", "隔离时间", "连接器", "数据集", "原因"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows)));
    }
    after = data.next_after;
    document.getElementById("q-more").hidden = !after;
  }

  function showResult(out) {
    const refusedIds = Object.entries(out.refused || {});
    const text = `已入湖 ${out.landed.length} 条` + (out.already_landed.length ? `，已存在 ${out.already_landed.length} 条` : "")
      + (refusedIds.length ? `，再次隔离 ${refusedIds.length} 条：` + refusedIds.map(([k, v]) => `${k}（${v.join("；")}）`).join("，") : "");
    cityhub.toast(text, refusedIds.length > 0);
    return text;
  }

  async function release(ids, raw) {
    const payload = { ids };
    if (raw !== undefined) payload.raw = raw;
    try {
      const out = await api("/v1/quarantine/release", { method: "POST", json: payload });
      const text = showResult(out);
      const note = document.getElementById("release-result");
      if (note) { note.textContent = text; note.hidden = false; }
      await Promise.all([loadQuarantine(false), loadConnectors(), loadDatasets()]);
      return out;
    } catch (e) {
      cityhub.toast(`放行被拒绝（${e.status}）：${e.message}`, true);
      const note = document.getElementById("release-result");
      if (note) { note.textContent = `放行被拒绝（${e.status}）：${e.message}`; note.hidden = false; }
      return null;
    }
  }

  async function showItem(id) {
    document.querySelectorAll("#quarantine tr.selected").forEach((r) => r.classList.remove("selected"));
    const row = document.querySelector(`#quarantine tr[data-item="${id}"]`);
    if (row) row.classList.add("selected");
    let it;
    try { it = await api("/v1/quarantine/" + encodeURIComponent(id)); } catch (e) { refused("item", e); return; }
    const edit = el("textarea", { class: "raw", id: "item-fixed", "aria-label": "修正后的原文" });
    edit.value = it.masked ? "" : (it.raw || "");
    edit.disabled = it.masked;
    body("item").replaceChildren(
      el("dl", { class: "facts", id: "item-facts", "data-item": it.id },
        el("dt", {}, "编号"), el("dd", {}, it.id),
        el("dt", {}, "连接器"), el("dd", {}, it.connector),
        el("dt", {}, "数据集"), el("dd", {}, it.dataset),
        el("dt", {}, "来源"), el("dd", {}, it.source),
        el("dt", {}, "记录键"), el("dd", {}, it.record_key || "—"),
        el("dt", {}, "区域"), el("dd", {}, it.region || "—"),
        el("dt", {}, "隔离时间"), el("dd", {}, time(it.quarantined_at)),
        el("dt", {}, "原因"), el("dd", { class: "reason", id: "item-reason" }, it.reason)),
      el("h3", {}, "原始内容" + (it.masked ? "（个人信息已遮蔽）" : "")),
      el("pre", { class: "raw", id: "item-raw" }, it.raw || "（无）"),
      it.masked ? el("p", { class: "muted" }, "个人信息已遮蔽：只有数据所属部门可以编辑原文后放行；可按原样放行。")
                : el("p", { class: "muted" }, "修正原文后放行，或按原样放行（重新解析、校验后入湖，不合格者以新原因再次隔离）。"),
      edit,
      el("div", { class: "toolbar" },
        el("button", { type: "button", id: "item-release", onclick: () => release([it.id]) }, "按原样放行"),
        el("button", { type: "button", id: "item-release-fixed", disabled: it.masked,
                       onclick: () => release([it.id], edit.value) }, "修正后放行")),
      el("p", { id: "release-result", role: "status", hidden: true }));
  }

  /* -- datasets ---------------------------------------------------------------------- */
  async function loadDatasets() {
    let data;
    try { data = await api("/v1/datasets"); } catch (e) { refused("datasets", e); return; }
    const rows = data.datasets.map((d) => el("tr", { "data-dataset": d.dataset },
      el("td", {}, el("strong", {}, d.dataset)),
      el("td", {}, d.title),
      el("td", {}, `${d.category_name_zh}（${d.category}）`),
      num("rows", d.rows),
      el("td", { "data-field": "scope" }, d.scope === "all" ? "全部" : d.scope),
      num("snapshots", d.snapshots),
      el("td", { "data-field": "snapshot_id", class: "num" }, d.snapshot_id || "—"),
      el("td", { "data-field": "snapshot_at" }, time(d.snapshot_at))));
    body("datasets").replaceChildren(rows.length
      ? el("table", { class: "grid", id: "datasets-table" },
        el("thead", {}, el("tr", {}, ...["数据集", "名称", "目录类别", "行数", "范围", "快照数", "最新快照", "快照时间"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows))
      : el("p", { class: "muted" }, "没有可查看的数据集。"));
  }

  async function loadAll() {
    await Promise.all([loadConnectors(), loadQuarantine(false), loadDatasets()]);
  }

  document.getElementById("quarantine-filter").addEventListener("submit", (ev) => { ev.preventDefault(); loadQuarantine(false); });
  document.getElementById("q-more").addEventListener("click", () => loadQuarantine(true));
  document.getElementById("q-release-selected").addEventListener("click", () => release([...chosen]));
  document.getElementById("reload").addEventListener("click", () => loadAll());
  window.cityhubConsole = { release, showItem, loadQuarantine };
  loadAll().then(() => cityhub.ready(), (e) => cityhub.failed(e));
})();
