// Draws docs/grafana-dashboard.json's panels from a Prometheus that scraped
// the gateway, the way Grafana would lay them out, to an HTML page of SVG
// charts, and screenshots that page with headless Chromium.
//
//   node render.mjs --prom http://127.0.0.1:19090 --start <unix s> --end <unix s> \
//     [--scrape 5] [--dashboard ../../grafana-dashboard.json] [--html out.html] [--png out.png]
//
// Every query is the dashboard's own PromQL, evaluated by Prometheus's
// query_range API with the dashboard's variables set to All and
// $__rate_interval computed as Grafana computes it. This is not Grafana:
// the drawing (axes, stacking, legends, colours) imitates its dark theme.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const opt = {
  prom: 'http://127.0.0.1:19090', scrape: 5, step: 0,
  dashboard: path.join(here, '../../grafana-dashboard.json'),
  html: '', png: path.join(here, '../../dashboard.png'),
  note: '', width: 1600, chromium: process.env.CHROMIUM || '/usr/bin/chromium',
};
for (let i = 2; i < process.argv.length; i += 2) opt[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const start = Number(opt.start), end = Number(opt.end), scrape = Number(opt.scrape);
if (!start || !end) throw new Error('--start and --end (unix seconds) are required');
// Grafana: $__interval from the range over the panel's width; $__rate_interval
// = max($__interval + scrape interval, 4 × scrape interval).
const step = Number(opt.step) || Math.max(scrape, Math.ceil((end - start) / 300));
const rateInterval = Math.max(step + scrape, 4 * scrape);

const dash = JSON.parse(await readFile(opt.dashboard, 'utf8'));
const vars = Object.fromEntries(dash.templating.list.filter((v) => v.type === 'query').map((v) => [v.name, v.allValue || '.*']));
function substitute(expr) {
  return expr
    .replace(/\$\{?__rate_interval\}?/g, `${rateInterval}s`)
    .replace(/\$\{?__interval\}?/g, `${step}s`)
    .replace(/\$\{?__range\}?/g, `${end - start}s`)
    .replace(/\$\{?(\w+)(?::\w+)?\}?/g, (m, name) => (name in vars ? vars[name] : m));
}

async function queryRange(expr) {
  const u = new URL('/api/v1/query_range', opt.prom);
  u.search = new URLSearchParams({ query: substitute(expr), start, end, step }).toString();
  const res = await fetch(u);
  const body = await res.json();
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data.result;
}

// ---- units, colours, scales ----
const named = {
  green: '#73BF69', 'dark-green': '#37872D', yellow: '#FADE2A', 'dark-yellow': '#E0B400', red: '#F2495C',
  'dark-red': '#C4162A', orange: '#FF9830', 'dark-orange': '#FA6400', blue: '#5794F2', 'dark-blue': '#1F60C4',
  purple: '#B877D9', 'dark-purple': '#8F3BB8', text: '#ccccdc', transparent: 'transparent',
};
const classic = ['#7EB26D', '#EAB839', '#6ED0E0', '#EF843C', '#E24D42', '#1F78C1', '#BA43A9', '#705DA0', '#508642',
  '#CCA300', '#447EBC', '#C15C17', '#890F02', '#0A437C', '#6D1F62', '#584477', '#B7DBAB', '#F4D598', '#70DBED',
  '#F9BA8F', '#F29191', '#82B5D8', '#E5A8E2', '#AEA2E0', '#629E51', '#E5AC0E', '#64B0C8', '#E0752D', '#BF1B00'];
const col = (c) => named[c] || c;

function fmtNum(v, decimals) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (decimals !== undefined) return v.toFixed(decimals);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
  if (a >= 1) return v.toFixed(2).replace(/\.?0+$/, '');
  return Number(v.toPrecision(2)).toString();
}
function short(v, decimals) {
  const a = Math.abs(v);
  for (const [n, s] of [[1e9, ' Bil'], [1e6, ' Mil'], [1e3, ' K']]) if (a >= n) return fmtNum(v / n, decimals) + s;
  return fmtNum(v, decimals);
}
function fmt(v, unit, decimals) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'No data';
  switch (unit) {
    case 'reqps': return `${short(v, decimals)} req/s`;
    case 'percentunit': return `${fmtNum(v * 100, decimals)}%`;
    case 's': {
      const a = Math.abs(v);
      if (a === 0) return '0 s';
      if (a < 1e-3) return `${fmtNum(v * 1e6, decimals)} µs`;
      if (a < 1) return `${fmtNum(v * 1e3, decimals)} ms`;
      return `${fmtNum(v, decimals)} s`;
    }
    case 'currencyUSD': {
      if (v !== 0 && Math.abs(v) < 0.01 && decimals !== undefined) return `$${Number(v.toPrecision(2))}`;
      return `$${decimals !== undefined ? v.toFixed(decimals) : fmtNum(v)}`;
    }
    default: return short(v, decimals);
  }
}
function niceStep(range, ticks) {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
}
function thresholdColor(steps, v) {
  let c = steps[0].color;
  for (const s of steps) if (s.value !== null && v >= s.value) c = s.color;
  return col(c);
}
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const hhmmss = (t) => new Date(t * 1000).toISOString().slice(11, 19);

