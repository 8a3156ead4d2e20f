// Evaluation on the GPU (issue 4 §2, DESIGN.md §6): score the full catalog (no sampled negatives),
// rank each target, and read back only the ranks [U, T] (or the top-k ids [U, k]), never the score
// matrix: on ML-100K that matrix is 943 × 1682 floats per evaluation, and a read-back is a
// submit-and-wait round trip plus a copy through a staging buffer (DESIGN.md §3).
//
// Scores = users · itemsᵀ with the engine's matmul (items stay [I, d]: DESIGN.md §3 "Layouts"), in
// chunks of users so that one chunk's [Uc, I] matrix stays under `chunkBytes` (default 64 MiB, and never
// over the adapter's maxStorageBufferBindingSize), and in slices of the catalog per dispatch, because
// llvmpipe silently cuts a shader invocation's loops off after ~65535 passes (shaders/rank.wgsl).
//
// Protocol (say it with the results):
// - Items the user interacted with before the target (`exclude`, CSR) are removed from that user's
//   ranking. The target itself is never removed, even if it appears in the list.
// - Tie rule: rank = #candidates scoring strictly higher + #candidates scoring equal with a lower item
//   id (shaders/rank.wgsl). Constant scores give rank = #lower-id candidates, so a collapsed model is not
//   rewarded as "every target first".
// - Several targets per user (zero-shot protocol, paper §4: last 3 interactions): each target is ranked
//   with the user's other targets removed from the competition, so the targets do not push each other
//   down. Per user: Recall@K = hits/T; HR@K = 1 if any target has rank < K; NDCG@K and MRR@10 are the
//   means over the T targets of 1/log2(rank+2) resp. 1/(rank+1) (0 beyond the cut-off). With T = 1
//   all of these are the usual single-target definitions and Recall@K = HR@K.
// - Padding never ranks: the item tensor must hold exactly the real items (pass `numItems` to assert).
// MetricSums hold sums over users, so batches of users accumulate with `addSums`; `finalize` divides.

import type { Engine } from '../gpu/engine.ts';
import type { BufferBinding } from '../gpu/stream.ts';
import { Tensor, ShapeError, TensorError } from '../tensor/tensor.ts';
import { tensor } from '../tensor/ops/creation.ts';
import { matmul } from '../tensor/ops/matmul.ts';
import { T, slice } from '../tensor/ops/layout.ts';
import { engineOf, assertDType, fmt } from '../tensor/ops/util.ts';
import { noGrad } from '../tensor/tape.ts';

export interface Exclusions {
  /** [U + 1] CSR offsets into `items`. */
  offsets: Int32Array;
  /** Item ids, any order, duplicates allowed. */
  items: Int32Array;
}

export interface EvalBatch {
  /** [U, d] user vectors. */
  users: Tensor;
  /** [U] target item per user, or [U·T] row-major (T targets per user). */
  targets: Int32Array;
  /** T, default 1. */
  targetsPerUser?: number;
  /** Items removed from each user's ranking (seen before the target; never the target itself). */
  exclude?: Exclusions;
}

export interface EvalOptions {
  /** Catalog items per rank dispatch (default 16384; tests force small slices). */
  sliceItems?: number;
  /** Cut-offs for HR, NDCG and Recall (default [5, 10, 20, 50, 100]). MRR is always MRR@10. */
  ks?: number[];
  /** If given, items must have exactly this many rows (padding rows must be sliced off). */
  numItems?: number;
  /** Bound on one chunk's score matrix in bytes (default 64 MiB). */
  chunkBytes?: number;
  /** Users per chunk (overrides chunkBytes; tests use it to exercise the chunk loop). */
  chunkUsers?: number;
}

export interface MetricSums {
  /** Number of users summed. */
  count: number;
  hr: Record<number, number>;
  ndcg: Record<number, number>;
  mrr10: number;
  recall: Record<number, number>;
}

export const DEFAULT_KS = [5, 10, 20, 50, 100];
const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;
// The bound (recommendation lists); insertion costs grow with k.
const MAX_TOPK = 100;
const WG = 64;

function checkVectors(op: string, items: Tensor, users: Tensor, numItems?: number): Engine {
  const e = engineOf(op, items, users);
  assertDType(op, items, 'f32');
  assertDType(op, users, 'f32');
  if (items.rank !== 2 || users.rank !== 2 || items.shape[1] !== users.shape[1]) {
    throw new ShapeError(op, `expected items [I, d] and users [U, d], got items ${fmt(items.shape)} and users ${fmt(users.shape)}`);
  }
  if (numItems !== undefined && items.shape[0] !== numItems) {
    throw new ShapeError(op, `items ${fmt(items.shape)} has ${items.shape[0]} rows but numItems is ${numItems}: slice padding rows off so that padding never ranks`);
  }
  return e;
}

