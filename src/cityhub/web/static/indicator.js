/* 指标详情: an indicator's definition (declared: Chinese and English, version, numerator,
 * denominator), its value for a region and period with the scope it counted and the
 * snapshots it read (GET /v1/indicators), and the evidence rows behind each side
 * (GET /v1/indicators/{code}/evidence, paged by its cursor), downloadable as CSV, or as
 * CSV with a UTF-8 byte-order mark for Excel: the same pages, every row, built here.
 */
(function () {
  "use strict";
  const { api, el, pct, fmt } = window.cityhub;
  const cfg = JSON.parse(document.getElementById("indicator-config").textContent);
  const root = document.getElementById("indicator");
  const params = new URLSearchParams(location.search);
  const city = cfg.city;
  const names = Object.assign({ [city.code]: city.name }, city.counties);
  const PAGE = 50;
  const raw = (v) => (v === null || v === undefined ? "" : String(v));

  function facts(pairs) {
    const dl = el("dl", { class: "facts" });
    for (const [k, v, attrs] of pairs) dl.append(el("dt", { text: k }), el("dd", attrs || {}, v));
    return dl;
  }

  function definitionPanel(def, value) {
    const parts = def.parts.length ? el("div", {}, el("h3", { text: "组成部分 / 并列口径" }),
      el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ...["编号", "名称", "权重", "类型"].map((h) => el("th", { text: h })))),
        el("tbody", {}, ...def.parts.map((p) => el("tr", { "data-part": p.code },
          el("td", { text: p.code }), el("td", {}, p.name_zh || "", el("div", { class: "en", text: p.name_en })),
          el("td", { class: "num", text: p.kind === "component" ? fmt(p.weight) : "—" }),
          el("td", { text: p.kind === "component" ? "加权组成" : "并列口径" })))))) : null;
    return el("section", { class: "panel", id: "definition", "data-version": def.version },
      el("h2", {}, `#${def.code} ${def.name_zh}`, el("span", { class: "en", text: def.name_en })),
      facts([
        ["定义版本", `第 ${def.version} 版` + (value && value.definition_version !== def.version
          ? `（该值按第 ${value.definition_version} 版计算）` : ""), { id: "def-version" }],
        ["定义（英文）", def.definition || "—", { lang: "en" }],
        ["计算方式", def.parts.some((p) => p.kind === "component") ? "加权组成（见下表）" : `分子 ÷ 分母，按 ${def.measure} 计数`],
        ["输入数据集", def.inputs.join("、")],
        ["适用地区", def.regions === "city" ? "仅全市" : "全市及各区县"],
      ]),
      def.numerator ? el("details", {}, el("summary", { text: "分子 numerator（SQL）" }), el("pre", { class: "sql", text: def.numerator })) : null,
      def.denominator ? el("details", {}, el("summary", { text: "分母 denominator（SQL）" }), el("pre", { class: "sql", text: def.denominator })) : null,
      parts);
  }

  function valuePanel(value, region, period) {
    if (!value) {
      return el("section", { class: "panel", id: "value", "data-value": "" },
        el("h2", { text: `${names[region] || region} · ${period || "—"}` }), el("div", { class: "muted", text: "该地区和期间还没有计算值" }));
    }
    const snaps = Object.entries(value.inputs || {});
    const alts = (value.alternates || []).concat(value.components || []);
    return el("section", { class: "panel", id: "value", "data-value": raw(value.value), "data-region": value.region,
      "data-period": value.period },
      el("h2", { text: `${names[value.region] || value.region} · ${value.period}` }),
      el("div", { class: "big", style: "font-size:40px;font-weight:700", text: pct(value.value) }),
      facts([
        ["分子", fmt(value.numerator), { id: "numerator", "data-value": raw(value.numerator) }],
        ["分母", fmt(value.denominator), { id: "denominator", "data-value": raw(value.denominator) }],
        ["统计口径", value.scope || "—", { id: "scope" }],
        ["说明", value.reason || "—"],
        ["无乡镇代码行数", fmt(value.rows_without_township)],
        ["期间", `${value.period_start} 至 ${value.period_end}`],
        ["定义哈希", value.definition_hash || "—"],
        ["计算时间", String(value.computed_at).replace("T", " ")],
      ]),
      el("h3", { text: "读取的快照 snapshots" }),
      el("table", { class: "grid", id: "snapshots" }, el("tbody", {}, ...snaps.map(([ds, id]) =>
        el("tr", { "data-dataset": ds, "data-snapshot": raw(id) }, el("td", { text: ds }), el("td", { class: "num", text: id === null ? "（无数据）" : String(id) }))))),
      alts.length ? el("div", {}, el("h3", { text: "组成与并列口径的值" }),
        el("table", { class: "grid", id: "parts" }, el("tbody", {}, ...alts.map((a) =>
          el("tr", { "data-part": a.code, "data-value": raw(a.value) }, el("td", { text: a.code }),
            el("td", {}, a.name_zh || a.name || "", a.scope ? el("div", { class: "en", text: a.scope }) : null),
            el("td", { class: "num", text: `${fmt(a.numerator)} / ${fmt(a.denominator)}` }),
            el("td", { class: "num", text: pct(a.value) })))))) : null);
  }

  function evidencePath(code, q, cursor, limit) {
    const u = new URLSearchParams({ region: q.region, period: q.period, side: q.side, limit: String(limit) });
    if (q.component) u.set("component", q.component);
    if (cursor) u.set("cursor", cursor);
    return `/v1/indicators/${encodeURIComponent(code)}/evidence?` + u.toString();
  }

  function csvCell(v) {
    const s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  async function download(code, q, bom) {
    const rows = [];
    let cursor = null;
    do {
      const page = await api(evidencePath(code, q, cursor, 10000));
      rows.push(...page.rows);
      cursor = page.next_cursor;
    } while (cursor);
    const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const text = [cols.map(csvCell).join(","), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(","))].join("\r\n") + "\r\n";
    const blob = new Blob([bom ? "\ufeff" : "", text], { type: "text/csv;charset=utf-8" });
    const a = el("a", { href: URL.createObjectURL(blob),
      download: `evidence-${code}-${q.component || code}-${q.region}-${q.period}-${q.side}${bom ? "-excel" : ""}.csv` });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    return rows.length;
  }

  function evidencePanel(def, value, region, period) {
    const q = { region, period, side: params.get("side") || "numerator", component: params.get("component") || "" };
    const box = el("section", { class: "panel", id: "evidence" });
    const info = el("div", { class: "muted", id: "evidence-info" });
    const table = el("table", { class: "grid", id: "evidence-table" });
    const more = el("button", { type: "button", id: "evidence-more", text: "下一页", hidden: true });
    let cursor = null, shown = 0;

    async function page(reset) {
      if (reset) { cursor = null; shown = 0; table.replaceChildren(); }
      const p = await api(evidencePath(def.code, q, cursor, PAGE));
      box.dataset.rowsTotal = p.rows_total;
      box.dataset.measured = raw(p.measured);
      box.dataset.stored = raw(p.stored);
      info.textContent = `${p.side === "numerator" ? "分子" : "分母"}（${p.component}）：共 ${p.rows_total} 行，` +
        `计数方式 ${p.measure}，当前计得 ${fmt(p.measured)}，存储值 ${fmt(p.stored)}` + (p.scope ? `；口径：${p.scope}` : "");
      const cols = p.rows.length ? Object.keys(p.rows[0]) : [];
      if (!table.tHead && cols.length) table.append(el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", { text: c })))));
      const body = table.tBodies[0] || table.appendChild(el("tbody"));
      for (const r of p.rows) {
        body.append(el("tr", { "data-row": JSON.stringify(r) }, ...cols.map((c) => el("td", { text: r[c] === null ? "" : String(r[c]) }))));
      }
      shown += p.rows.length;
      cursor = p.next_cursor;
      more.hidden = !cursor;
      box.dataset.shown = shown;
    }

    const sides = el("select", { id: "evidence-side", "aria-label": "分子或分母",
      onchange: (e) => { q.side = e.target.value; page(true).catch(showError); } },
      el("option", { value: "numerator", selected: q.side === "numerator", text: "分子" }),
      el("option", { value: "denominator", selected: q.side === "denominator", text: "分母" }));
    const partCodes = [""].concat(def.parts.map((p) => p.code)).concat(
      ((value && value.alternates) || []).map((a) => a.code).filter((c) => !def.parts.some((p) => p.code === c)));
    const comps = el("select", { id: "evidence-component", "aria-label": "组成部分",
      onchange: (e) => { q.component = e.target.value; page(true).catch(showError); } },
      ...[...new Set(partCodes)].map((c) => el("option", { value: c, selected: c === q.component, text: c || "#" + def.code })));
    const csv = el("button", { type: "button", id: "download-csv", text: "下载 CSV",
      onclick: () => download(def.code, q, false).catch(showError) });
    const excel = el("button", { type: "button", id: "download-excel", text: "下载 Excel 用 CSV（UTF-8 BOM）",
      onclick: () => download(def.code, q, true).catch(showError) });
    more.onclick = () => page(false).catch(showError);
    function showError(err) { info.textContent = "无法读取证据：" + err.message; box.dataset.error = err.status || "error"; }

    box.append(el("h2", {}, "证据明细", el("span", { class: "en", text: "the rows behind the value" })),
      el("div", { class: "toolbar" }, sides, comps, csv, excel), info,
      el("div", { class: "evidence-wrap" }, table), more);
    return { box, first: () => page(true).catch(showError) };
  }

  async function main() {
    if (!cfg.known) {
      root.replaceChildren(el("div", { class: "notice", text: `没有编号为 ${cfg.code} 的指标` }));
      window.cityhub.ready({ known: false });
      return;
    }
    const me = await window.cityhub.session();
    const region = params.get("region") || (me && me.role === "county" ? me.region : city.code);
    let values;
    try {
      values = (await api(`/v1/indicators?code=${encodeURIComponent(cfg.code)}&region=${encodeURIComponent(region)}`)).indicators;
    } catch (err) {
      if (err.status === 403 || err.status === 400) {
        root.replaceChildren(el("div", { class: "notice", id: "refused", "data-status": err.status },
          (err.status === 403 ? "无权查看该地区的数据：" : "请求有误：") + err.message));
        document.body.dataset.refused = String(err.status);
        window.cityhub.ready({ refused: err.status });
        return;
      }
      throw err;
    }
    const periods = values.map((v) => v.period).sort();
    const period = params.get("period") || periods.filter((p) => /^\d{4}$/.test(p)).pop() || periods.pop() || null;
    const value = values.find((v) => v.period === period) || null;
    const choose = el("select", { id: "period-select", "aria-label": "期间",
      onchange: (e) => { params.set("period", e.target.value); params.set("region", region); location.search = params.toString(); } },
      ...values.map((v) => el("option", { value: v.period, selected: v.period === period, text: v.period })));
    const ev = value ? evidencePanel(cfg.definition, value, region, period) : null;
    root.replaceChildren(
      el("div", { class: "toolbar" }, el("h1", { text: `指标 #${cfg.code}` }), el("a", { href: "/?region=" + region, text: "← 返回驾驶舱" }),
        el("span", { class: "muted", text: "地区 " + (names[region] || region) }), el("span", { class: "muted", text: "期间" }), choose),
      el("div", { class: "detail" },
        el("div", {}, definitionPanel(cfg.definition, value), valuePanel(value, region, period)),
        ev ? ev.box : el("div", { class: "panel muted", text: "无值，无证据" })));
    if (ev) await ev.first();
    window.cityhub.ready({ code: cfg.code, region, period });
  }

  main().catch((err) => window.cityhub.failed(err));
})();
