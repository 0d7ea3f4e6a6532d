// edoc-hub operator console: live dashboard over server-sent events, charts drawn as SVG.
// No dependencies and no build step. The server renders every page; this script only
// keeps the dashboard current and asks before a reprocess.
"use strict";

(function () {
  const lang = document.body.dataset.lang || "vi";
  const locale = lang === "vi" ? "vi-VN" : "en-GB";
  const numberFmt = new Intl.NumberFormat(locale);
  const rateFmt = new Intl.NumberFormat(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const timeFmt = new Intl.DateTimeFormat(locale, {
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: "Asia/Ho_Chi_Minh",
  });
  const REASON_COLORS = ["#c4302b", "#e0752d", "#8e44ad", "#2d6fb3", "#7f8c8d"];

  function json(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  function pick(obj, path) {
    return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
  }
  let agoWord = "";
  function format(value, kind) {
    if (value === null || value === undefined) return "—";
    switch (kind) {
      case "int": return numberFmt.format(value);
      case "rate": return rateFmt.format(value);
      case "pct": return rateFmt.format(value) + "%";
      case "secs": return value < 1 ? numberFmt.format(Math.round(value * 1000)) + " ms" : rateFmt.format(value) + " s";
      case "age": return value < 120 ? value + " s" : Math.round(value / 60) + " min";
      case "ago": return format(value, "age") + " " + agoWord;
      case "time": return timeFmt.format(new Date(value));
      default: return String(value);
    }
  }

  // -- charts --------------------------------------------------------------------------------

  function stacked(el, rows, layers, labelEvery, labelOf) {
    const W = 720, H = 190, L = 34, B = 18, T = 8;
    const totals = rows.map((r) => layers.reduce((s, l) => s + (l.value(r) || 0), 0));
    const max = Math.max(4, ...totals);
    const step = niceStep(max);
    const top = Math.ceil(max / step) * step;
    const bw = (W - L) / rows.length;
    const y = (v) => T + (H - B - T) * (1 - v / top);
    let svg = `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">`;
    for (let v = 0; v <= top; v += step) {
      svg += `<line class="grid-line" x1="${L}" x2="${W}" y1="${y(v)}" y2="${y(v)}"/>`;
      svg += `<text x="${L - 4}" y="${y(v) + 3}" text-anchor="end">${numberFmt.format(v)}</text>`;
    }
    rows.forEach((r, i) => {
      let base = 0;
      const x = L + i * bw + bw * 0.12;
      layers.forEach((l) => {
        const v = l.value(r) || 0;
        if (v > 0) {
          svg += `<rect x="${x.toFixed(1)}" y="${y(base + v).toFixed(1)}" width="${(bw * 0.76).toFixed(1)}" height="${(y(base) - y(base + v)).toFixed(1)}" fill="${l.color}"><title>${esc(l.name)}: ${v}</title></rect>`;
        }
        base += v;
      });
      if (i % labelEvery === 0) {
        svg += `<text x="${(L + i * bw).toFixed(1)}" y="${H - 4}">${esc(labelOf(r))}</text>`;
      }
    });
    svg += `<line class="axis" x1="${L}" x2="${W}" y1="${y(0)}" y2="${y(0)}"/></svg>`;
    el.innerHTML = svg;
  }
  function niceStep(max) {
    const raw = max / 4;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
    return 10 * mag;
  }
  const clock = (t) => new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Ho_Chi_Minh" }).format(new Date(t * 1000));

  function bars(el, items, label, cls) {
    if (!el) return;
    if (!items.length) {
      el.innerHTML = `<div class="empty">${esc(el.dataset.empty || "")}</div>`;
      return;
    }
    const max = Math.max(...items.map((i) => i.count));
    el.innerHTML = items.map((i) =>
      `<div class="row"><span class="label" title="${esc(i.code)}">${esc(label(i))}</span>` +
      `<span class="track"><span class="fill ${cls}" style="width:${(100 * i.count / max).toFixed(1)}%"></span></span>` +
      `<span class="value">${numberFmt.format(i.count)}</span></div>`).join("");
  }

  // -- dashboard -------------------------------------------------------------------------------

  function dashboard() {
    const names = json("names") || {};
    const reasonNames = json("reason-names") || {};
    const words = json("words") || {};
    agoWord = words.ago || "";
    const agency = (i) => names[i.code] || i.code;

    function render(snap) {
      document.querySelectorAll("[data-k]").forEach((el) => {
        el.textContent = format(pick(snap, el.dataset.k), el.dataset.fmt);
      });
      document.querySelectorAll("[data-health]").forEach((el) => {
        const v = pick(snap, el.dataset.health);
        el.className = "badge " + (v === "ok" ? "up" : v === "unknown" ? "" : "down");
        el.textContent = v === "ok" ? el.dataset.up : v === "unknown" ? el.dataset.unknown : el.dataset.down;
        el.title = v;
      });
      const f = snap.flow;
      stacked(document.getElementById("chart-flow"), f.series, [
        { name: words.ok, color: "#34a86a", value: (r) => r.ok },
        { name: words.rejected, color: "#c4302b", value: (r) => r.rejected },
      ], 12, (r) => clock(r.t));
      const m = f.minutes;
      const layers = [{ name: words.ok, color: "#34a86a", value: (r) => r.ok }];
      m.reasons.forEach((code, i) => layers.push({
        name: reasonNames[code] || code, color: REASON_COLORS[i % REASON_COLORS.length], value: (r) => r.reasons[code],
      }));
      layers.push({
        name: "…", color: "#b0b7c3",
        value: (r) => r.rejected - Object.values(r.reasons).reduce((a, b) => a + b, 0),
      });
      stacked(document.getElementById("chart-minutes"), m.rows, layers, 10, (r) => clock(r.t));
      const legend = document.getElementById("legend-minutes");
      if (legend) {
        legend.innerHTML = layers.filter((l) => l.name !== "…").map((l) =>
          `<span><span class="sw" style="background:${l.color}"></span>${esc(l.name)}</span>`).join("");
      }
      bars(document.getElementById("list-senders"), f.senders, agency, "");
      bars(document.getElementById("list-recipients"), f.recipients, agency, "");
      const reasons = Object.entries(m.totals).map(([code, count]) => ({ code, count }));
      bars(document.getElementById("list-reasons"), reasons, (i) => reasonNames[i.code] || i.code, "bad");
      const lag = document.querySelector("#lag-groups tbody");
      if (lag) {
        const groups = snap.health.groups;
        lag.innerHTML = groups.length ? groups.map((g) =>
          `<tr><td>${esc(g.service)}</td><td class="mono">${esc(g.group)}</td><td class="num">${numberFmt.format(g.lag)}</td></tr>`).join("")
          : `<tr><td colspan="3" class="muted">${esc(words.none || "")}</td></tr>`;
      }
    }

    const first = json("snapshot");
    if (first) render(first);
    const live = document.getElementById("live");
    const setLive = (on) => {
      if (!live) return;
      live.classList.toggle("on", on);
      live.classList.toggle("off", !on);
      live.querySelector(".live-text").textContent = on ? live.dataset.on : live.dataset.off;
    };
    const source = new EventSource("/console/stream");
    source.onopen = () => setLive(true);
    source.onerror = () => setLive(false);
    source.onmessage = (e) => {
      setLive(true);
      render(JSON.parse(e.data));
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    };
  }

  // -- forms -------------------------------------------------------------------------------------

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", (e) => {
        if (!window.confirm(form.dataset.confirm)) e.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    confirmations();
    if (document.body.dataset.page === "dashboard") dashboard();
  });
})();