function checkExclusions(op: string, ex: Exclusions, U: number, I: number): void {
  const { offsets, items } = ex;
  if (offsets.length !== U + 1) throw new ShapeError(op, `exclude.offsets has ${offsets.length} entries, expected U + 1 = ${U + 1}`);
  if (offsets[0] !== 0 || offsets[U] !== items.length) {
    throw new ShapeError(op, `exclude.offsets must start at 0 and end at exclude.items.length (${items.length}); got ${offsets[0]} … ${offsets[U]}`);
  }
  for (let u = 0; u < U; u++) {
    if (offsets[u + 1] < offsets[u]) throw new ShapeError(op, `exclude.offsets decreases at user ${u} (${offsets[u]} → ${offsets[u + 1]})`);
    for (let p = offsets[u]; p < offsets[u + 1]; p++) {
      const it = items[p];
      if (!(it >= 0 && it < I)) throw new ShapeError(op, `exclude.items[${p}] = ${it} (user ${u}) is not an item id in [0, ${I})`);
    }
  }
}

/**
 * CSR with one row per (user, slot) of `extra.length / U` slots (1 when no extra): the user's
 * exclusions plus the user's other extra ids, minus the slot's own id; sorted ascending and unique
 * (shaders/rank.wgsl walks each row with one pointer and finds a slice's start by binary search).
 */
function exclusionRows(ex: Exclusions | undefined, U: number, targets: Int32Array | null, T: number): { offsets: Int32Array; items: Int32Array } {
  const offsets = new Int32Array(U * T + 1);
  const out: number[] = [];
  for (let u = 0; u < U; u++) {
    const base: number[] = ex ? Array.from(ex.items.subarray(ex.offsets[u], ex.offsets[u + 1])) : [];
    for (let t = 0; t < T; t++) {
      const set = new Set(base);
      if (targets) {
        for (let o = 0; o < T; o++) if (o !== t) set.add(targets[u * T + o]);
        set.delete(targets[u * T + t]);
      }
      const row = Int32Array.from(set).sort();
      for (const v of row) out.push(v);
      offsets[u * T + t + 1] = out.length;
    }
  }
  return { offsets, items: Int32Array.from(out) };
}

// Items per dispatch: llvmpipe stops an invocation's loops after ~65535 passes in total (see
// shaders/rank.wgsl); the rank loop makes ~1–2 passes per item, a top-k insertion up to k + 1.
const RANK_SLICE = 16384;
const TOPK_BUDGET = 16384;

function chunkRows(op: string, e: Engine, I: number, U: number, opts: { chunkBytes?: number; chunkUsers?: number }): number {
  const maxBind = e.device.limits.maxStorageBufferBindingSize;
  if (I * 4 > maxBind) throw new ShapeError(op, `one row of scores (${I} items) exceeds maxStorageBufferBindingSize ${maxBind}`);
  if (opts.chunkUsers !== undefined) {
    if (!(Number.isInteger(opts.chunkUsers) && opts.chunkUsers >= 1)) throw new TensorError(`${op}: chunkUsers must be a positive integer, got ${opts.chunkUsers}`);
    return Math.min(opts.chunkUsers, Math.floor(maxBind / (I * 4)), Math.max(U, 1));
  }
  const bytes = Math.min(opts.chunkBytes ?? DEFAULT_CHUNK_BYTES, maxBind);
  return Math.max(1, Math.min(Math.floor(bytes / (Math.max(I, 1) * 4)), Math.max(U, 1)));
}

/**
 * Scores for users [u0, u1) (a [Uc, I] tensor the caller disposes). noGrad: evaluation never records.
 */
function chunkScores(items: Tensor, users: Tensor, u0: number, u1: number): Tensor {
  return noGrad(() => {
    const uc = slice(users, 0, u0, u1);
    const it = T(items);
    const s = matmul(uc, it);
    uc.dispose();
    it.dispose();
    return s;
  });
}

function dispatchRows(e: Engine, entry: string, buffers: Record<string, BufferBinding>, params: Record<string, number>, rows: number): void {
  const k = e.kernels.get('rank', entry, { WG });
  const [x, y] = e.grid(Math.ceil(rows / WG));
  e.stream.dispatch(k, buffers, params, [x, y]);
}

