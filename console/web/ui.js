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
// chart draws points [{t, v}] as an inline SVG line with its min/max labels.
export function chart(points, fmt) {
  const W = 320, H = 110, pad = 18;
  if (!points || points.length < 2) return `<svg viewBox="0 0 ${W} ${H}"><text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#98a2b3" font-size="12">collecting samples…</text></svg>`;
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  const vmax = Math.max(...points.map(p => p.v), 1e-9), vmin = 0;
  const x = t => pad + (W - 2 * pad) * (t - t0) / Math.max(t1 - t0, 1);
  const y = v => H - pad - (H - 2 * pad) * (v - vmin) / (vmax - vmin);
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
  const area = d + ` L${x(t1).toFixed(1)},${y(0)} L${x(t0).toFixed(1)},${y(0)} Z`;
  const span = Math.round((t1 - t0) / 1000);
  return `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">
  <line x1="${pad}" y1="${y(0)}" x2="${W - pad}" y2="${y(0)}" stroke="#e5e7eb"/>
  <line x1="${pad}" y1="${y(vmax)}" x2="${W - pad}" y2="${y(vmax)}" stroke="#f1f5f9"/>
  <path d="${area}" fill="#1f6feb22"/><path d="${d}" fill="none" stroke="#1f6feb" stroke-width="1.6"/>
  <text x="${pad}" y="12" font-size="10" fill="#667085">${esc(fmt(vmax))}</text>
  <text x="${W - pad}" y="${H - 4}" font-size="10" fill="#667085" text-anchor="end">now</text>
  <text x="${pad}" y="${H - 4}" font-size="10" fill="#667085">−${span}s</text></svg>`;
}