function legendName(fmtStr, metric) {
  if (fmtStr) return fmtStr.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, l) => metric[l] ?? '');
  const labels = Object.entries(metric).filter(([k]) => k !== '__name__').map(([k, v]) => `${k}="${v}"`);
  return `${metric.__name__ || ''}{${labels.join(', ')}}`;
}

// Every series of a panel's queries, on the common time grid.
const times = [];
for (let t = start; t <= end; t += step) times.push(t);
async function panelSeries(p) {
  const out = [];
  for (const tg of p.targets || []) {
    for (const r of await queryRange(tg.expr)) {
      const byT = new Map(r.values.map(([t, v]) => [Math.round(t), Number(v)]));
      const vals = times.map((t) => {
        const v = byT.get(t);
        return v === undefined || !Number.isFinite(v) ? null : v;
      });
      out.push({ name: legendName(tg.legendFormat, r.metric), values: vals });
    }
  }
  return out;
}
function seriesColors(p, series) {
  const over = new Map();
  for (const o of p.fieldConfig?.overrides || []) {
    if (o.matcher?.id !== 'byName') continue;
    const c = o.properties.find((x) => x.id === 'color');
    if (c) over.set(o.matcher.options, col(c.value.fixedColor));
  }
  return series.map((s, i) => over.get(s.name) || classic[i % classic.length]);
}

// ---- panels ----
const W = Number(opt.width), PAD = 16, GAP = 8, ROWH = 30;
const colW = (W - 2 * PAD - 23 * GAP) / 24;
const box = (g) => ({
  x: PAD + g.x * (colW + GAP), y: g.y * (ROWH + GAP),
  w: g.w * colW + (g.w - 1) * GAP, h: g.h * ROWH + (g.h - 1) * GAP,
});

// How many lines a legend wraps to (at most 5, as Grafana would scroll).
function legendLines(series, width) {
  let lines = 1, x = 0;
  for (const s of series) {
    const w = 20 + s.name.length * 6.3 + 14;
    if (x > 0 && x + w > width) { lines++; x = 0; }
    x += w;
  }
  return Math.min(lines, 5);
}
function legendHTML(series, colors, filled, lines = 1) {
  return `<div class="legend" style="height:${lines * 18}px">${series.map((s, i) =>
    `<span class="li"><i style="background:${colors[i]}${filled ? '' : ';height:3px'}"></i>${esc(s.name)}</span>`).join('')}</div>`;
}

