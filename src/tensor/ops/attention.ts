// Blocked sparse attention for MUFASA's SAL (paper §3.2, eq. 6–12; DESIGN.md §4), NSA-style:
// causal/windowed attention, attention over block embeddings, top-k block selection, and selective
// attention over the selected blocks' items (shaders/sparse_attention.wgsl, shaders/topk.wgsl).
//
// Conventions shared by every op here:
// - q, k, v are [B, L, d]; sequences are left-aligned with `lengths` (i32 [B], 1 ≤ len ≤ L): positions
//   t ≥ len are padding, their outputs are 0 and they are never keys.
// - Queries are every position t (training on every prefix), or with `lastOnly` only t = len − 1
//   (the paper's h_L; q and the output are then [B, 1, d]).
// - Scale 1/√d. A query with no keys outputs 0 (its stored lse is the lowest finite f32, standing for
//   −∞, so no NaN reaches backward).
//
// Why these kernel shapes: one thread per query (forward, dQ) and one per key row (dK/dV) — or on the
// software adapters up to 4 of them, see "Rows per thread" below — no barriers, no atomics — barriers dominate on the CPU adapters (reduce.ts rowConfig: softmax over 1M elements,
// d = 8, 5.8 ms with a thread per row against 4128 ms with a 256-thread workgroup per row on llvmpipe),
// and per-destination loops keep backward deterministic (DESIGN.md §3). Only the log-sum-exp is stored
// (never the L×L weights); backward forms Δ_t = Σ o_t·dO_t first, then separate dQ and dK/dV kernels
// (FlashAttention-2 / NSA). A workgroup-cooperative variant for real GPUs is not written yet.
// blockAttention over every position is the exception: batched matmuls on the [B, L, L/bs] scores
// (blockAttentionMM, measured there).
//
// Why selective dK/dV walks an inverse index: scanning, for key j, every later query's k selected
// blocks is O(L²·k) per sequence (B = 64, d = 64, bs = 8, k = 4, fwd+bwd on llvmpipe-GL: 4.0 s at
// L = 800; with today's register kernels the same scan inside attn_dkv_sel still made the whole SAL
// step 1.4× slower at L = 800, 2.2 → 3.1 s). Each recorded call builds the index once, and
// attn_dkv_sel walks its block's run: O(L·k·bs), same summation order (ascending t). The index used to
// be (b·nb + block, query row) pairs sorted with bitonicSortPairs: 37 dispatches at B = 64, L = 200.
// Now one thread per (sequence, block) counts its entries, and a second pass writes them where the
// sequence's earlier blocks' counts end (attn_inv_count / attn_inv_fill): 2 dispatches. SAL at L = 200
// went from 131 to 96 dispatches per fwd+bwd step, and the index from ≈ 55 to ≈ 5 ms on llvmpipe
// (`npm run bench -- attention --profile`).
//
// Why accumulators live in registers only up to d = 64 (REG): with q/acc rows in private array<vec4f, 64> indexed in loops bounded by the override ⌈d/4⌉,
// the first dispatch (pipeline compile) on llvmpipe-GL took 7.3 s (forward) and 31 s (backward) at
// d = 64 (3.1 s / 11 s with array<vec4f, 16>). Streaming everything from global memory compiles in
// ~0.1 s, but its in-place output update cost: B = 64, L = 200, d = 64, dense causal forward 870 ms
// (350 ms of it the scores). Register accumulators in array<vec4f, 16> with the const bound 16 and an
// `if (c < D4)` guard compile in ~0.3 s and ran that forward in 420 ms; fwd+bwd 3.7 s → 1.4 s dense,
// 1.1 s → 0.45 s selective (k = 4, bs = 8). d > 64 keeps the streaming path (tested at d = 70).
// With REG the thread's own fixed rows (forward/dQ: q and dO; dK/dV: its k and v) are also loaded once
// into the same kind of arrays, each streamed row is loaded once per key (dQ used to read k twice, dK/dV
// q and dO twice), and the dot products run over those unrolled vec4 chunks: per-kernel profile
// (`npm run bench -- attention --profile`), B = 64, L = 200, d = 64, window 8 fwd+bwd 182 → 147 ms,
// dense causal dK/dV 1386 → 470 ms, selective dK/dV 291 → 169 ms.
// (llvmpipe-GL, 2 cores shared with other jobs: timings are approximate.)
//
// Why rows are vec4-typed and d is padded to a multiple of 4: the kernels used to bind array<f32> and
// build each vec4 from four scalar loads (a tail test for d % 4 ≠ 0). On llvmpipe every lane's scalar
// load is a gather; binding array<vec4f> made the same profile's kernels 2.2–2.4× faster (dense causal
// fwd+bwd kernels 474 → 202 ms, selective 165 → 69 ms). attend() pads q, k, v with zero columns
// (differentiable concat, then a slice of the output) when d % 4 ≠ 0; the scale stays 1/√d.
//
// Rows per thread (QPT, software adapters only): causal/windowed forward and dQ take up to 4
// consecutive queries of a sequence per thread, dK/dV up to 4 consecutive keys, and selective dK/dV up
// to 4 keys of one block (which share the block's run of the inverse index), so each streamed row is
// loaded once for all of them. A row outside one query's (key's) range gets weight 0, an exact no-op,
// so results are the same bits as one row per thread (tested). Same profile: dense causal kernels
// 202 → 85 ms (forward 60 → 23, dQ 62 → 28, dK/dV 80 → 35), selective dK/dV 26 → 14 ms. On a GPU the
// 4·3 register rows of d would spill and B·L/4 threads under-fill the device, so it keeps one row per
// thread there (not measured: setAttentionQueriesPerThread forces either on any adapter).
//
// Window semantics (paper §3.2.1, eq. 6–7): the text says "the W items immediately preceding the most
// recent item", the keys are H[L−W : L] and the mask allows j ∈ [L − W, L] — W or W + 1 positions
// depending on how the bounds are read, and whether h_L itself is a key is left open. We take the W
// most recent items up to and including t: keys max(0, t − W + 1) … t, so the window holds exactly W
// items, W = 1 is attention to t alone, and the query always has at least one key.
//
// Block visibility (paper §3.2.2, eq. 8–9, and NSA's causal compression): block b covers items
// [b·bs, (b+1)·bs) and is visible to query t only if (b+1)·bs ≤ t, i.e. it ends before t: a block
// embedding mixes all of its items, so a block containing t (or anything after t) would leak the
// present or the future into a causal query. Queries t < bs therefore see no block (output 0).

