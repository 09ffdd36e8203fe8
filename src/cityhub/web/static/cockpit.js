/* 驾驶舱: the city and each county side by side, read from the same API the county apps
 * use, as the signed-in caller: /v1/indicators (every region and period the caller may
 * see, one request), /v1/star-readiness per region, /v1/connectors (feed health, when
 * the caller may read it). Every value shown carries its raw figure in data-* attributes
 * (data-value, data-region, data-period), equal to the API's.
 */
(function () {
  "use strict";
  const { api, el, pct, fmt } = window.cityhub;
  const cfg = JSON.parse(document.getElementById("cockpit-config").textContent);
  const city = cfg.city;
  const names = Object.assign({ [city.code]: city.name }, city.counties);
  const indicatorInfo = Object.fromEntries(cfg.indicators.map((i) => [i.code, i]));
  const SHARING = ["27", "28", "30"];
  const root = document.getElementById("cockpit");
  const params = new URLSearchParams(location.search);
  const charts = [];

  const isYear = (p) => /^\d{4}$/.test(p);
  const isMonth = (p) => /^\d{4}-\d{2}$/.test(p);
  const starText = (n) => (n > 0 ? "★".repeat(n) : "☆");
  const raw = (v) => (v === null || v === undefined ? "" : String(v));

  function chart(node, option) {
    const c = window.echarts.init(node, null, { renderer: "canvas" });
    c.setOption(Object.assign({ animation: false, backgroundColor: "transparent",
      textStyle: { color: "#c9d6ea", fontFamily: "inherit" } }, option));
    charts.push(c);
    node.dataset.rendered = "1";
    return c;
  }

  function alt(row, suffix) {
    return (row.alternates || []).find((a) => a.code === row.code + "." + suffix) || null;
  }

  function wholeOf(row) {
    return alt(row, "whole");
  }

  async function load() {
    // everything that does not depend on who is signed in starts at once, beside ECharts' parsing
    const session = window.cityhub.session().catch(() => null);
    const feeds = api("/v1/connectors", { noRedirect: true }).catch((e) => ({ error: e }));
    const readiness = api("/v1/star-readiness/regions");
    readiness.catch(() => {});
    const me = await session;
    const county = me && me.role === "county" ? me.region : null;
    const asked = params.get("region");
    // a county reads its own county; asking for another is the API's 403, shown as such
    let focus = asked || county || (me ? city.code : null);
    if (!focus) focus = (await readiness).regions[0].region;  // no session API: whoever the caller is
    const [values, ready, feedStatus] = await Promise.all([
      api("/v1/indicators?region=" + encodeURIComponent(focus)), readiness, feeds]);
    const regions = ready.regions.map((r) => r.region);
    return { me, county: county || (regions.length === 1 ? regions[0] : null), focus, values: values.indicators,
             readiness: ready.regions, feeds: feedStatus, regions };
  }

  function echartsLoaded() {
    if (window.echarts) return Promise.resolve(window.echarts);
    const tag = document.getElementById("echarts-script");
    return new Promise((resolve, reject) => {
      tag.addEventListener("load", () => resolve(window.echarts));
      tag.addEventListener("error", () => reject(new Error("图表库未安装：请运行 make install（ECharts 由 npm 安装到 cityhub/web/vendor）")));
    });
  }

  function byRegion(values) {
    const out = {};
    for (const v of values) {
      ((out[v.region] = out[v.region] || {})[v.code] = out[v.region][v.code] || {})[v.period] = v;
    }
    return out;
  }

  function latestYear(values) {
    return values.map((v) => v.period).filter(isYear).sort().pop() || null;
  }

  function months(values) {
    return [...new Set(values.map((v) => v.period).filter(isMonth))].sort();
  }

  function header(d, year) {
    const sel = el("select", { id: "region-select", "aria-label": "地区",
      onchange: (e) => { location.search = "?region=" + e.target.value; } },
      ...(d.county ? [d.county] : [city.code, ...Object.keys(city.counties)]).map((r) =>
        el("option", { value: r, selected: r === d.focus, text: names[r] + (r === city.code ? "（全市）" : "") })));
    return el("div", { class: "toolbar" },
      el("h1", { text: city.name + " 新型智慧城市驾驶舱" }),
      el("span", { class: "muted" }, "DB37/T 3890.1 指标 · 年度累计 ", el("b", { id: "period", "data-period": year || "", text: year || "—" })),
      el("span", { class: "muted", text: "地区" }), sel,
      el("span", { class: "muted", id: "computed-at" }));
  }

  function cityCard(d, ready) {
    const r = ready[d.regions[0]];
    if (!r) return el("div");
    return el("section", { class: "panel city-card", id: "city-card", "data-region": r.region, "data-stars": r.stars_met_by_all },
      el("h2", {}, r.region_name, el("span", { class: "en", text: "star readiness 星级达标" })),
      el("div", { class: "big stars", text: starText(r.stars_met_by_all) }),
      el("div", { class: "muted" }, `全部指标达到 ${r.stars_met_by_all} 星标准`,
        r.thresholds_source ? ` · 阈值来源：${r.thresholds_source}` : ""));
  }

  function countyGrid(d, ready, data, year) {
    const counties = Object.keys(city.counties).filter((c) => ready[c]);
    if (!counties.length) return null;
    const L = cfg.layout;
    const grid = el("div", { class: "county-grid", id: "county-grid", "data-geographic": L.geographic ? "1" : "0",
      style: `grid-template-columns: repeat(${L.cols}, 1fr); grid-template-rows: repeat(${L.rows}, auto)` });
    for (const c of counties) {
      const r = ready[c];
      const [row, col] = L.cells[c] || [1, 1];
      const met = r.indicators.filter((i) => i.value !== null).length;
      const cell = el("a", { class: "county" + (c === d.focus ? " selected" : ""), href: "/?region=" + c,
        "data-region": c, "data-stars": r.stars_met_by_all, style: `grid-row: ${row}; grid-column: ${col}` },
        el("div", { class: "name", text: names[c] }),
        el("div", { class: "stars", text: starText(r.stars_met_by_all) }),
        el("div", { class: "mini", text: `${met}/${r.indicators.length} 项有值` }));
      grid.append(cell);
    }
    return el("section", { class: "panel" },
      el("h2", {}, "各区县星级", el("span", { class: "en", text: L.geographic ? "按地理方位排列" : "" })), grid);
  }

  function feedPanel(feeds) {
    const box = el("section", { class: "panel", id: "feeds" }, el("h2", {}, "数据接入健康", el("span", { class: "en", text: "feeds" })));
    if (feeds.error) {
      box.dataset.state = "unavailable";
      box.append(el("div", { class: "muted", text: feeds.error.status === 403
        ? "接入状态仅对管理员和数据归属部门开放" : "接入状态暂不可用（" + (feeds.error.status || "") + "）" }));
      return box;
    }
    const list = feeds.connectors || [];
    const bad = list.filter((f) => f.fresh === false || (f.result || "").startsWith("failed"));
    box.dataset.state = bad.length ? "unhealthy" : "healthy";
    box.append(el("div", { class: "muted", text: `${list.length} 个接入，${bad.length} 个异常` }));
    const wrap = el("div", { class: "feeds" });
    for (const f of list) {
      const cls = (f.result || "").startsWith("failed") ? "bad" : f.fresh === false ? "warn" : f.fresh ? "ok" : "";
      wrap.append(el("span", { class: "badge feed " + cls, "data-connector": f.connector, title: f.result,
        text: f.connector }));
    }
    box.append(wrap);
    return box;
  }

  function indicatorTable(d, data, readyRegion, year, monthList) {
    const region = d.focus;
    const byCode = data[region] || {};
    const lastMonth = monthList[monthList.length - 1];
    const tbody = el("tbody");
    for (const ri of readyRegion.indicators) {
      const row = (byCode[ri.code] || {})[year] || null;
      const whole = row && wholeOf(row);
      const eff = row && alt(row, "effective");
      const month = lastMonth && (byCode[ri.code] || {})[lastMonth];
      const t4 = ri.thresholds[4] ?? ri.thresholds["4"];
      const bar = el("div", { class: "bar", title: "4 星阈值 " + pct(t4) },
        el("span", { style: `width:${Math.min(100, (ri.value || 0) * 100)}%` }),
        t4 !== undefined ? el("i", { style: `left:${Math.min(100, t4 * 100)}%` }) : null);
      tbody.append(el("tr", { "data-code": ri.code, "data-region": region, "data-period": ri.period || "",
        "data-value": raw(ri.value), "data-stars": ri.stars_met },
        el("td", {}, el("a", { href: `/indicators/${ri.code}?region=${region}&period=${ri.period || ""}`, text: "#" + ri.code })),
        el("td", { class: "name", title: ri.name_en, text: ri.name_zh }),
        el("td", { class: "num value", title: ri.reason || "", text: pct(ri.value) }),
        el("td", {}, bar),
        el("td", { class: "num muted nowrap", text: ["3", "4", "5"].map((s) => pct(ri.thresholds[s])).join(" / ") }),
        el("td", { class: "stars nowrap", text: starText(ri.stars_met) }),
        el("td", { class: "num", "data-whole": whole ? raw(whole.value) : "",
          text: whole && whole.value !== row.value ? pct(whole.value) : "—" }),
        el("td", { class: "num", "data-effective": eff ? raw(eff.value) : "", text: eff ? pct(eff.value) : "—" }),
        el("td", { class: "num", "data-month": month ? raw(month.value) : "", text: month ? pct(month.value) : "—" })));
    }
    return el("section", { class: "panel", id: "indicators" },
      el("h2", {}, `${names[region]} 指标（年度累计 ${year || "—"}）`, el("span", { class: "en", text: "latest value against the star thresholds" })),
      el("table", { class: "grid indicator-table", id: "indicator-table", "data-region": region },
        el("thead", {}, el("tr", {}, ...["编号", "指标", "当前值", "进度（黄线：4 星）", "3/4/5 星阈值", "达标", "全域值",
          "有效共享", "本月 " + (lastMonth || "")].map((h) => el("th", { text: h })))), tbody));
  }

  function trendChart(d, data, monthList) {
    const node = el("div", { class: "chart tall", id: "trend-chart" });
    const table = el("table", { class: "grid", id: "trend-data", hidden: true });
    const byCode = data[d.focus] || {};
    const series = cfg.indicators.map((i) => {
      const points = monthList.map((m) => { const v = (byCode[i.code] || {})[m]; return v && v.value !== null ? v.value : null; });
      table.append(el("tr", { "data-code": i.code }, el("th", { text: i.code }),
        ...monthList.map((m, k) => el("td", { "data-period": m, "data-value": raw(points[k]) }))));
      return { name: "#" + i.code + " " + i.name_zh, type: "line", data: points.map((p) => (p === null ? null : +(p * 100).toFixed(2))),
        connectNulls: false, symbolSize: 6 };
    });
    const box = el("section", { class: "panel" }, el("h2", {}, `${names[d.focus]} 逐月走势`, el("span", { class: "en", text: "month to date, %" })), node, table);
    return { box, draw: () => chart(node, {
      tooltip: { trigger: "axis", valueFormatter: (v) => (v === null || v === undefined ? "—" : v + "%") },
      legend: { type: "scroll", bottom: 0, textStyle: { color: "#c9d6ea" } },
      grid: { left: 50, right: 20, top: 20, bottom: 60 },
      xAxis: { type: "category", data: monthList },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" }, splitLine: { lineStyle: { color: "#24406e" } } },
      series }) };
  }

  function compareChart(d, ready) {
    // the city and each county side by side: every indicator's year-to-date value (star readiness's)
    const regions = d.regions;
    const node = el("div", { class: "chart tall", id: "compare-chart" });
    const codes = cfg.indicators.map((i) => i.code);
    const table = el("table", { class: "grid", id: "compare-data", hidden: true });
    const series = regions.map((r) => {
      const byCode = Object.fromEntries(ready[r].indicators.map((i) => [i.code, i]));
      table.append(el("tr", { "data-region": r }, ...codes.filter((c) => byCode[c]).map((c) =>
        el("td", { "data-code": c, "data-value": raw(byCode[c].value) }))));
      return { name: names[r], type: "bar", data: codes.map((c) => byCode[c] && byCode[c].value !== null ? +(byCode[c].value * 100).toFixed(2) : null) };
    });
    const box = el("section", { class: "panel" }, el("h2", {}, "全市与各区县对比", el("span", { class: "en", text: "year to date, %" })), node, table);
    return { box, draw: () => chart(node, {
      tooltip: { trigger: "axis", valueFormatter: (v) => (v === null || v === undefined ? "—" : v + "%") },
      legend: { type: "scroll", bottom: 0, textStyle: { color: "#c9d6ea" } },
      grid: { left: 50, right: 20, top: 20, bottom: 60 },
      xAxis: { type: "category", data: codes.map((c) => "#" + c) },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" }, splitLine: { lineStyle: { color: "#24406e" } } },
      series }) };
  }

  function sharingChart(d, data, year) {
    // nominal (the catalogue's declaration) vs effective (fresh, within tolerance, pulled) sharing
    const node = el("div", { class: "chart", id: "sharing-chart" });
    const byCode = data[d.focus] || {};
    const cats = [], nominal = [], effective = [];
    const table = el("table", { class: "grid", id: "sharing-data", hidden: true });
    for (const c of SHARING) {
      const row = (byCode[c] || {})[year];
      if (!row) continue;
      const eff = alt(row, "effective");
      cats.push("#" + c + " " + (indicatorInfo[c] ? indicatorInfo[c].name_zh : ""));
      nominal.push(row.value === null ? null : +(row.value * 100).toFixed(2));
      effective.push(eff && eff.value !== null ? +(eff.value * 100).toFixed(2) : null);
      table.append(el("tr", { "data-code": c, "data-value": raw(row.value), "data-effective": eff ? raw(eff.value) : "" }));
    }
    const box = el("section", { class: "panel" }, el("h2", {}, "名义共享 与 有效共享", el("span", { class: "en", text: "nominal vs effective" })),
      cats.length ? node : el("div", { class: "muted", text: "数据共享类指标（#27、#28、#30）只按全市统计" }), table);
    return { box, draw: () => cats.length && chart(node, {
      tooltip: { trigger: "axis" }, legend: { bottom: 0, textStyle: { color: "#c9d6ea" } },
      grid: { left: 50, right: 20, top: 20, bottom: 50 },
      xAxis: { type: "category", data: cats, axisLabel: { interval: 0, width: 150, overflow: "truncate" } },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" }, splitLine: { lineStyle: { color: "#24406e" } } },
      series: [{ name: "名义（目录声明）", type: "bar", data: nominal }, { name: "有效（按时、达标、被调用）", type: "bar", data: effective }] }) };
  }

  function scopeChart(d, data, year) {
    // the standard's scope (main urban area, no towns) vs the whole administrative area, where they differ
    const node = el("div", { class: "chart", id: "scope-chart" });
    const byCode = data[d.focus] || {};
    const cats = [], scoped = [], whole = [];
    const table = el("table", { class: "grid", id: "scope-data", hidden: true });
    for (const i of cfg.indicators) {
      const row = (byCode[i.code] || {})[year];
      const w = row && wholeOf(row);
      if (!row || !w || w.value === row.value) continue;
      cats.push("#" + i.code);
      scoped.push(row.value === null ? null : +(row.value * 100).toFixed(2));
      whole.push(w.value === null ? null : +(w.value * 100).toFixed(2));
      table.append(el("tr", { "data-code": i.code, "data-value": raw(row.value), "data-whole": raw(w.value) }));
    }
    const box = el("section", { class: "panel" }, el("h2", {}, "标准口径 与 全域口径", el("span", { class: "en", text: "standard's scope vs whole area" })),
      cats.length ? node : el("div", { class: "muted", text: "两种口径的值相同" }), table);
    return { box, draw: () => cats.length && chart(node, {
      tooltip: { trigger: "axis" }, legend: { bottom: 0, textStyle: { color: "#c9d6ea" } },
      grid: { left: 50, right: 20, top: 20, bottom: 50 },
      xAxis: { type: "category", data: cats },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" }, splitLine: { lineStyle: { color: "#24406e" } } },
      series: [{ name: "标准口径", type: "bar", data: scoped }, { name: "全域", type: "bar", data: whole }] }) };
  }

  function refused(err) {
    root.replaceChildren(el("div", { class: "notice", id: "refused", "data-status": err.status || "" },
      err.status === 403 ? "无权查看该地区的数据：" + err.message : "无法读取数据：" + err.message));
    document.body.dataset.refused = String(err.status || "");
  }

  async function main() {
    const charting = echartsLoaded();
    charting.catch(() => {});
    let d;
    try {
      d = await load();
    } catch (err) {
      if (err.status === 403 || err.status === 400) { refused(err); window.cityhub.ready({ refused: err.status }); return; }
      throw err;
    }
    window.cityhubDataAt = performance.now();  // the API's answers are in (bench/cockpit.py prints the split)
    await charting;
    const data = byRegion(d.values);
    const ready = Object.fromEntries(d.readiness.map((r) => [r.region, r]));
    const year = latestYear(d.values);
    const monthList = months(d.values);
    const computed = d.values.map((v) => v.computed_at).sort().pop();
    root.dataset.focus = d.focus;
    const trend = trendChart(d, data, monthList), sharing = sharingChart(d, data, year), scopes = scopeChart(d, data, year);
    const compare = d.regions.length > 1 ? compareChart(d, ready) : null;
    const parts = [trend, sharing, scopes, compare].filter(Boolean);
    root.replaceChildren(
      header(d, year),
      el("div", { class: "cockpit" },
        el("div", { class: "left" }, cityCard(d, ready), countyGrid(d, ready, data, year), feedPanel(d.feeds)),
        el("div", { class: "middle" }, indicatorTable(d, data, ready[d.focus], year, monthList),
          el("div", { class: "charts" }, sharing.box, scopes.box)),
        el("div", { class: "right" }, compare ? compare.box : null, trend.box)));
    if (computed) document.getElementById("computed-at").textContent = "计算于 " + computed.replace("T", " ").slice(0, 19);
    performance.mark("cockpit:dom");
    for (const p of parts) p.draw();
    performance.mark("cockpit:charts");
    window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
    await new Promise((r) => requestAnimationFrame(() => r()));
    window.cityhub.ready({ regions: d.regions.length, values: d.values.length });
  }

  main().catch((err) => window.cityhub.failed(err));
})();
