// A loss curve as a standalone SVG: train loss per step, validation loss as points.

export interface CurvePoint { step: number; loss: number }

export function lossCurveSvg(train: CurvePoint[], val: CurvePoint[], title = 'loss'): string {
  const W = 720, H = 360, L = 56, R = 16, T = 28, B = 40;
  const all = [...train, ...val].filter((p) => Number.isFinite(p.loss));
  const maxStep = Math.max(1, ...all.map((p) => p.step));
  let lo = Math.min(...all.map((p) => p.loss)), hi = Math.max(...all.map((p) => p.loss));
  if (!all.length) { lo = 0; hi = 1; }
  if (hi - lo < 1e-6) { hi += 0.5; lo -= 0.5; }
  const x = (s: number) => L + ((W - L - R) * s) / maxStep;
  const y = (v: number) => T + ((H - T - B) * (hi - v)) / (hi - lo);
  const path = train.filter((p) => Number.isFinite(p.loss)).map((p, i) => `${i ? 'L' : 'M'}${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join('');
  const ticks = Array.from({ length: 5 }, (_, i) => lo + ((hi - lo) * i) / 4);
  const esc = (s: string) => s.replace(/[<&>]/g, (c) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;' })[c]!);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>
${ticks.map((v) => `<line x1="${L}" x2="${W - R}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/><text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(2)}</text>`).join('\n')}
<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#444"/>
<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#444"/>
<text x="${L}" y="${H - B + 16}" text-anchor="middle">0</text>
<text x="${W - R}" y="${H - B + 16}" text-anchor="end">${maxStep}</text>
<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">step</text>
<path d="${path}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>
${val.filter((p) => Number.isFinite(p.loss)).map((p) => `<circle cx="${x(p.step).toFixed(1)}" cy="${y(p.loss).toFixed(1)}" r="3.5" fill="#d62728"/>`).join('\n')}
<g transform="translate(${W - R - 150},${T + 6})"><line x1="0" x2="18" y1="0" y2="0" stroke="#1f77b4" stroke-width="2"/><text x="24" y="4">train loss</text>
<circle cx="9" cy="16" r="3.5" fill="#d62728"/><text x="24" y="20">val loss</text></g>
</svg>
`;
}