import type { Engine } from '../../gpu/engine.ts';
import { Tensor, ShapeError, TensorError, contiguousStrides } from '../tensor.ts';
import { record } from '../tape.ts';
import { bindable, slice, padLastDim, T as tr } from './layout.ts';
import { engineOf, assertDType, fmt } from './util.ts';
import { matmul } from './matmul.ts';
import { tidy } from '../scope.ts';

/** Largest k for selectBlocks (KCAP in shaders/topk.wgsl). */
export const SELECT_MAX_K = 32;

const MODE = { causal: 0, block: 1, selective: 2 } as const;
/** 4·RCAP in shaders/sparse_attention.wgsl. */
const REG_MAX_DIM = 64;
/**
 * Rows per thread of the *_q kernels on the software adapters: B = 64, L = 200, d = 64 causal forward
 * on llvmpipe-GL, 61 ms with one query per thread, 35 ms with 2, 28 ms with 4 (first compile 0.4, 0.6,
 * 1.5 s), in a standalone copy of the kernel.
 */
const QPT_SOFTWARE = 4;
/** attn_forward_q's QCAP: the most queries one thread takes. */
export const ATTENTION_MAX_QPT = 4;
let qptSetting: 'auto' | number = 'auto';

/**
 * Queries per thread of the causal/windowed kernels over every position: 'auto' (QPT_SOFTWARE on the
 * software adapters, 1 on a GPU), or 1 … ATTENTION_MAX_QPT on any adapter. Results are the same bits
 * whatever the setting; tests use it to run the path the other kind of adapter takes.
 */
export function setAttentionQueriesPerThread(n: 'auto' | number): void {
  if (n !== 'auto' && !(Number.isInteger(n) && n >= 1 && n <= ATTENTION_MAX_QPT)) {
    throw new TensorError(`setAttentionQueriesPerThread: expects 'auto' or an integer 1 … ${ATTENTION_MAX_QPT}, got ${n}`);
  }
  qptSetting = n;
}

