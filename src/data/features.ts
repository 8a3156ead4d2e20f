// Non-text modalities: categorical fields as multi-hot, numeric fields standardised. Numeric policy
// (documented in README.md): the modality is present when any of its fields is; a missing field is
// imputed with the field's mean, i.e. 0 after standardising, so it adds no signal either way. Mean and
// std are over items that have the field (std 0 → 1 so a constant field is all zeros, not NaN).

import type { Modality } from './dataset.ts';

/** values[i] = the field's raw values for item i (already split on '|'); empty list = missing. */
export function multiHot(name: string, values: string[][], vocab?: string[]): Modality & { vocab: string[] } {
  const voc = vocab ?? [...new Set(values.flat())].sort();
  const at = new Map(voc.map((v, k) => [v, k]));
  const n = values.length;
  const dim = voc.length;
  const out = new Float32Array(n * dim);
  const present = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    for (const v of values[i]) {
      const k = at.get(v);
      if (k === undefined) continue;
      out[i * dim + k] = 1;
      present[i] = 1;
    }
  }
  return { name, dim, values: out, present, vocab: voc };
}

/** Splits a categorical cell: '|' separates values; blanks dropped; empty cell = no values. */
export function splitCategories(cell: string): string[] {
  return cell.split('|').map((s) => s.trim()).filter((s) => s !== '');
}

/** columns[f][i] = field f of item i (NaN = missing). */
export function standardised(name: string, columns: Float64Array[]): Modality & { mean: number[]; std: number[] } {
  const dim = columns.length;
  const n = dim ? columns[0].length : 0;
  const values = new Float32Array(n * dim);
  const present = new Uint8Array(n);
  const mean: number[] = [];
  const std: number[] = [];
  columns.forEach((col, f) => {
    let s = 0, c = 0;
    for (const v of col) if (!Number.isNaN(v)) { s += v; c++; }
    const m = c ? s / c : 0;
    let q = 0;
    for (const v of col) if (!Number.isNaN(v)) q += (v - m) ** 2;
    const sd = c > 1 ? Math.sqrt(q / c) : 0;
    const div = sd > 0 ? sd : 1;
    mean.push(m);
    std.push(sd);
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(col[i])) continue;
      values[i * dim + f] = (col[i] - m) / div;
      present[i] = 1;
    }
  });
  return { name, dim, values, present, mean, std };
}