function timeseries(p, b, series) {
  const d = p.fieldConfig.defaults, custom = d.custom || {};
  const stacked = custom.stacking?.mode === 'normal';
  const colors = seriesColors(p, series);
  const lines = legendLines(series, b.w - 16);
  const legend = series.length ? legendHTML(series, colors, false, lines) : '';
  const svgH = b.h - 32 - (series.length ? lines * 18 + 4 : 0);
  const L = 64, R = 10, T = 6, B = 20, pw = b.w - 16 - L - R, ph = svgH - T - B;
  // Stacking, as Grafana's: a series without a value at a time adds
  // nothing to the stack there (and shows a gap).
  const tops = series.map((s) => s.values.slice());
  const bases = series.map(() => times.map(() => 0));
  if (stacked) {
    const acc = times.map(() => 0);
    for (let i = 0; i < series.length; i++) {
      bases[i] = acc.slice();
      tops[i] = series[i].values.map((v, j) => (v === null ? null : (acc[j] += v)));
    }
  }
  let max = 0;
  for (const t of tops) for (const v of t) if (v !== null && v > max) max = v;
  if (max === 0) max = 1;
  const ticks = niceStep(max, 4);
  const ymax = Math.ceil((max * 1.05) / ticks) * ticks;
  const X = (j) => L + (pw * (times[j] - start)) / (end - start);
  const Y = (v) => T + ph - (ph * v) / ymax;
  let g = '';
  for (let v = 0; v <= ymax + 1e-12; v += ticks) {
    g += `<line x1="${L}" x2="${L + pw}" y1="${Y(v)}" y2="${Y(v)}" class="grid"/>`;
    g += `<text x="${L - 6}" y="${Y(v) + 4}" class="ax" text-anchor="end">${esc(fmt(v, d.unit, ticks < 1 && d.unit === 'percentunit' ? undefined : undefined))}</text>`;
  }
  const xt = niceStep(end - start, 6 * (pw / 500));
  const xs = [10, 15, 20, 30, 60, 120, 300].find((s) => s >= xt) || 600;
  for (let t = Math.ceil(start / xs) * xs; t <= end; t += xs) {
    const x = L + (pw * (t - start)) / (end - start);
    g += `<line x1="${x}" x2="${x}" y1="${T}" y2="${T + ph}" class="grid"/>`;
    g += `<text x="${x}" y="${T + ph + 15}" class="ax" text-anchor="middle">${hhmmss(t)}</text>`;
  }
  // thresholds drawn as dashed lines
  if (custom.thresholdsStyle?.mode?.includes('line')) {
    for (const s of d.thresholds.steps) {
      if (s.value === null || s.value > ymax) continue;
      g += `<line x1="${L}" x2="${L + pw}" y1="${Y(s.value)}" y2="${Y(s.value)}" stroke="${col(s.color)}" stroke-dasharray="6 4" stroke-width="1"/>`;
    }
  }
  const fillOp = (custom.fillOpacity ?? 10) / 100;
  const segments = (vals) => {
    const segs = [];
    let cur = [];
    vals.forEach((v, j) => {
      if (v === null) { if (cur.length) segs.push(cur); cur = []; } else cur.push(j);
    });
    if (cur.length) segs.push(cur);
    return segs;
  };
  let areas = '', paths = '';
  for (let i = series.length - 1; i >= 0; i--) {
    const top = tops[i];
    const base = bases[i];
    for (const seg of segments(top)) {
      const up = seg.map((j) => `${X(j).toFixed(1)},${Y(top[j]).toFixed(1)}`);
      if (fillOp > 0) {
        const down = seg.slice().reverse().map((j) => `${X(j).toFixed(1)},${Y(base[j]).toFixed(1)}`);
        areas += `<polygon points="${up.concat(down).join(' ')}" fill="${colors[i]}" fill-opacity="${fillOp}" stroke="none"/>`;
      }
      if (seg.length === 1) paths += `<circle cx="${X(seg[0])}" cy="${Y(top[seg[0]])}" r="1.5" fill="${colors[i]}"/>`;
      else paths += `<polyline points="${up.join(' ')}" fill="none" stroke="${colors[i]}" stroke-width="${custom.lineWidth || 1}"/>`;
    }
  }
  const empty = series.length ? '' : `<text x="${L + pw / 2}" y="${T + ph / 2}" class="nodata" text-anchor="middle">No data</text>`;
  return `<svg width="${b.w - 16}" height="${svgH}">${g}${areas}${paths}${empty}</svg>${legend}`;
}

function stat(p, b, series) {
  const d = p.fieldConfig.defaults;
  const s = series[0];
  const vals = s ? s.values : [];
  const last = [...vals].reverse().find((v) => v !== null);
  const c = last === undefined ? '#8e8e8e' : thresholdColor(d.thresholds.steps, last);
  const h = b.h - 32;
  let spark = '';
  const nn = vals.filter((v) => v !== null);
  if (nn.length > 1) {
    const max = Math.max(...nn, 1e-12), min = Math.min(0, ...nn);
    const X = (j) => (b.w - 16) * (j / (times.length - 1));
    const Y = (v) => h - (h * 0.4 * (v - min)) / (max - min || 1);
    const pts = vals.map((v, j) => (v === null ? null : `${X(j).toFixed(1)},${Y(v).toFixed(1)}`)).filter(Boolean);
    const first = vals.findIndex((v) => v !== null), lastI = vals.length - 1 - [...vals].reverse().findIndex((v) => v !== null);
    spark = `<polygon points="${pts.join(' ')} ${X(lastI)},${h} ${X(first)},${h}" fill="${c}" fill-opacity="0.18"/>` +
      `<polyline points="${pts.join(' ')}" fill="none" stroke="${c}" stroke-width="1.5"/>`;
  }
  const text = last === undefined ? 'No data' : fmt(last, d.unit, d.decimals);
  return `<svg width="${b.w - 16}" height="${h}">${spark}<text x="${(b.w - 16) / 2}" y="${h * 0.42}" text-anchor="middle" class="statv" fill="${c}">${esc(text)}</text></svg>`;
}

