// Hand-written canvas charts. Why not a charting package: the demo needs four simple kinds (lines,
// a heatmap, a scatter, bars), redrawn a few times a second while the GPU (on the CPU adapters: the
// same cores) trains; ~200 lines of canvas code add no dependency, no bundle weight and draw
// identically in headless Chromium, which keeps the test screenshots stable.

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
  '#393b79', '#ad494a', '#8ca252', '#bd9e39', '#7b4173', '#3182bd', '#e6550d', '#31a354', '#756bb1', '#636363'];

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

function setup(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width;
  const h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  return ctx;
}

const size = (c: HTMLCanvasElement) => [c.clientWidth || c.width, c.clientHeight || c.height];

function tick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return v.toExponential(1);
  return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/** Line chart; `marks` are vertical lines with labels (stage boundaries). */
export function lineChart(canvas: HTMLCanvasElement, title: string, series: Series[], opts: { marks?: { x: number; label: string }[]; xLabel?: string } = {}): void {
  const ctx = setup(canvas);
  const [W, H] = size(canvas);
  const pad = { l: 46, r: 8, t: 18, b: 20 };
  ctx.fillStyle = '#222';
  ctx.fillText(title, pad.l, 12);
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (!pts.length) {
    ctx.fillStyle = '#999';
    ctx.fillText('no data yet', W / 2 - 25, H / 2);
    return;
  }
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5 * Math.abs(y0 || 1), y1 + 0.5 * Math.abs(y1 || 1)];
  const X = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (W - pad.l - pad.r);
  const Y = (y: number) => H - pad.b - ((y - y0) / (y1 - y0)) * (H - pad.t - pad.b);
  ctx.strokeStyle = '#ccc';
  ctx.beginPath();
  ctx.moveTo(pad.l, pad.t);
  ctx.lineTo(pad.l, H - pad.b);
  ctx.lineTo(W - pad.r, H - pad.b);
  ctx.stroke();
  ctx.fillStyle = '#666';
  for (const y of [y0, (y0 + y1) / 2, y1]) ctx.fillText(tick(y), 2, Y(y) + 4);
  ctx.fillText(String(Math.round(x0)), pad.l, H - 6);
  const xr = String(Math.round(x1)) + (opts.xLabel ? ` ${opts.xLabel}` : '');
  ctx.fillText(xr, W - pad.r - ctx.measureText(xr).width, H - 6);
  for (const m of opts.marks ?? []) {
    if (m.x < x0 || m.x > x1) continue;
    ctx.strokeStyle = '#bbb';
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(X(m.x), pad.t);
    ctx.lineTo(X(m.x), H - pad.b);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = '#999';
    ctx.fillText(m.label, X(m.x) + 3, pad.t + 9);
  }
  series.forEach((s, si) => {
    const p = s.points.filter(([, y]) => Number.isFinite(y));
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    p.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    ctx.stroke();
    if (p.length <= 40) for (const [x, y] of p) ctx.fillRect(X(x) - 2, Y(y) - 2, 4, 4);
    if (series.length > 1) ctx.fillText(s.name, W - pad.r - 90, pad.t + 12 * si + 8);
  });
  ctx.lineWidth = 1;
}

/**
 * One row of cells per block (value in [0, 1] → colour), outlined when `selected`, with the item ids
 * of the block written inside: the SAL view's "history as blocks".
 */
export function blockHeatmap(canvas: HTMLCanvasElement, blocks: { items: string[]; weight: number; selected: boolean; rank: number; inWindow: boolean[] }[]): void {
  const ctx = setup(canvas);
  const [W] = size(canvas);
  const rowH = 20;
  const labelW = 150;
  const bs = Math.max(1, ...blocks.map((b) => b.items.length));
  const cellW = Math.max(16, Math.min(60, (W - labelW - 10) / bs));
  blocks.forEach((b, r) => {
    const y = 4 + r * rowH;
    const t = Math.max(0, Math.min(1, b.weight));
    ctx.fillStyle = `rgb(${Math.round(255 - 200 * t)}, ${Math.round(255 - 120 * t)}, 255)`;
    ctx.fillRect(labelW, y, cellW * b.items.length, rowH - 3);
    b.items.forEach((it, k) => {
      if (b.inWindow[k]) {
        ctx.fillStyle = 'rgba(255, 165, 0, 0.55)';
        ctx.fillRect(labelW + k * cellW, y + rowH - 7, cellW - 1, 4);
      }
      ctx.fillStyle = '#111';
      ctx.fillText(it, labelW + k * cellW + 2, y + 12);
    });
    if (b.selected) {
      ctx.strokeStyle = '#d62728';
      ctx.lineWidth = 2;
      ctx.strokeRect(labelW - 1, y - 1, cellW * b.items.length + 2, rowH - 1);
      ctx.lineWidth = 1;
    }
    ctx.fillStyle = '#333';
    ctx.fillText(`block ${r}  w=${b.weight.toFixed(3)}${b.selected ? `  top-${b.rank + 1}` : ''}`, 2, y + 12);
  });
}

/** Scatter of 2-D points coloured by group. */
export function scatter(canvas: HTMLCanvasElement, title: string, xy: Float32Array, group: Int32Array, names: string[]): void {
  const ctx = setup(canvas);
  const [W, H] = size(canvas);
  ctx.fillStyle = '#222';
  ctx.fillText(title, 6, 12);
  const n = xy.length / 2;
  if (!n) return;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    x0 = Math.min(x0, xy[2 * i]);
    x1 = Math.max(x1, xy[2 * i]);
    y0 = Math.min(y0, xy[2 * i + 1]);
    y1 = Math.max(y1, xy[2 * i + 1]);
  }
  const pad = 18;
  const sx = (W - 2 * pad - 80) / (x1 - x0 || 1);
  const sy = (H - 2 * pad) / (y1 - y0 || 1);
  for (let i = 0; i < n; i++) {
    ctx.fillStyle = PALETTE[group[i] % PALETTE.length];
    ctx.globalAlpha = 0.75;
    ctx.beginPath();
    ctx.arc(pad + (xy[2 * i] - x0) * sx, H - pad - (xy[2 * i + 1] - y0) * sy, 2.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.globalAlpha = 1;
  const used = [...new Set(group)].sort((a, b) => a - b).slice(0, 20);
  used.forEach((g, k) => {
    ctx.fillStyle = PALETTE[g % PALETTE.length];
    ctx.fillRect(W - 78, 20 + k * 12, 8, 8);
    ctx.fillStyle = '#333';
    ctx.fillText(names[g] ?? String(g), W - 66, 28 + k * 12);
  });
}