/**
 * The rank of every target ([U·T], row-major per user) over the full catalog, with the tie and
 * exclusion rules above. Only this array is read back from the GPU.
 */
export async function rankTargets(items: Tensor, batch: EvalBatch, opts: EvalOptions = {}): Promise<Int32Array> {
  const op = 'rankTargets';
  const { users, targets } = batch;
  const e = checkVectors(op, items, users, opts.numItems);
  const I = items.shape[0];
  const U = users.shape[0];
  const Tn = batch.targetsPerUser ?? 1;
  if (!(Number.isInteger(Tn) && Tn >= 1)) throw new ShapeError(op, `targetsPerUser must be a positive integer, got ${Tn}`);
  if (targets.length !== U * Tn) throw new ShapeError(op, `targets has ${targets.length} entries, expected users ${fmt(users.shape)} × ${Tn} targets = ${U * Tn}`);
  for (let i = 0; i < targets.length; i++) {
    if (!(targets[i] >= 0 && targets[i] < I)) throw new ShapeError(op, `targets[${i}] = ${targets[i]} (user ${Math.floor(i / Tn)}) is not an item id in [0, ${I}) (items ${fmt(items.shape)})`);
  }
  if (U === 0) return new Int32Array(0);
  if (batch.exclude) checkExclusions(op, batch.exclude, U, I);
  const ex = exclusionRows(batch.exclude, U, targets, Tn);
  const rows = chunkRows(op, e, I, U, opts);
  const step = sliceSize(op, opts.sliceItems ?? RANK_SLICE);

  const tg = tensor(targets, [U * Tn], { dtype: 'i32', engine: e });
  const off = tensor(ex.offsets, [ex.offsets.length], { dtype: 'i32', engine: e });
  const exi = tensor(ex.items, [ex.items.length], { dtype: 'i32', engine: e });
  const ranks = Tensor.empty([U * Tn], 'i32', e);
  try {
    for (let u0 = 0; u0 < U; u0 += rows) {
      const u1 = Math.min(U, u0 + rows);
      const s = chunkScores(items, users, u0, u1);
      try {
        for (let j0 = 0; j0 < I; j0 += step) {
          dispatchRows(
            e,
            'rank_targets',
            { scores: s.binding(op), targets: tg.binding(op), ex_off: off.binding(op), ex_items: exi.binding(op), ranks: ranks.binding(op) },
            { nu: u1 - u0, t: Tn, ni: I, u0, j0, j1: Math.min(I, j0 + step), first: j0 === 0 ? 1 : 0 },
            (u1 - u0) * Tn,
          );
        }
      } finally {
        s.dispose(); // the pool hands it out again only to work encoded after these dispatches
      }
    }
    return (await ranks.data()) as Int32Array;
  } finally {
    tg.dispose();
    off.dispose();
    exi.dispose();
    ranks.dispose();
  }
}

function sliceSize(op: string, n: number): number {
  if (!(Number.isInteger(n) && n >= 1)) throw new TensorError(`${op}: sliceItems must be a positive integer, got ${n}`);
  return n;
}

export function emptySums(ks: readonly number[] = DEFAULT_KS): MetricSums {
  const z = () => Object.fromEntries(ks.map((k) => [k, 0])) as Record<number, number>;
  return { count: 0, hr: z(), ndcg: z(), mrr10: 0, recall: z() };
}

function checkKs(ks: readonly number[]): void {
  if (ks.length === 0 || ks.some((k) => !(Number.isInteger(k) && k >= 1))) throw new TensorError(`evaluate: ks must be positive integers, got [${ks.join(', ')}]`);
}

/** Metric sums from ranks [U·T] (CPU; ranks are all that came back from the GPU). */
export function sumsFromRanks(ranks: Int32Array, targetsPerUser: number, ks: readonly number[] = DEFAULT_KS): MetricSums {
  checkKs(ks);
  const Tn = targetsPerUser;
  const U = ranks.length / Tn;
  const s = emptySums(ks);
  s.count = U;
  for (let u = 0; u < U; u++) {
    let best = Infinity;
    let mrr = 0;
    for (let t = 0; t < Tn; t++) {
      const r = ranks[u * Tn + t];
      best = Math.min(best, r);
      if (r < 10) mrr += 1 / (r + 1);
      for (const k of ks) {
        if (r < k) {
          s.recall[k] += 1 / Tn;
          s.ndcg[k] += 1 / Math.log2(r + 2) / Tn;
        }
      }
    }
    s.mrr10 += mrr / Tn;
    for (const k of ks) if (best < k) s.hr[k] += 1;
  }
  return s;
}