export interface CausalAttentionOptions {
  /** W > 0: keys max(0, t−W+1) … t (the W most recent items up to and including t). 0/undefined: all j ≤ t. */
  window?: number;
  /**
   * Sequences longer than `longerThan` items use `window` instead of the one above (0: all j ≤ t):
   * SAL's rule (paper §3.2.1: W = 8 above 30 items, else 4) in one pass instead of two.
   */
  longWindow?: { window: number; longerThan: number };
  /** Only the query t = len − 1 (q is [B, 1, d]). */
  lastOnly?: boolean;
}

export interface BlockOptions {
  blockSize: number;
  lastOnly?: boolean;
}

export interface SelectOptions extends BlockOptions {
  /** Blocks to select per query, 1 … 32. */
  k: number;
}

function wgOf(e: Engine): number {
  // 64 threads: small (B·L of a few hundred queries) launches still spread over both cores here.
  return Math.min(64, e.device.limits.maxComputeInvocationsPerWorkgroup, e.device.limits.maxComputeWorkgroupSizeX);
}


function posInt(op: string, name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new TensorError(`${op}: ${name} must be an integer ≥ ${min}, got ${v}`);
  return v;
}

/** Checks shared by all ops; returns [B, Lq, d]. */
function checkQuery(op: string, q: Tensor, lengths: Tensor, lastOnly: boolean): [number, number, number] {
  assertDType(op, q, 'f32');
  assertDType(op, lengths, 'i32');
  if (q.rank !== 3) throw new ShapeError(op, `q must be [B, L, d], got ${fmt(q.shape)}`);
  const [B, Lq, d] = q.shape;
  if (lengths.rank !== 1 || lengths.shape[0] !== B) throw new ShapeError(op, `lengths must be [B] = [${B}] for q ${fmt(q.shape)}, got ${fmt(lengths.shape)}`);
  if (lastOnly && Lq !== 1) throw new ShapeError(op, `lastOnly needs q [B, 1, d], got ${fmt(q.shape)}`);
  if (d < 1) throw new ShapeError(op, `d must be ≥ 1, got q ${fmt(q.shape)}`);
  return [B, Lq, d];
}

function checkKV(op: string, q: Tensor, k: Tensor, v: Tensor, rows: number | null, what: string): number {
  assertDType(op, k, 'f32');
  assertDType(op, v, 'f32');
  const [B, , d] = q.shape;
  if (k.rank !== 3 || k.shape[0] !== B || k.shape[2] !== d || (rows !== null && k.shape[1] !== rows)) {
    throw new ShapeError(op, `${what} must be [${B}, ${rows ?? 'L'}, ${d}] for q ${fmt(q.shape)}, got ${fmt(k.shape)}`);
  }
  if (v.shape.join() !== k.shape.join()) throw new ShapeError(op, `values ${fmt(v.shape)} must match keys ${fmt(k.shape)}`);
  return k.shape[1];
}

interface Launch {
  mode: number;
  lastOnly: boolean;
  /** Key rows per sequence (L items or nb blocks). */
  rows: number;
  lmax: number;
  window: number;
  /** MODE 0: sequences longer than longAfter items take windowLong. */
  windowLong: number;
  longAfter: number;
  bs: number;
  ksel: number;
  /** d of the caller's rows when attend pads them to a multiple of 4 (the scale stays 1/√d). */
  scaleDim?: number;
}