function bargauge(p, b, series) {
  const d = p.fieldConfig.defaults;
  const rows = series.map((s) => ({ name: s.name, v: [...s.values].reverse().find((v) => v !== null) }))
    .filter((r) => r.v !== undefined);
  if (!rows.length) return '<div class="nodata">No data</div>';
  const max = d.max ?? Math.max(...rows.map((r) => r.v));
  const min = d.min ?? 0;
  const h = b.h - 32, rh = Math.min(40, (h - 8) / rows.length), lw = 90, vw = 90, bw = b.w - 16 - lw - vw - 8;
  let g = '';
  rows.forEach((r, i) => {
    const y = 4 + i * rh, c = thresholdColor(d.thresholds.steps, r.v);
    const frac = Math.max(0, Math.min(1, (r.v - min) / (max - min || 1)));
    g += `<text x="0" y="${y + rh / 2 + 4}" class="lbl">${esc(r.name)}</text>`;
    g += `<rect x="${lw}" y="${y + 3}" width="${bw}" height="${rh - 8}" fill="rgba(204,204,220,0.07)" rx="2"/>`;
    g += `<rect x="${lw}" y="${y + 3}" width="${Math.max(1, bw * frac)}" height="${rh - 8}" fill="url(#gr${p.id}_${i})" rx="2"/>`;
    g += `<defs><linearGradient id="gr${p.id}_${i}"><stop offset="0" stop-color="${c}" stop-opacity="0.35"/><stop offset="1" stop-color="${c}"/></linearGradient></defs>`;
    g += `<text x="${b.w - 16}" y="${y + rh / 2 + 6}" text-anchor="end" class="bgv" fill="${c}">${esc(fmt(r.v, d.unit, d.decimals))}</text>`;
  });
  return `<svg width="${b.w - 16}" height="${h}">${g}</svg>`;
}

function stateTimeline(p, b, series) {
  const d = p.fieldConfig.defaults;
  const map = d.mappings?.[0]?.options || {};
  const items = Object.entries(map).sort((a, b2) => a[1].index - b2[1].index);
  const legend = `<div class="legend">${items.map(([, m]) => `<span class="li"><i style="background:${col(m.color)}"></i>${esc(m.text)}</span>`).join('')}</div>`;
  if (!series.length) return '<div class="nodata">No data</div>';
  const svgH = b.h - 32 - 24, L = 120, T = 4, B = 20, pw = b.w - 16 - L - 10;
  const rh = (svgH - T - B) / series.length;
  const X = (j) => L + (pw * (times[j] - start)) / (end - start);
  let g = '';
  series.forEach((s, i) => {
    const y = T + i * rh;
    g += `<text x="${L - 8}" y="${y + rh / 2 + 4}" text-anchor="end" class="lbl">${esc(s.name)}</text>`;
    let j = 0;
    while (j < s.values.length) {
      const v = s.values[j];
      let k = j + 1;
      while (k < s.values.length && s.values[k] === v) k++;
      if (v !== null) {
        const m = map[String(v)];
        const c = m ? col(m.color) : thresholdColor(d.thresholds.steps, v);
        const x2 = k < s.values.length ? X(k) : L + pw;
        g += `<rect x="${X(j)}" y="${y + rh * 0.1}" width="${Math.max(1, x2 - X(j) - 1)}" height="${rh * 0.8}" fill="${c}" fill-opacity="0.8"/>`;
      }
      j = k;
    }
  });
  const xs = 30;
  for (let t = Math.ceil(start / xs) * xs; t <= end; t += xs) {
    const x = L + (pw * (t - start)) / (end - start);
    g += `<text x="${x}" y="${svgH - 5}" class="ax" text-anchor="middle">${hhmmss(t)}</text>`;
  }
  return `<svg width="${b.w - 16}" height="${svgH}">${g}</svg>${legend}`;
}