/** Metric sums for one batch of users (accumulate batches with addSums, then finalize). */
export async function evaluate(items: Tensor, batch: EvalBatch, opts: EvalOptions = {}): Promise<MetricSums> {
  const ks = opts.ks ?? DEFAULT_KS;
  checkKs(ks);
  const ranks = await rankTargets(items, batch, opts);
  return sumsFromRanks(ranks, batch.targetsPerUser ?? 1, ks);
}

/** a + b (same cut-offs). */
export function addSums(a: MetricSums, b: MetricSums): MetricSums {
  const add = (x: Record<number, number>, y: Record<number, number>) => {
    const kx = Object.keys(x).join();
    if (kx !== Object.keys(y).join()) throw new TensorError(`addSums: cut-offs differ ([${kx}] vs [${Object.keys(y).join()}])`);
    return Object.fromEntries(Object.keys(x).map((k) => [k, x[+k] + y[+k]])) as Record<number, number>;
  };
  return { count: a.count + b.count, hr: add(a.hr, b.hr), ndcg: add(a.ndcg, b.ndcg), mrr10: a.mrr10 + b.mrr10, recall: add(a.recall, b.recall) };
}

/** Means over users: {'HR@10': …, 'NDCG@10': …, 'MRR@10': …, 'Recall@5': …}. */
export function finalize(s: MetricSums): Record<string, number> {
  if (!(s.count > 0)) throw new TensorError('finalize: no users were evaluated (count is 0)');
  const out: Record<string, number> = {};
  for (const k of Object.keys(s.hr)) out[`HR@${k}`] = s.hr[+k] / s.count;
  for (const k of Object.keys(s.ndcg)) out[`NDCG@${k}`] = s.ndcg[+k] / s.count;
  out['MRR@10'] = s.mrr10 / s.count;
  for (const k of Object.keys(s.recall)) out[`Recall@${k}`] = s.recall[+k] / s.count;
  return out;
}

/**
 * Each user's k best items ([U·k] row-major, best first; ties → lower id), excluded items removed;
 * −1 fills the slots when fewer than k items remain (e.g. k > I). k ≤ 100. Only [U, k] is read back.
 */
export async function topKItems(items: Tensor, users: Tensor, k: number, exclude?: Exclusions, opts: Pick<EvalOptions, 'chunkBytes' | 'chunkUsers' | 'numItems' | 'sliceItems'> = {}): Promise<Int32Array> {
  const op = 'topKItems';
  const e = checkVectors(op, items, users, opts.numItems);
  if (!(Number.isInteger(k) && k >= 1 && k <= MAX_TOPK)) throw new ShapeError(op, `k must be an integer in [1, ${MAX_TOPK}], got ${k}`);
  const I = items.shape[0];
  const U = users.shape[0];
  if (U === 0) return new Int32Array(0);
  if (exclude) checkExclusions(op, exclude, U, I);
  const ex = exclusionRows(exclude, U, null, 1);
  const rows = chunkRows(op, e, I, U, opts);
  const step = sliceSize(op, opts.sliceItems ?? Math.max(1, Math.floor(TOPK_BUDGET / (k + 1))));
  const off = tensor(ex.offsets, [U + 1], { dtype: 'i32', engine: e });
  const exi = tensor(ex.items, [ex.items.length], { dtype: 'i32', engine: e });
  const top = Tensor.empty([U * k], 'i32', e);
  const topS = Tensor.empty([U * k], 'f32', e);
  try {
    for (let u0 = 0; u0 < U; u0 += rows) {
      const u1 = Math.min(U, u0 + rows);
      const s = chunkScores(items, users, u0, u1);
      try {
        // At least one dispatch (I = 0 still initialises the lists to −1).
        for (let j0 = 0; j0 === 0 || j0 < I; j0 += step) {
          dispatchRows(
            e,
            'topk_items',
            { scores: s.binding(op), ex_off: off.binding(op), ex_items: exi.binding(op), top: top.binding(op), top_s: topS.binding(op) },
            { nu: u1 - u0, ni: I, u0, k, j0, j1: Math.min(I, j0 + step), first: j0 === 0 ? 1 : 0 },
            u1 - u0,
          );
        }
      } finally {
        s.dispose();
      }
    }
    return (await top.data()) as Int32Array;
  } finally {
    off.dispose();
    exi.dispose();
    top.dispose();
    topS.dispose();
  }
}