/** Forward + autograd for one attention mode; `sel` only for selective. */
function attend(op: string, q: Tensor, k: Tensor, v: Tensor, lengths: Tensor, sel: Tensor | null, L: Launch): Tensor {
  const e = engineOf(op, q, k, v, lengths, ...(sel ? [sel] : []));
  const [B, Lq, d] = q.shape;
  const d4 = Math.ceil(d / 4);
  if (d % 4 !== 0) {
    // The kernels read vec4 rows (see the WGSL's header): pad d to 4·d4 with zero columns, which leave
    // every dot product as it is, and keep the first d columns of the output. Scale stays 1/√d.
    const w = 4 * d4;
    return tidy(() => slice(attend(op, padLastDim(q, w), padLastDim(k, w), padLastDim(v, w), lengths, sel, { ...L, scaleDim: d }), 2, 0, d));
  }
  const nq = B * Lq;
  const nkeys = B * L.rows;
  const WG = wgOf(e);
  // Register accumulators up to d = 64 (RCAP = 16 vec4 in the WGSL); D4 only matters with REG, so
  // streaming pipelines stay shared by every d.
  const REG = d <= REG_MAX_DIM;
  const constants = { WG, MODE: L.mode, LAST_ONLY: L.lastOnly, REG, D4: REG ? d4 : 1 };
  const params = { nq, lq: Lq, nkeys, rows: L.rows, d4, lmax: L.lmax, window: L.window, window_long: L.windowLong, long_after: L.longAfter, bs: L.bs, ksel: L.ksel, scale: 1 / Math.sqrt(L.scaleDim ?? d) };
  const launch = (entry: string, buffers: Record<string, GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number }>, n: number, extra: Record<string, number> = {}) => {
    if (n === 0) return;
    e.stream.dispatch(e.kernels.get('sparse_attention', entry, { ...constants, ...extra }), buffers, params, e.grid(Math.ceil(n / WG)));
  };
  // Rows per thread (see the top comment): causal/windowed over every position, and selective dK/dV.
  const perThread = !REG ? 1 : qptSetting !== 'auto' ? qptSetting : e.gpu.software ? QPT_SOFTWARE : 1;
  const qpt = L.mode === MODE.causal && !L.lastOnly ? perThread : 1;
  // Selective dK/dV: keys of one block per thread (they share the block's run of the index).
  const kpt = L.mode === MODE.selective ? perThread : 1;
  const groups = B * Math.ceil(Lq / qpt);

  const qb = bindable(q);
  const kb = bindable(k);
  const vb = bindable(v);
  const lb = bindable(lengths);
  const sb = sel ? bindable(sel) : lb;
  const out = Tensor.empty([B, Lq, d], 'f32', e);
  const lse = Tensor.empty([B, Lq], 'f32', e);
  const fwd = { q: qb.binding(op), kx: kb.binding(op), vx: vb.binding(op), lens: lb.binding(op), sel: sb.binding(op), o: out.binding(op), lse: lse.binding(op) };
  if (qpt > 1) launch('attn_forward_q', fwd, groups, { QPT: qpt });
  else launch('attn_forward', fwd, nq);
  const dispose = () => {
    for (const [c, t] of [[qb, q], [kb, k], [vb, v], [lb, lengths]] as const) if (c !== t) c.dispose();
    if (sel && sb !== sel) sb.dispose();
  };

  const res = record(op, [q, k, v], out, (saver) => {
    // Bindable copies are saved as they are (already contiguous), so backward binds without copying.
    const qs = saver.save(qb);
    const ks = saver.save(kb);
    const vs = saver.save(vb);
    const ls = saver.save(lb);
    const ss = sel ? saver.save(sb) : ls;
    const os = saver.save(out);
    const lses = saver.save(lse);
    // Selective: which query rows selected each (sequence, block), in ascending t (the WGSL's
    // attn_inv_count / attn_inv_fill) — built here so that only recorded calls pay for it.
    let invs: Tensor | null = null;
    if (sel && nkeys > 0) {
      const nbk = B * Math.ceil(L.rows / L.bs);
      const inv = Tensor.empty([nbk + nq * L.ksel], 'i32', e);
      const ib = { lens: lb.binding(op), sel: sb.binding(op), sel_index: inv.binding(op) };
      launch('attn_inv_count', ib, nbk);
      launch('attn_inv_fill', ib, nbk);
      invs = saver.save(inv);
      inv.dispose();
    }
    return (g) => {
      const gb = bindable(g);
      const st = Tensor.empty([nq, 2], 'f32', e);
      launch('attn_delta', { o_in: os.binding(op), dout: gb.binding(op), lse_in: lses.binding(op), st: st.binding(op) }, nq);
      const dq = Tensor.empty(q.shape, 'f32', e);
      const shared = { q: qs.binding(op), kx: ks.binding(op), vx: vs.binding(op), dout: gb.binding(op), st: st.binding(op) };
      const common = { ...shared, lens: ls.binding(op), sel: ss.binding(op) };
      if (qpt > 1) launch('attn_dq_q', { ...common, dq: dq.binding(op) }, groups, { QPT: qpt });
      else launch('attn_dq', { ...common, dq: dq.binding(op) }, nq);
      const dkv = Tensor.empty([2, nkeys, d], 'f32', e);
      if (invs && kpt > 1) {
        const perBlock = Math.ceil(L.bs / kpt);
        launch('attn_dkv_sel_q', { ...shared, sel_index_in: invs.binding(op), dkv: dkv.binding(op) }, B * Math.ceil(L.rows / L.bs) * perBlock, { QPT: kpt });
      } else if (invs) {
        launch('attn_dkv_sel', { ...shared, sel_index_in: invs.binding(op), dkv: dkv.binding(op) }, nkeys);
      } else if (qpt > 1) {
        launch('attn_dkv_q', { ...common, dkv: dkv.binding(op) }, B * Math.ceil(L.rows / qpt), { QPT: qpt });
      } else {
        launch('attn_dkv', { ...common, dkv: dkv.binding(op) }, nkeys);
      }
      const strides = contiguousStrides(k.shape);
      const dk = dkv.view(k.shape, strides, dkv.offset);
      const dv = dkv.view(k.shape, strides, dkv.offset + nkeys * d);
      dkv.dispose();
      st.dispose();
      if (gb !== g) gb.dispose();
      return [dq, dk, dv];
    };
  });
  dispose();
  lse.dispose();
  return res;
}