// ---- the page ----
let body = '', height = 0;
for (const p of dash.panels) {
  const b = box(p.gridPos);
  height = Math.max(height, b.y + b.h);
  if (p.type === 'row') {
    body += `<div class="row" style="left:${b.x}px;top:${b.y}px;width:${b.w}px;height:${b.h}px">⌄ ${esc(p.title)}</div>`;
    continue;
  }
  const series = await panelSeries(p);
  const draw = { timeseries, stat, bargauge, 'state-timeline': stateTimeline }[p.type];
  if (!draw) throw new Error(`panel type ${p.type}: not drawn by render.mjs`);
  body += `<div class="panel" style="left:${b.x}px;top:${b.y}px;width:${b.w}px;height:${b.h}px">` +
    `<div class="title">${esc(p.title)}</div><div class="content">${draw(p, b, series)}</div></div>`;
}
const varsBar = dash.templating.list.map((v) =>
  `<span class="var"><b>${esc(v.label || v.name)}</b><span>${v.type === 'datasource' ? 'Prometheus' : 'All'}</span></span>`).join('');
const minutes = Math.round((end - start) / 60);
const html = `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#ccccdc;font-family:Inter,"Liberation Sans","DejaVu Sans",Arial,sans-serif;font-size:12px}
.top{height:40px;display:flex;align-items:center;padding:0 ${PAD}px;border-bottom:1px solid rgba(204,204,220,0.12);font-size:14px}
.top .crumb{color:#8e8e8e}.top .crumb b{color:#ccccdc;font-weight:500}
.top .range{margin-left:auto;border:1px solid rgba(204,204,220,0.2);border-radius:2px;padding:4px 10px;font-size:12px}
.vars{display:flex;gap:8px;padding:8px ${PAD}px;align-items:center}
.var{display:inline-flex;border:1px solid rgba(204,204,220,0.2);border-radius:2px;overflow:hidden}
.var b{font-weight:500;background:#22252b;padding:4px 8px;color:#6e9fff}.var span{padding:4px 10px}
.note{margin-left:auto;color:#8e8e8e}
.grid-area{position:relative;margin-top:4px}
.panel{position:absolute;background:#181b1f;border:1px solid rgba(204,204,220,0.12);border-radius:2px;box-sizing:border-box;overflow:hidden}
.panel .title{height:28px;line-height:28px;padding:0 8px;font-size:13px;font-weight:500;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.panel .content{padding:0 8px}
.row{position:absolute;font-size:15px;font-weight:500;line-height:30px}
.grid{stroke:rgba(204,204,220,0.09);stroke-width:1}
.ax{fill:#8e8e8e;font-size:11px}.lbl{fill:#ccccdc;font-size:12px}
.statv{font-size:30px;font-weight:500}.bgv{font-size:16px;font-weight:500}
.nodata{fill:#8e8e8e;color:#8e8e8e;font-size:14px;padding:20px;text-align:center}
.legend{display:flex;flex-wrap:wrap;gap:0 14px;padding-top:4px;overflow:hidden;line-height:18px}
.li{display:inline-flex;align-items:center;gap:6px;white-space:nowrap;color:#ccccdc}
.li i{display:inline-block;width:14px;height:4px;border-radius:1px}
</style></head><body>
<div class="top"><span class="crumb">Home › Dashboards › <b>${esc(dash.title)}</b></span><span class="range">${hhmmss(start)} to ${hhmmss(end)} UTC · refresh ${esc(dash.refresh || '')}</span></div>
<div class="vars">${varsBar}<span class="note">${esc(opt.note || `A ${minutes}-minute load run on the mock providers; Prometheus evaluated the dashboard's queries (step ${step}s, $__rate_interval ${rateInterval}s); drawn by docs/dashboard/render, not by Grafana.`)}</span></div>
<div class="grid-area" style="height:${height}px">${body}</div>
</body></html>`;

const htmlPath = opt.html || opt.png.replace(/\.png$/, '') + '.html';
await writeFile(htmlPath, html);
const browser = await chromium.launch({
  executablePath: opt.chromium,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: W, height: 800 }, deviceScaleFactor: 1 });
  await page.goto('file://' + path.resolve(htmlPath));
  await page.screenshot({ path: opt.png, fullPage: true });
} finally {
  await browser.close();
}
console.log(`render: ${opt.png} (${dash.panels.length} panels, step ${step}s, rate interval ${rateInterval}s)`);
