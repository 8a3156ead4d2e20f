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
  /** [B] first position whose next item is a target: 0, except in a window whose early targets a
   *  window cut later from the same sequence trains (`windowStride`); those positions are context only
   *  and hold -1 in `targets`. */
  firstTarget: Int32Array;
}

export interface BatchOptions {
  batchSize: number;
  /** Pad id = numItems (item ids are 0..numItems-1, so padding never collides with an item). */
  numItems: number;
  /** Longer sequences keep their most recent maxLen items (default 200), or are cut into several
   *  windows (`windowStride`). */
  maxLen?: number;
  /**
   * 0 (default): a sequence longer than maxLen gives one row, its last maxLen items, and the targets
   * before them are never trained. s in 1..maxLen−1: it also gives windows of maxLen items ending s,
   * 2s, … items earlier, down to the one that starts at the sequence's first item; each window trains
   * only its last s targets (the first window all of its own), so every target of the sequence is
   * trained exactly once, with at least maxLen − s items of context before it. s = 1 is RecBole's
   * every-prefix augmentation (full context for every target, maxLen× the positions); s = maxLen − 1
   * cuts windows that share one item.
   */
  windowStride?: number;
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

/** One batch row: items [start, end) of sequence `seq`, next-item targets from position firstTarget. */
interface Window {
  seq: number;
  start: number;
  end: number;
  firstTarget: number;
}

/** The rows sequence `seq` of length n gives (see BatchOptions.windowStride). */
function sequenceWindows(seq: number, n: number, maxLen: number, stride: number): Window[] {
  if (n <= maxLen || stride === 0) return [{ seq, start: Math.max(0, n - maxLen), end: n, firstTarget: 0 }];
  const out: Window[] = [];
  for (let end = n; ; end -= stride) {
    const start = Math.max(0, end - maxLen);
    // Targets are items end − stride .. end − 1 (position = item index − 1 − start); the window that
    // starts at item 0 trains everything before the later windows' targets too.
    out.push({ seq, start, end, firstTarget: start === 0 ? 0 : end - stride - 1 - start });
    if (start === 0) return out.reverse();
  }
}

export function* makeBatches(sequences: Int32Array[], opts: BatchOptions): Generator<Batch> {
  const { batchSize, numItems } = opts;
  const maxLen = opts.maxLen ?? 200;
  const minLength = opts.minLength ?? 2;
  const stride = opts.windowStride ?? 0;
  if (!(batchSize >= 1) || !(maxLen >= 1)) throw new Error(`makeBatches: batchSize and maxLen must be ≥ 1 (got ${batchSize}, ${maxLen})`);
  if (!(Number.isInteger(stride) && stride >= 0 && (stride === 0 || stride < maxLen))) {
    throw new Error(`makeBatches: windowStride must be 0 (last window only) or an integer in 1..maxLen − 1 = ${maxLen - 1} (got ${stride})`);
  }
  const order: Window[] = [];
  sequences.forEach((s, i) => s.length >= minLength && order.push(...sequenceWindows(i, s.length, maxLen, stride)));
  if (opts.shuffle ?? true) shuffleInPlace(order, mulberry32(opts.seed ?? 0));
  const pad = padId(numItems);
  for (let first = 0; first < order.length; first += batchSize) {
    const win = order.slice(first, first + batchSize);
    if (win.length < batchSize && opts.dropLast) break;
    const B = win.length;
    const lens = win.map((w) => w.end - w.start);
    const L = opts.padTo === 'batch' ? Math.max(...lens) : maxLen;
    const items = new Int32Array(B * L).fill(pad);
    const targets = new Int32Array(B * L).fill(-1);
    const lengths = Int32Array.from(lens);
    win.forEach((w, b) => {
      const row = sequences[w.seq].subarray(w.start, w.end);
      for (let k = 0; k < row.length; k++) {
        const it = row[k];
        if (it < 0 || it >= numItems) throw new Error(`makeBatches: sequence ${w.seq} holds item id ${it}, outside 0..${numItems - 1}`);
        items[b * L + k] = it;
        if (k > w.firstTarget) targets[b * L + k - 1] = it;
      }
    });
    yield { B, L, items, lengths, targets, rows: Int32Array.from(win, (w) => w.seq), firstTarget: Int32Array.from(win, (w) => w.firstTarget) };
  }
}