/**
 * Dense causal attention of q_t over keys j ≤ t (j < len), or windowed with `window` = W > 0: keys
 * max(0, t−W+1) … t. q, k, v [B, L, d] (q [B, 1, d] with lastOnly); output like q. Differentiable in
 * q, k, v. This is also the engine's dense causal self-attention (SASRec).
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, lengths: Tensor, opts: CausalAttentionOptions = {}): Tensor {
  const op = 'causalAttention';
  const lastOnly = !!opts.lastOnly;
  checkQuery(op, q, lengths, lastOnly);
  const L = checkKV(op, q, k, v, lastOnly ? null : q.shape[1], 'k');
  const window = posInt(op, 'window', opts.window ?? 0, 0);
  const lw = opts.longWindow;
  const windowLong = lw ? posInt(op, 'longWindow.window', lw.window, 0) : window;
  // Lengths are i32: a threshold at or past 2³¹ − 1 means no sequence is long (the kernel compares as i32).
  const longAfter = lw ? Math.min(posInt(op, 'longWindow.longerThan', lw.longerThan, 0), 0x7fffffff) : 0;
  return attend(op, q, k, v, lengths, null, { mode: MODE.causal, lastOnly, rows: L, lmax: L, window, windowLong, longAfter, bs: 1, ksel: 0 });
}

function blockCount(op: string, q: Tensor, kb: Tensor, bs: number, lastOnly: boolean): number {
  const nb = kb.rank === 3 ? kb.shape[1] : -1;
  if (!lastOnly && nb !== Math.ceil(q.shape[1] / bs)) {
    throw new ShapeError(op, `block embeddings ${fmt(kb.shape)} must have nb = ⌈L/bs⌉ = ⌈${q.shape[1]}/${bs}⌉ = ${Math.ceil(q.shape[1] / bs)} blocks for q ${fmt(q.shape)}`);
  }
  return nb;
}

/**
 * Attention of q_t over block embeddings kb/vb [B, nb, d] (nb = ⌈L/bs⌉, block b = items
 * [b·bs, (b+1)·bs)); only blocks that end before t are visible: (b+1)·bs ≤ t. Differentiable in q,
 * kb, vb. With lastOnly, q is [B, 1, d] and the query is t = len − 1 (len ≤ nb·bs).
 */
export function blockAttention(q: Tensor, kb: Tensor, vb: Tensor, lengths: Tensor, opts: BlockOptions): Tensor {
  const op = 'blockAttention';
  const lastOnly = !!opts.lastOnly;
  checkQuery(op, q, lengths, lastOnly);
  const bs = posInt(op, 'blockSize', opts.blockSize, 1);
  checkKV(op, q, kb, vb, null, 'kb');
  const nb = blockCount(op, q, kb, bs, lastOnly);
  const lmax = lastOnly ? nb * bs : q.shape[1];
  if (!lastOnly && q.shape[0] > 0) return blockAttentionMM(op, q, kb, vb, lengths, bs, 0).out;
  return attend(op, q, kb, vb, lengths, null, { mode: MODE.block, lastOnly, rows: nb, lmax, window: 0, windowLong: 0, longAfter: 0, bs, ksel: 0 });
}

