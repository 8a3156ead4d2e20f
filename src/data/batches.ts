// CPU batches for next-item training: the trainer uploads three small Int32 arrays per step and the
// GPU does the rest (issue 4 §2). Rows are left-aligned and every batch is [batchSize, maxLen] by
// default, so the GPU sees one shape all epoch (pipelines and pooled buffers are reused).

import { mulberry32, shuffleInPlace } from './rng.ts';

export interface Batch {
  /** Rows in this batch (the last batch may be short unless dropLast). */
  B: number;
  /** Columns: maxLen, or the longest row when padTo = 'batch'. */
  L: number;
  /** [B, L] item ids, left-aligned; padding = padId (numItems: one past the last real item). */
  items: Int32Array;
  /** [B] number of real items in each row. */
  lengths: Int32Array;
  /** [B, L] next-item targets: targets[b, t] = items[b, t + 1]; -1 at the last real position and in
   *  padding (no target there). */
  targets: Int32Array;
  /** [B] index of each row's sequence in the input array (dense user id for leaveOneOut().train). */
  rows: Int32Array;
}

export interface BatchOptions {
  batchSize: number;
  /** Pad id = numItems (item ids are 0..numItems-1, so padding never collides with an item). */
  numItems: number;
  /** Longer sequences keep their most recent maxLen items (default 200). */
  maxLen?: number;
  /** Shuffle the order of sequences with mulberry32(seed) (default true, seed 0). Pass a new seed per
   *  epoch (e.g. seed + epoch) for a new order; the same seed gives the same batches. */
  shuffle?: boolean;
  seed?: number;
  /** Sequences shorter than this are skipped (default 2: a single item has no next-item target). */
  minLength?: number;
  /** Drop a final short batch (default false). */
  dropLast?: boolean;
  /** 'max' (default): L = maxLen for every batch; 'batch': L = longest row of the batch. */
  padTo?: 'max' | 'batch';
}

export function padId(numItems: number): number {
  return numItems;
}

export function* makeBatches(sequences: Int32Array[], opts: BatchOptions): Generator<Batch> {
  const { batchSize, numItems } = opts;
  const maxLen = opts.maxLen ?? 200;
  const minLength = opts.minLength ?? 2;
  if (!(batchSize >= 1) || !(maxLen >= 1)) throw new Error(`makeBatches: batchSize and maxLen must be ≥ 1 (got ${batchSize}, ${maxLen})`);
  const order: number[] = [];
  sequences.forEach((s, i) => s.length >= minLength && order.push(i));
  if (opts.shuffle ?? true) shuffleInPlace(order, mulberry32(opts.seed ?? 0));
  const pad = padId(numItems);
  for (let start = 0; start < order.length; start += batchSize) {
    const idx = order.slice(start, start + batchSize);
    if (idx.length < batchSize && opts.dropLast) break;
    const B = idx.length;
    const lens = idx.map((i) => Math.min(maxLen, sequences[i].length));
    const L = opts.padTo === 'batch' ? Math.max(...lens) : maxLen;
    const items = new Int32Array(B * L).fill(pad);
    const targets = new Int32Array(B * L).fill(-1);
    const lengths = Int32Array.from(lens);
    idx.forEach((i, b) => {
      const s = sequences[i];
      const row = s.subarray(s.length - lens[b]);
      for (let k = 0; k < row.length; k++) {
        const it = row[k];
        if (it < 0 || it >= numItems) throw new Error(`makeBatches: sequence ${i} holds item id ${it}, outside 0..${numItems - 1}`);
        items[b * L + k] = it;
        if (k > 0) targets[b * L + k - 1] = it;
      }
    });
    yield { B, L, items, lengths, targets, rows: Int32Array.from(idx) };
  }
}
