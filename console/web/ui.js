// Small helpers: formatting, decoding, inline SVG charts.
export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
export function fmtBytes(n) {
  if (n == null || isNaN(n)) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + ' ' + u[i];
}
export function fmtNum(n) {
  if (n == null || isNaN(n)) return '';
  return Math.abs(n) >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}
export function fmtAge(s) {
  if (s < 60) return s.toFixed(0) + ' s';
  if (s < 3600) return (s / 60).toFixed(1) + ' min';
  if (s < 86400) return (s / 3600).toFixed(1) + ' h';
  return (s / 86400).toFixed(1) + ' d';
}
function b64bytes(b64) { return Uint8Array.from(atob(b64), c => c.charCodeAt(0)); }
export function decode(text, b64, mode) {
  if (b64 == null) return 'null';
  switch (mode) {
    case 'hex': return Array.from(b64bytes(b64), b => b.toString(16).padStart(2, '0')).join(' ');
    case 'base64': return b64;
    case 'json':
      try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text ?? '(binary)'; }
  }
  return text ?? '(binary: ' + b64bytes(b64).length + ' bytes; choose hex or base64)';
}
// chart draws points [{t, v}] as an inline SVG line (stretched to the box;
// strokes keep their width) with its scale as HTML labels around it.
export function chart(points, fmt) {
  const W = 300, H = 100;
  if (!points || points.length < 2) return '<div class="plot"><div class="empty">collecting samples…</div></div>';
  points = [...points].sort((a, b) => a.t - b.t);
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  const vmax = Math.max(...points.map(p => p.v)) || 1;
  const x = t => (W * (t - t0) / Math.max(t1 - t0, 1)).toFixed(1);
  const y = v => (H - 2 - (H - 6) * v / vmax).toFixed(1);
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t)},${y(p.v)}`).join(' ');
  const span = Math.round((t1 - t0) / 1000);
  const ago = span >= 120 ? Math.round(span / 60) + ' min ago' : span + ' s ago';
  return `<div class="plot"><span class="ymax">${esc(fmt(vmax))}</span>
  <svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none"><line x1="0" y1="${H - 2}" x2="${W}" y2="${H - 2}" stroke="#e5e7eb" vector-effect="non-scaling-stroke"/>
  <path d="${d} L${x(t1)},${H - 2} L0,${H - 2} Z" fill="#1f6feb22" stroke="none"/>
  <path d="${d}" fill="none" stroke="#1f6feb" stroke-width="1.8" vector-effect="non-scaling-stroke"/></svg>
  <div class="xaxis"><span>${ago}</span><span>now</span></div></div>`;
}