/**
 * blockAttention over every position as batched matmuls on the [B, L, nb] scores: P·vb with P the
 * softmax of q·kbᵀ/√d over the visible blocks (0 for queries that see none), formed between the two
 * matmuls by one kernel each way (block_softmax_forward/backward), which with `kSel` > 0 also picks
 * selectBlocks' top-k from the same scores. Scores are L/bs wide, so materialising them is cheap, and
 * the engine's matmul beats the per-key dK/dV loop (a key loops over ~L queries): B = 64, d = 64,
 * bs = 8, fwd+bwd on llvmpipe-GL, L = 800 2090 → ~1250 ms, L = 200 146 → ~97 ms. The fused softmax
 * replaced scale → uploaded mask → softmax → row-validity product (four elementwise passes each way
 * over [B, L, nb]), and taking the top-k here replaced topk_blocks' second q·kb pass (0.69 s of a
 * 7.5 s SAL step at L = 800, per-kernel profile). (lastOnly keeps the kernels: one query per sequence.)
 */
function blockAttentionMM(op: string, q: Tensor, kb: Tensor, vb: Tensor, lengths: Tensor, bs: number, kSel: number): { out: Tensor; selected: Tensor | null } {
  const e = engineOf(op, q, kb, vb, lengths);
  const [B, L, d] = q.shape;
  const nb = kb.shape[1];
  const WG = wgOf(e);
  const params = { nq: B * L, lq: L, nkeys: B * nb, rows: nb, d4: Math.ceil(d / 4), lmax: L, window: 0, window_long: 0, long_after: 0, bs, ksel: kSel, scale: 1 / Math.sqrt(d) };
  const constants = { WG, MODE: MODE.block, LAST_ONLY: false, REG: false, D4: 1, KSEL: kSel };
  const grid = e.grid(Math.ceil((B * L) / WG));
  const r = tidy((): Tensor[] => {
    const s = matmul(q, tr(kb));
    const probs = Tensor.empty([B, L, nb], 'f32', e);
    // Without selection sel_out is still bound (never written): a 1-element stand-in, not `lengths`,
    // which is bound read-only in the same dispatch.
    const selected = Tensor.empty(kSel > 0 ? [B, L, kSel] : [1], 'i32', e);
    const lb = bindable(lengths);
    const sb = bindable(s);
    e.stream.dispatch(
      e.kernels.get('sparse_attention', 'block_softmax_forward', constants),
      { lens: lb.binding(op), scores: sb.binding(op), probs: probs.binding(op), sel_out: selected.binding(op) },
      params,
      grid,
    );
    if (lb !== lengths) lb.dispose();
    if (sb !== s) sb.dispose();
    const p = record(op, [s], probs, (saver) => {
      const ps = saver.save(probs);
      return (g) => {
        const gb = bindable(g);
        const ds = Tensor.empty([B, L, nb], 'f32', e);
        e.stream.dispatch(
          e.kernels.get('sparse_attention', 'block_softmax_backward', constants),
          { probs_in: ps.binding(op), dprobs: gb.binding(op), dscores: ds.binding(op) },
          params,
          grid,
        );
        if (gb !== g) gb.dispose();
        return [ds];
      };
    });
    const out = matmul(p, vb);
    return kSel > 0 ? [out, selected] : [out];
  });
  return { out: r[0], selected: r[1] ?? null };
}

/**
 * blockAttention and selectBlocks of the same q and kb in one: the top-k blocks are read off the block
 * attention's own scores instead of a second q·kb pass (SAL's long and core branches share W^Q_b and
 * the block keys). Same results as the two ops apart, up to f32 rounding of the scores.
 */
