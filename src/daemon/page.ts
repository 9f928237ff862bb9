/*
 * The live page the HTTP door serves at `/`: one HTML document, script and
 * style inline, fed by `/events` (a snapshot a second). It draws each switch
 * with its ports around it (labelled with their kind), keeps the last
 * HISTORY samples of every port's frame rates for small plots, and lists the
 * learning tables. Text from the daemon is inserted as text, never as HTML.
 */

export const LIVE_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>uvale</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1em;background:#fafafa;color:#222}
h1{font-size:1.3em;margin:0 0 .5em} h2{font-size:1.1em;margin:1em 0 .3em}
.sw{background:#fff;border:1px solid #ccc;border-radius:6px;padding:.6em;margin-bottom:1em}
table{border-collapse:collapse;margin:.3em 0} td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #eee}
td:first-child,th:first-child{text-align:left} .kind{color:#666} #status{color:#a00}
svg text{font:11px system-ui,sans-serif}
</style></head><body>
<h1>uvale <span id="when"></span> <span id="status"></span></h1>
<div id="switches"></div>
<script>
const HISTORY = 180;
const hist = new Map(); // port -> {t:[], rx:[], tx:[]} of frames/s
let prev = null;
function el(tag, attrs, text) {
  const e = tag.startsWith('svg:') ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function fmt(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + ' G';
  if (n >= 1e6) return (n / 1e6).toFixed(2) + ' M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + ' k';
  return n.toFixed(0) + ' ';
}
function topology(sw) {
  const n = sw.ports.length, W = 360, H = 220, cx = W / 2, cy = H / 2, r = 80;
  const svg = el('svg:svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
  sw.ports.forEach((p, i) => {
    const a = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2;
    const x = cx + r * Math.cos(a), y = cy + r * Math.sin(a);
    svg.append(el('svg:line', { x1: cx, y1: cy, x2: x, y2: y, stroke: '#999' }));
    svg.append(el('svg:circle', { cx: x, cy: y, r: 7, fill: p.kind === 'tap' ? '#6a6' : p.kind === 'persistent' ? '#aaa' : '#58c' }));
    svg.append(el('svg:text', { x: x + (x >= cx ? 10 : -10), y: y + 4, 'text-anchor': x >= cx ? 'start' : 'end' }, p.name.slice(sw.name.length + 1) + ' (' + p.kind + ')'));
  });
  svg.append(el('svg:rect', { x: cx - 45, y: cy - 16, width: 90, height: 32, rx: 5, fill: '#345' }));
  svg.append(el('svg:text', { x: cx, y: cy + 4, fill: '#fff', 'text-anchor': 'middle' }, sw.name));
  return svg;
}
function plot(h) {
  const W = 180, H = 30, svg = el('svg:svg', { width: W, height: H });
  const max = Math.max(1, ...h.rx, ...h.tx);
  for (const [key, color] of [['rx', '#c60'], ['tx', '#06c']]) {
    const pts = h[key].map((v, i) => (W - (h[key].length - 1 - i) * (W / HISTORY)).toFixed(1) + ',' + (H - 2 - (v / max) * (H - 4)).toFixed(1));
    svg.append(el('svg:polyline', { points: pts.join(' '), fill: 'none', stroke: color }));
  }
  return svg;
}
function render(s) {
  document.getElementById('when').textContent = new Date(s.time).toLocaleTimeString();
  const before = new Map();
  if (prev) for (const sw of prev.switches) for (const p of sw.ports) before.set(p.name, p.counters);
  const dt = prev ? (s.time - prev.time) / 1000 : 0;
  const root = document.getElementById('switches');
  root.replaceChildren();
  for (const sw of s.switches) {
    const box = el('div', { class: 'sw', 'data-switch': sw.name });
    box.append(el('h2', {}, sw.name + ' (switch ' + sw.index + ', ' + sw.ports.length + ' ports, ' + sw.macs + ' MACs)'));
    box.append(topology(sw));
    const t = el('table', {});
    const head = el('tr', {});
    for (const c of ['port', 'kind', 'RX frames/s', 'TX frames/s', 'RX bit/s', 'TX bit/s', 'drops', 'last ' + HISTORY + ' s']) head.append(el('th', {}, c));
    t.append(head);
    for (const p of sw.ports) {
      const b = before.get(p.name), c = p.counters;
      const rate = (k) => (b && dt > 0 ? Math.max(0, (c[k] - b[k]) / dt) : 0);
      const h = hist.get(p.name) || { rx: [], tx: [] };
      h.rx.push(rate('rxPackets')); h.tx.push(rate('txPackets'));
      if (h.rx.length > HISTORY) { h.rx.shift(); h.tx.shift(); }
      hist.set(p.name, h);
      const drops = Object.entries(c).filter(([k]) => k.startsWith('drop')).reduce((a, [, v]) => a + v, 0);
      const tr = el('tr', { 'data-port': p.name });
      tr.append(el('td', {}, p.name), el('td', { class: 'kind' }, p.kind), el('td', { class: 'rxpps' }, fmt(rate('rxPackets'))),
        el('td', { class: 'txpps' }, fmt(rate('txPackets'))), el('td', {}, fmt(rate('rxBytes') * 8)), el('td', {}, fmt(rate('txBytes') * 8)),
        el('td', {}, drops));
      const pc = el('td', {}); pc.append(plot(h)); tr.append(pc);
      t.append(tr);
    }
    box.append(t);
    const macs = (s.macs && s.macs[sw.name]) || [];
    if (macs.length > 0) {
      const mt = el('table', {});
      const mh = el('tr', {});
      for (const c of ['MAC', 'port', 'bucket']) mh.append(el('th', {}, c));
      mt.append(mh);
      for (const m of macs) { const r = el('tr', {}); r.append(el('td', {}, m.mac), el('td', {}, m.portName), el('td', {}, m.bucket)); mt.append(r); }
      box.append(el('div', {}, 'learning table'), mt);
    }
    root.append(box);
  }
  if (s.switches.length === 0) root.append(el('p', {}, 'no switch yet: open a port (e.g. uvale pkt-gen -i vale-a:0 -f tx)'));
  prev = s;
}
const es = new EventSource('/events');
es.onmessage = (m) => { document.getElementById('status').textContent = ''; render(JSON.parse(m.data)); };
es.onerror = () => { document.getElementById('status').textContent = '(disconnected, retrying)'; };
</script></body></html>
`;