export function blockAttentionSelect(q: Tensor, kb: Tensor, vb: Tensor, lengths: Tensor, opts: SelectOptions): { out: Tensor; selected: Tensor } {
  const op = 'blockAttentionSelect';
  const lastOnly = !!opts.lastOnly;
  checkQuery(op, q, lengths, lastOnly);
  const bs = posInt(op, 'blockSize', opts.blockSize, 1);
  const K = posInt(op, 'k', opts.k, 1);
  if (K > SELECT_MAX_K) throw new TensorError(`${op}: k = ${K} exceeds ${SELECT_MAX_K}`);
  checkKV(op, q, kb, vb, null, 'kb');
  blockCount(op, q, kb, bs, lastOnly);
  if (lastOnly || q.shape[0] === 0) return { out: blockAttention(q, kb, vb, lengths, opts), selected: selectBlocks(q, kb, lengths, opts) };
  const r = blockAttentionMM(op, q, kb, vb, lengths, bs, K);
  return { out: r.out, selected: r.selected! };
}

/**
 * Top-k visible blocks per query by score q_t·kb_b (= by attention weight; softmax is monotonic):
 * i32 [B, Lq, k], best first, ties → earlier block, −1 where fewer than k blocks are visible (and for
 * padding queries). Not differentiable.
 */
export function selectBlocks(q: Tensor, kb: Tensor, lengths: Tensor, opts: SelectOptions): Tensor {
  const op = 'selectBlocks';
  const lastOnly = !!opts.lastOnly;
  const [B, Lq, d] = checkQuery(op, q, lengths, lastOnly);
  const e = engineOf(op, q, kb, lengths);
  assertDType(op, kb, 'f32');
  const bs = posInt(op, 'blockSize', opts.blockSize, 1);
  const K = posInt(op, 'k', opts.k, 1);
  if (K > SELECT_MAX_K) throw new TensorError(`${op}: k = ${K} exceeds ${SELECT_MAX_K}`);
  if (kb.rank !== 3 || kb.shape[0] !== B || kb.shape[2] !== d) throw new ShapeError(op, `kb must be [${B}, nb, ${d}] for q ${fmt(q.shape)}, got ${fmt(kb.shape)}`);
  const nb = blockCount(op, q, kb, bs, lastOnly);
  const out = Tensor.empty([B, Lq, K], 'i32', e);
  const nq = B * Lq;
  if (nq === 0) return out;
  const qb = bindable(q);
  const kbb = bindable(kb);
  const lb = bindable(lengths);
  const WG = wgOf(e);
  const kern = e.kernels.get('topk', 'topk_blocks', { WG, LAST_ONLY: lastOnly, K });
  e.stream.dispatch(
    kern,
    { q: qb.binding(op), kb: kbb.binding(op), lens: lb.binding(op), sel_out: out.binding(op) },
    { nq, lq: Lq, nb, d, lmax: lastOnly ? nb * bs : Lq, bs },
    e.grid(Math.ceil(nq / WG)),
  );
  if (qb !== q) qb.dispose();
  if (kbb !== kb) kbb.dispose();
  if (lb !== lengths) lb.dispose();
  return out;
}

/**
 * Attention of q_t over the items of its selected blocks (`selected` i32 [B, Lq, kSel] from
 * selectBlocks): the kSel·bs items, skipping −1 entries, blocks not visible to t ((b+1)·bs > t) and
 * hence positions ≥ len. k, v [B, L, d]. Differentiable in q, k, v (not in the selection).
 */
export function selectiveAttention(q: Tensor, k: Tensor, v: Tensor, selected: Tensor, lengths: Tensor, opts: BlockOptions): Tensor {
  const op = 'selectiveAttention';
  const lastOnly = !!opts.lastOnly;
  const [B, Lq] = checkQuery(op, q, lengths, lastOnly);
  const L = checkKV(op, q, k, v, lastOnly ? null : q.shape[1], 'k');
  const bs = posInt(op, 'blockSize', opts.blockSize, 1);
  assertDType(op, selected, 'i32');
  if (selected.rank !== 3 || selected.shape[0] !== B || selected.shape[1] !== Lq || selected.shape[2] < 1) {
    throw new ShapeError(op, `selected must be [${B}, ${Lq}, kSel] for q ${fmt(q.shape)}, got ${fmt(selected.shape)}`);
  }
  return attend(op, q, k, v, lengths, selected, { mode: MODE.selective, lastOnly, rows: L, lmax: L, window: 0, windowLong: 0, longAfter: 0, bs, ksel: selected.shape[2] });
}
