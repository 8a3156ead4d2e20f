// Fused InfoNCE (shaders/infonce.wgsl): contrastive loss and full-catalog / sampled softmax
// cross-entropy in one family (DESIGN.md §4; MUFASA eq. 1 and 4, the SAL user–item loss).
//
// Why fused: the unfused composition (normalise → matmul → log-softmax → pick) materialises the N×M
// score matrix and its gradient (330 MB each at N = 4096, M = 20000); this op keeps only O((N+M)·d):
// the forward stores the per-row log-sum-exp [N], the backward recomputes every score tile from it
// (Inf-CL, Chen et al. 2024; cut cross-entropy, Wijmans et al. 2024), one kernel per anchor row and
// one per candidate column, so gradients are deterministic without atomics (DESIGN.md §3).
//
// The normalised, 1/τ-scaled and noise-perturbed rows (Â [N, ⌈d/4⌉·4], ĉ [M, ⌈d/4⌉·4]) are built by
// two prep kernels in the forward and rebuilt in the backward rather than saved: O((N+M)·d) work
// against the O(N·M·d) of the score kernels, and nothing but lse stays alive between the passes.
// The Gaussian perturbation of L_fus-cl (eq. 4) is drawn in-kernel from the Philox stream with the
// randNormal convention (element (j, k) = stream element offset + j·d + k), so the backward redraws
// the same ε and no noise tensor exists.
//
// Three kernel sets (kernelPath). d ≤ 128 (every MUFASA use) on a CPU adapter: the register-tiled
// kernels (shaders/infonce_tiled.wgsl) — a thread owns 8 rows (forward, d anchors) or 8 columns
// (d candidates) held in private arrays and streams the other side 4 at a time, so each loaded vec4
// feeds 8 dot products. d ≤ 128 on a hardware GPU: the workgroup-tiled kernels
// (shaders/infonce_wg.wgsl) — 64 rows per 256-thread workgroup, the streamed side staged in
// workgroup memory. Both cut the long axis into segments (grid y) whose partials a per-row merge
// kernel combines in order (deterministic). d > 128: the thread-per-row kernels (shaders/infonce.wgsl
// forward/backward_rows/backward_cols).
//
// Speed, measured here (npm run bench -- infonce --quick, forward+backward, cosine, explicit positives;
// 2 cores shared with other jobs, so compare ratios within one run; best of two runs):
//   llvmpipe      before (thread-per-row)          after (tiled)
//   1024×1024×128 354 ms fused vs 211 unfused 0.60×  78 ms vs 175 → 2.26× (other run 71 vs 104, 1.45×)
//   256×1682×64    98 ms vs  69               0.70×  23 ms vs  61 → 2.69×
//   4096×1682×64 1428 ms vs 1176              0.82× 141 ms vs 571 → 4.05×
//   4096×20000×64 15.1 s fused; 2.25 s after (the unfused graph cannot bind its 328 MB score buffer)
//   SwiftShader: 1024×1024×128 0.67 s vs 0.60 (0.89×; was 0.29×), 256×1682×64 0.15 vs 0.16 (1.10×;
//   was 0.64×): Subzero does not unroll the k loops, so the written-out tiles help less there.
//   H100 (Dawn/Vulkan), forward+backward, fused vs unfused: register-tiled 17.0 ms vs 5.5 at
//   1024×1024×128 and 56 ms vs 56 at 4096×20000×64; workgroup-tiled 3.0 vs 3.3 (1.1×), 2.3 vs 3.3 at
//   4096×1682×64 (1.4×), 6.6 vs 50.8 at 4096×20000×64 (7.7×). At the small shapes both paths take
//   ~2.3–3.3 ms, what any step of ~12 dispatches and a readback costs there, not the kernels.
// The fused step did 5 matmul-sized passes (forward scores, and each backward recomputes them) against
// the unfused 3, and the tiled score loop runs at about the register-blocked matmul's speed (forward
// 1024×1024×128 ≈ 20 ms vs a·ĉᵀ matmul ≈ 33 ms measured side by side, loaded machine). Since the
// tiled forward sums u = P·Ĉ when the anchors need a gradient (forwardTiled, ACC_U), it does 4.
// llvmpipe, fused forward+backward in steady state (16 steps in one process, before and after
// alternating): 1024×1024×128 51–53 → 41 ms, 4096×1682×64 133–135 → 102–108 ms; 256×1682×64 ran
// 13–24 ms either way (two levels within one process: llvmpipe's scheduling of 16 workgroups), no
// difference to see. `bench infonce` on quiet runs: 1.87–2.03× → 2.41–2.50× the unfused at
// 1024×1024×128, 4.2× → 5.1–5.3× at 4096×1682×64. A MUFASA training step's InfoNCE kernels
// ≈ 249 → 167 ms. 3× at 1024×1024×128 would need the unfused pass count: the score matrix is what the
// fused op exists not to keep. Memory: peak 6.5 MiB vs 25 MiB at 1024×1024×128, 27.5 MiB at
// 4096×20000×64 (the segment partials, O(segments·(N+M)·d); u and its partials added about 0.5 and
// 1.5 MiB to them).
// Cold compile: the written-out tiles take seconds per pipeline on llvmpipe (d = 64: ~3 s forward,
// ~5 s per backward kernel with an empty Mesa shader cache), hence the array-size classes t4–t32.

import { Tensor, TensorError, ShapeError } from '../tensor.ts';
import { record, isGradEnabled } from '../tape.ts';
import { bindable, slice, contiguous } from './layout.ts';
import { zeros } from './creation.ts';
import { engineOf, assertDType, fmt } from './util.ts';
import type { Engine } from '../../gpu/engine.ts';
import type { BufferBinding } from '../../gpu/stream.ts';

export interface InfoNCENoise {
  /** Standard deviation σ of the perturbation ε ~ N(0, σ²). */
  sigma: number;
  seed: number;
  /** Stream offset of element (0, 0) (default 0); element (j, k) uses offset + j·d + k. */
  offset?: number;
}

export interface InfoNCEOptions {
  temperature: number;
  /** Score with cosine similarity (rows L2-normalised, eps 1e-12 as l2Normalize); default true. */
  cosine?: boolean;
  /** i32 [N]: row i's positive candidate; default i (needs M ≥ N). Must lie in [0, M). */
  positives?: Tensor;
  /** f32 [M]: subtracted from every logit of candidate j (sampled-softmax correction, Yi et al. 2019). */
  logQ?: Tensor;
  /** i32 [N]: id of row i's positive (default candidateIds[positive]). Needs candidateIds. */
  anchorIds?: Tensor;
  /** i32 [M]: a candidate j ≠ pos_i with the positive's id is not a negative of row i (excluded). */
  candidateIds?: Tensor;
  /** Perturb candidates c̃_j = c_j + ε_j, ε ~ N(0, σ²) from the Philox stream (no gradient through ε). */
  noise?: InfoNCENoise;
}

const EPS = 1e-12;
/** Rows of ⌈d/4⌉ ≤ MAXQ vec4s are held in registers by the score loops (MAXQ in the WGSL). */
const MAXQ = 32;
const TWO32 = 2 ** 32;
/** Threads per workgroup: one thread per row, no barriers (reduce.ts pickRowConfig). */
const WG = 64;

function split64(op: string, what: string, v: number): [number, number] {
  if (!Number.isSafeInteger(v) || v < 0) throw new TensorError(`${op}: ${what} must be a non-negative safe integer, got ${v}`);
  return [v % TWO32, Math.floor(v / TWO32)];
}

interface Plan {
  e: Engine;
  N: number;
  M: number;
  d: number;
  D4: number;
  constants: Record<string, number | boolean>;
  params: Record<string, number | number[]>;
  tau: number;
}

function checkVec(op: string, t: Tensor | undefined, name: string, len: number, dtype: 'f32' | 'i32', shapes: string): void {
  if (!t) return;
  assertDType(op, t, dtype);
  if (t.rank !== 1 || t.shape[0] !== len) throw new ShapeError(op, `${name} has shape ${fmt(t.shape)}; expected [${len}] for ${shapes}`);
}

function plan(op: string, anchors: Tensor, candidates: Tensor, o: InfoNCEOptions): Plan {
  const opt = [o.positives, o.logQ, o.anchorIds, o.candidateIds].filter((t): t is Tensor => !!t);
  const e = engineOf(op, anchors, candidates, ...opt);
  assertDType(op, anchors, 'f32');
  assertDType(op, candidates, 'f32');
  const shapes = `anchors ${fmt(anchors.shape)}, candidates ${fmt(candidates.shape)}`;
  if (anchors.rank !== 2 || candidates.rank !== 2 || anchors.shape[1] !== candidates.shape[1]) {
    throw new ShapeError(op, `expected anchors [N, d] and candidates [M, d] with the same d; got ${shapes}`);
  }
  const [N, d] = anchors.shape;
  const M = candidates.shape[0];
  if (M === 0 && N > 0) throw new ShapeError(op, `no candidates: ${shapes}`);
  if (!o.positives && M < N) throw new ShapeError(op, `without positives row i's positive is candidate i, so M ≥ N is needed; got ${shapes}`);
  checkVec(op, o.positives, 'positives', N, 'i32', shapes);
  checkVec(op, o.logQ, 'logQ', M, 'f32', shapes);
  checkVec(op, o.anchorIds, 'anchorIds', N, 'i32', shapes);
  checkVec(op, o.candidateIds, 'candidateIds', M, 'i32', shapes);
  if (o.anchorIds && !o.candidateIds) throw new TensorError(`${op}: anchorIds needs candidateIds (the ids of the candidates it is compared with)`);
  const tau = o.temperature;
  if (!(Number.isFinite(tau) && tau > 0)) throw new TensorError(`${op}: temperature must be a finite number > 0, got ${tau}`);
  let noise = { lane0: 0, block0: [0, 0], key: [0, 0], sigma: 0 };
  if (o.noise) {
    const { sigma, seed, offset = 0 } = o.noise;
    if (!(Number.isFinite(sigma) && sigma >= 0)) throw new TensorError(`${op}: noise.sigma must be finite and ≥ 0, got ${sigma}`);
    split64(op, 'noise.offset', offset);
    if (!Number.isSafeInteger(offset + M * d)) throw new TensorError(`${op}: noise.offset ${offset} + ${M * d} elements passes 2^53`);
    noise = { lane0: offset % 4, block0: split64(op, 'noise.offset', Math.floor(offset / 4)), key: split64(op, 'noise.seed', seed), sigma };
  }
  if (M * d + 4 > TWO32 || N * d + 4 > TWO32) throw new ShapeError(op, `${shapes} has more than 2^32 elements`);
  const D4 = Math.max(1, Math.ceil(d / 4));
  return {
    e,
    N,
    M,
    d,
    D4,
    constants: {
      WG,
      D4,
      COSINE: o.cosine ?? true,
      HAS_POS: !!o.positives,
      HAS_LOGQ: !!o.logQ,
      MASK: !!o.candidateIds,
      HAS_AKEY: !!o.anchorIds,
      NOISE: !!o.noise && o.noise.sigma > 0,
      QREG: D4 <= MAXQ,
    },
    params: { n: N, m: M, d, inv_tau: 1 / tau, tau, eps: EPS, ...noise, lo: 0, hi: M },
    tau,
  };
}

/** Bindable copies of the inputs; `release()` disposes the copies that were made. */
function bindInputs(tensors: (Tensor | undefined)[]): { ts: (Tensor | undefined)[]; release: () => void } {
  const ts = tensors.map((t) => (t ? bindable(t) : undefined));
  return {
    ts,
    release: () => ts.forEach((b, i) => b && b !== tensors[i] && b.dispose()),
  };
}

interface Prepped {
  ahat: Tensor;
  rinfo: Tensor;
  chat: Tensor;
  cinfo: Tensor;
  dispose(): void;
}

/** Â, row records, ĉ (with noise), column records: the forward's and the backward's first step. */
function prep(op: string, p: Plan, a: Tensor, c: Tensor, pos?: Tensor, logQ?: Tensor, aIds?: Tensor, cIds?: Tensor, rows = true): Prepped {
  const { e, N, M, D4 } = p;
  const ahat = Tensor.empty([N, D4 * 4], 'f32', e);
  const rinfo = Tensor.empty([N, 4], 'f32', e);
  const chat = Tensor.empty([M, D4 * 4], 'f32', e);
  const cinfo = Tensor.empty([M, 4], 'f32', e);
  // Absent optional inputs: any bound buffer will do, the kernel never reads it (override constants).
  const dummy = a.binding(op);
  if (rows) {
    e.stream.dispatch(
      e.kernels.get('infonce', 'prep_rows', p.constants),
      { anc: a.binding(op), pos: pos?.binding(op) ?? dummy, akey: aIds?.binding(op) ?? dummy, ckey: cIds?.binding(op) ?? dummy, ahat_out: ahat.binding(op), rinfo_out: rinfo.binding(op) },
      p.params,
      e.grid(Math.ceil(N / WG)),
    );
  }
  e.stream.dispatch(
    e.kernels.get('infonce', 'prep_cols', p.constants),
    { cand: c.binding(op), logq: logQ?.binding(op) ?? dummy, ckey: cIds?.binding(op) ?? dummy, chat_out: chat.binding(op), cinfo_out: cinfo.binding(op) },
    p.params,
    e.grid(Math.ceil(M / WG)),
  );
  return { ahat, rinfo, chat, cinfo, dispose: () => [ahat, rinfo, chat, cinfo].forEach((t) => t.dispose()) };
}

/**
 * Iterations of the long loop (over M, or N for backward_cols) per dispatch: llvmpipe silently stops
 * an invocation's loops after 65535 iterations in all (LOOP LIMIT in infonce.wgsl); half of that
 * leaves room for the other loops of the kernel. Each chunk is one more ~20 µs dispatch.
 */
export const LOOP_CHUNK = 32768;

/** [lo, hi) ranges of at most LOOP_CHUNK covering [0, n) (one empty range for n = 0). */
function loopRanges(n: number): [number, number][] {
  const r: [number, number][] = [];
  for (let lo = 0; lo < n || r.length === 0; lo += LOOP_CHUNK) r.push([lo, Math.min(n, lo + LOOP_CHUNK)]);
  return r;
}

/** vec4 columns per backward dispatch: the kernels' private accumulator (MAXKC in the WGSL). */
const MAXKC = 32;

/**
 * One gradient (anchors: rows, candidates: cols) in ⌈D4/MAXKC⌉ dispatches; with cosine and more
 * than one chunk the normalisation backward runs afterwards (finish_norm) on the chunks' output.
 */
function backwardPass(
  op: string,
  p: Plan,
  entry: 'backward_rows' | 'backward_cols',
  out: 'da' | 'dc',
  common: Record<string, BufferBinding>,
  xhat: Tensor,
  info: Tensor,
  scale: number,
  rows: number,
): Tensor {
  const { e, d, D4 } = p;
  const cosine = p.constants.COSINE as boolean;
  const chunks = Math.ceil(D4 / MAXKC);
  const KC = Math.min(D4, MAXKC);
  const EPI = cosine && chunks === 1;
  const result = Tensor.empty([rows, d], 'f32', e);
  const raw = cosine && !EPI ? Tensor.empty([rows, d], 'f32', e) : result;
  const grid = e.grid(Math.ceil((entry === 'backward_rows' ? p.N : p.M) / WG));
  const ranges = loopRanges(entry === 'backward_rows' ? p.M : p.N);
  const state = Tensor.empty(ranges.length > 1 ? [rows, D4 * 4] : [4], 'f32', e);
  for (let c = 0; c < chunks; c++) {
    const k = e.kernels.get('infonce', entry, { ...p.constants, KC, EPI, K0: c * MAXKC });
    for (const [lo, hi] of ranges) {
      e.stream.dispatch(k, { ...common, [out]: raw.binding(op), bstate: state.binding(op) }, { n: p.N, m: p.M, d, inv_tau: 1 / p.tau, tau: p.tau, eps: EPS, lo, hi }, grid);
    }
  }
  state.dispose();
  if (raw !== result) {
    e.stream.dispatch(
      e.kernels.get('infonce', 'finish_norm', { WG, D4 }),
      { xh: xhat.binding(op), info: info.binding(op), graw: raw.binding(op), gout: result.binding(op) },
      { rows, d, scale, eps: EPS },
      grid,
    );
    raw.dispose();
  }
  return result;
}

// ----------------------------------------------------------------------------- tiled path (default)

/**
 * Workgroups the tiled kernels aim for along the segment axis × the own axis: the CPU adapters run a
 * workgroup per core thread at a time, and N = 256 rows are a single 64-thread workgroup of 4-row
 * threads, so the long axis is cut into segments until there are about this many. More segments
 * only cost partial buffers ([segments, rows, d]) and a longer merge.
 */
const TARGET_WG = 16;
/** Rows (or columns) a thread owns in the tiled kernels; the long axis streams 4 at a time. */
const OWN = 8;

interface Segs {
  /** Workgroups along the own axis (4 rows or columns per thread). */
  gx: number;
  nseg: number;
  /** 4-wide tiles of the long axis per segment. */
  seg: number;
}

/**
 * Segments of the long axis (`other` entries) for threads that own 4 of `own` entries each. LOOP
 * LIMIT: a thread runs `seg` iterations of the tile loop and, should the compiler not unroll them,
 * D4 of each of its two k loops per tile; ≤ LOOP_CHUNK in all.
 */
function segments(own: number, other: number, D4: number): Segs {
  const tiles = Math.max(1, Math.ceil(other / 4));
  const gx = Math.ceil(Math.ceil(own / OWN) / WG);
  const maxTiles = Math.max(1, Math.floor(LOOP_CHUNK / (2 * D4 + 4)));
  let nseg = Math.max(1, Math.min(Math.ceil(TARGET_WG / Math.max(gx, 1)), tiles), Math.ceil(tiles / maxTiles));
  const seg = Math.ceil(tiles / nseg);
  nseg = Math.ceil(tiles / seg);
  return { gx, nseg, seg };
}

/** Which score kernels infoNCE uses: 'auto' picks by adapter and d (kernelPath). */
export type InfoNCEPath = 'auto' | 'workgroup' | 'tiled' | 'rows';
let pathSetting: InfoNCEPath = 'auto';

/** Force a kernel set where it applies (tests run every set on the CPU adapters; bench comparisons). */
export function setInfoNCEPath(path: InfoNCEPath): void {
  pathSetting = path;
}

/** Use the thread-per-row kernels even where the tiled ones apply (false), or pick by adapter again (true). */
export function setInfoNCETiled(on: boolean): void {
  pathSetting = on ? 'auto' : 'rows';
}

/**
 * The kernel set of a plan. d > 128: thread-per-row (infonce.wgsl). Else on a hardware GPU the
 * workgroup-tiled kernels (infonce_wg.wgsl: 64 own rows per 256-thread workgroup, tiles in
 * workgroup memory), on a CPU adapter the register-tiled ones (infonce_tiled.wgsl: 8 rows per thread
 * in private arrays). Each file's header has the measurements behind the split.
 */
function kernelPath(p: Plan): 'workgroup' | 'tiled' | 'rows' {
  if (pathSetting === 'rows' || p.D4 > MAXQ) return 'rows';
  const lim = p.e.device.limits;
  const fits = (s: Segs) => s.gx <= lim.maxComputeWorkgroupsPerDimension && s.nseg <= lim.maxComputeWorkgroupsPerDimension;
  const wgOk =
    lim.maxComputeInvocationsPerWorkgroup >= WG_THREADS &&
    lim.maxComputeWorkgroupSizeX >= WG_THREADS &&
    lim.maxComputeWorkgroupStorageSize >= WG_SHARED_BYTES &&
    fits(wgSegments(p.N, p.M, p.D4)) &&
    fits(wgSegments(p.M, p.N, p.D4));
  const wanted = pathSetting === 'workgroup' || (pathSetting === 'auto' && !p.e.gpu.software);
  if (wanted && wgOk) return 'workgroup';
  return fits(segments(p.N, p.M, p.D4)) && fits(segments(p.M, p.N, p.D4)) ? 'tiled' : 'rows';
}

/** The shader of the tiled kernels whose private arrays fit D4 vec4s (infonce_tiled.wgsl). */
function tiledShader(p: Plan): string {
  return `infonce_t${[4, 8, 16, 32].find((n) => n >= p.D4)}`;
}

function tileParams(p: Plan, s: Segs): Record<string, number> {
  return { n: p.N, m: p.M, d: p.d, inv_tau: 1 / p.tau, tau: p.tau, eps: EPS, seg: s.seg, nseg: s.nseg };
}

/**
 * forward_tiled over (row groups × column segments), then forward_merge per row. With `u` (the anchors
 * need a gradient) the forward also sums u_i = Σ_j p_ij ĉ_j into it (ACC_U in infonce_tiled.wgsl),
 * and the backward takes d Â from it instead of a second pass over the candidates (rowsFromU).
 */
function forwardTiled(op: string, p: Plan, pr: Prepped, loss: Tensor, lse: Tensor, u: Tensor | null): void {
  forwardSegments(op, p, tiledShader(p), 'forward_tiled', segments(p.N, p.M, p.D4), pr, loss, lse, u);
}

/** (max, Σexp, s_pos) partials of every column segment by `entry` on grid [gx, nseg], then forward_merge per row. */
function forwardSegments(op: string, p: Plan, shader: string, entry: string, s: Segs, pr: Prepped, loss: Tensor, lse: Tensor, u: Tensor | null = null): void {
  const { e, N, D4 } = p;
  const part = Tensor.empty([s.nseg, N, 4], 'f32', e);
  // u's partials per segment; without ACC_U the kernels never touch these bindings, but both entry
  // points name them, so they get a small buffer of their own (a writable binding may not alias).
  const upart = Tensor.empty(u ? [s.nseg, N, D4 * 4] : [4], 'f32', e);
  const uOut = u ?? Tensor.empty([4], 'f32', e);
  const constants = { ...p.constants, ACC_U: !!u };
  const common = { ahat: pr.ahat.binding(op), chat: pr.chat.binding(op), rinfo: pr.rinfo.binding(op), cinfo: pr.cinfo.binding(op) };
  e.stream.dispatch(e.kernels.get(shader, entry, constants), { ...common, fpart: part.binding(op), gpart: upart.binding(op) }, tileParams(p, s), [s.gx, s.nseg]);
  e.stream.dispatch(
    e.kernels.get(shader, 'forward_merge', constants),
    { fpart_in: part.binding(op), gpart_in: upart.binding(op), u_out: uOut.binding(op), loss: loss.binding(op), lse_out: lse.binding(op) },
    tileParams(p, s),
    e.grid(Math.ceil(N / WG)),
  );
  part.dispose();
  upart.dispose();
  if (uOut !== u) uOut.dispose();
}

/** d(anchors) from the forward's u (ACC_U): rows_from_u's g_i (u_i − ĉ_pos) as one segment, then backward_merge. */
function rowsFromU(op: string, p: Plan, pr: Prepped, u: Tensor, g: Tensor): Tensor {
  const { e, N, D4 } = p;
  const part = Tensor.empty([1, N, D4 * 4], 'f32', e);
  const s = segments(p.N, p.M, p.D4);
  e.stream.dispatch(
    e.kernels.get(tiledShader(p), 'rows_from_u', p.constants),
    { u_in: u.binding(op), g: g.binding(op), rinfo: pr.rinfo.binding(op), chat: pr.chat.binding(op), gpart: part.binding(op) },
    tileParams(p, s),
    e.grid(Math.ceil(N / WG)),
  );
  return mergeGrad(op, p, tiledShader(p), part, 1, true, pr.ahat, pr.rinfo);
}

/**
 * d(candidates) by the tiled kernels: partials per row segment, then backward_merge (sum,
 * normalisation). d(anchors) on this path always comes from the forward's u (rowsFromU).
 */
function backwardColsTiled(op: string, p: Plan, common: Record<string, BufferBinding>, xhat: Tensor, info: Tensor): Tensor {
  return backwardSegments(op, p, tiledShader(p), 'backward_cols_tiled', false, segments(p.M, p.N, p.D4), common, xhat, info);
}

/** Gradient partials of every segment by `entry` on grid [gx, nseg], then backward_merge (sum, 1/τ, normalisation). */
function backwardSegments(op: string, p: Plan, shader: string, entry: string, rowsPass: boolean, s: Segs, common: Record<string, BufferBinding>, xhat: Tensor, info: Tensor): Tensor {
  const { e, N, M, d, D4 } = p;
  const rows = rowsPass ? N : M;
  const part = Tensor.empty([s.nseg, rows, D4 * 4], 'f32', e);
  e.stream.dispatch(e.kernels.get(shader, entry, p.constants), { ...common, gpart: part.binding(op) }, tileParams(p, s), [s.gx, s.nseg]);
  return mergeGrad(op, p, shader, part, s.nseg, rowsPass, xhat, info);
}

/** backward_merge: the gradient partials `part` [nseg, rows, D4·4] summed in order, 1/τ, normalisation; disposes part. */
function mergeGrad(op: string, p: Plan, shader: string, part: Tensor, nseg: number, rowsPass: boolean, xhat: Tensor, info: Tensor): Tensor {
  const { e, d } = p;
  const rows = part.shape[1];
  const result = Tensor.empty([rows, d], 'f32', e);
  e.stream.dispatch(
    e.kernels.get(shader, 'backward_merge', p.constants),
    { gpart_in: part.binding(op), xh4: xhat.binding(op), info: info.binding(op), gout: result.binding(op) },
    { rows, d, nseg, eps: EPS, gscale: rowsPass ? 1 / p.tau : 1, xscale: rowsPass ? p.tau : 1 },
    e.grid(Math.ceil(rows / WG)),
  );
  part.dispose();
  return result;
}

// ------------------------------------------------------------------ workgroup-tiled path (hardware)

/** Threads per workgroup of infonce_wg.wgsl's score kernels, and the workgroup memory they declare. */
const WG_THREADS = 256;
const WG_SHARED_BYTES = (1024 + 512 + 2048) * 4;
/** Own entries per workgroup and streamed entries per step (TO, TS in infonce_wg.wgsl). */
const WG_OWN = 64;
const WG_STREAM = 32;
/**
 * Workgroups the workgroup-tiled kernels aim for (own tiles × segments): about two per SM of a
 * 132-SM H100, so a 1024-row problem (16 own tiles) still fills the GPU. More segments only add
 * partials ([segments, rows, d]) and merge work.
 */
const WG_TARGET = 256;

/** Segments of the streamed axis for the workgroup-tiled kernels (Segs.seg counts TS-entry steps). */
function wgSegments(own: number, other: number, D4: number): Segs {
  const steps = Math.max(1, Math.ceil(other / WG_STREAM));
  const gx = Math.ceil(own / WG_OWN);
  // LOOP LIMIT: per step, D4/4 chunks of 16 score iterations plus TS accumulate iterations.
  const maxSteps = Math.max(1, Math.floor(LOOP_CHUNK / (4 * D4 + WG_STREAM)));
  let nseg = Math.max(1, Math.min(Math.ceil(WG_TARGET / Math.max(gx, 1)), steps), Math.ceil(steps / maxSteps));
  const seg = Math.ceil(steps / nseg);
  nseg = Math.ceil(steps / seg);
  return { gx, nseg, seg };
}

/** forward_wg over (64-row tiles × column segments), then forward_merge of the segments. */
function forwardWg(op: string, p: Plan, pr: Prepped, loss: Tensor, lse: Tensor): void {
  forwardSegments(op, p, 'infonce_wg', 'forward_wg', wgSegments(p.N, p.M, p.D4), pr, loss, lse);
}

function backwardWg(op: string, p: Plan, rowsPass: boolean, common: Record<string, BufferBinding>, xhat: Tensor, info: Tensor): Tensor {
  const { N, M, D4 } = p;
  const s = rowsPass ? wgSegments(N, M, D4) : wgSegments(M, N, D4);
  return backwardSegments(op, p, 'infonce_wg', rowsPass ? 'backward_rows_wg' : 'backward_cols_wg', rowsPass, s, common, xhat, info);
}

/**
 * Per-row InfoNCE / softmax cross-entropy loss [N] (the caller takes `mean()`):
 *   ℓ_i = −s_{i,pos_i} + log Σ_j exp(s_ij),   s_ij = sim(a_i, c̃_j)/τ − logQ_j,
 * sim the cosine (default) or the dot product, the sum over every candidate j except those masked by
 * ids. With candidates = the whole catalog it is the full softmax cross-entropy. Gradients flow to
 * anchors and candidates (through the normalisation; the noise has none); the N×M score matrix is
 * never allocated.
 */
export function infoNCE(anchors: Tensor, candidates: Tensor, opts: InfoNCEOptions): Tensor {
  const op = 'infoNCE';
  const p = plan(op, anchors, candidates, opts);
  const { e, N, M } = p;
  const loss = Tensor.empty([N], 'f32', e);
  const lse = Tensor.empty([N], 'f32', e);
  const path = kernelPath(p);
  // The tiled forward also sums u = P·Ĉ when d(anchors) will be asked for (see forwardTiled).
  const u = path === 'tiled' && N > 0 && anchors.requiresGrad && isGradEnabled() ? Tensor.empty([N, p.D4 * 4], 'f32', e) : null;
  if (N > 0) {
    const ins = bindInputs([anchors, candidates, opts.positives, opts.logQ, opts.anchorIds, opts.candidateIds]);
    const [a, c, pos, logQ, aIds, cIds] = ins.ts;
    const pr = prep(op, p, a!, c!, pos, logQ, aIds, cIds);
    if (path !== 'rows') {
      if (path === 'workgroup') forwardWg(op, p, pr, loss, lse);
      else forwardTiled(op, p, pr, loss, lse, u);
      pr.dispose();
      ins.release();
    } else {
    const ranges = loopRanges(M);
    const state = Tensor.empty(ranges.length > 1 ? [N, 4] : [4], 'f32', e);
    for (const [lo, hi] of ranges) {
      e.stream.dispatch(
        e.kernels.get('infonce', 'forward', p.constants),
        { ahat: pr.ahat.binding(op), chat: pr.chat.binding(op), rinfo: pr.rinfo.binding(op), cinfo: pr.cinfo.binding(op), loss: loss.binding(op), lse_out: lse.binding(op), fstate: state.binding(op) },
        { ...p.params, lo, hi },
        e.grid(Math.ceil(N / WG)),
      );
    }
    state.dispose();
    pr.dispose();
    ins.release();
    }
  }
  const out = record(op, [anchors, candidates], loss, (saver) => {
    const sa = saver.save(anchors);
    const sc = saver.save(candidates);
    const extra = [opts.positives, opts.logQ, opts.anchorIds, opts.candidateIds].map((t) => (t ? saver.save(t) : undefined));
    const sl = saver.save(lse);
    const su = u ? saver.save(u) : null;
    return (g) => {
      // N = 0: no row sees any candidate, so d(candidates) is exactly zero.
      if (N === 0) return [anchors.requiresGrad ? Tensor.empty(anchors.shape, 'f32', e) : null, candidates.requiresGrad ? zeros(candidates.shape, { engine: e }) : null];
      const ins = bindInputs([sa, sc, ...extra, g]);
      const [a, c, pos, logQ, aIds, cIds, gb] = ins.ts;
      const pr = prep(op, p, a!, c!, pos, logQ, aIds, cIds);
      const common = { ahat: pr.ahat.binding(op), chat: pr.chat.binding(op), rinfo: pr.rinfo.binding(op), cinfo: pr.cinfo.binding(op), g: gb!.binding(op), lse: sl.binding(op) };
      if (path !== 'rows') {
        // Tiled: su exists exactly when the anchors needed a gradient at the forward (see u above).
        const da = path === 'workgroup' ? (anchors.requiresGrad ? backwardWg(op, p, true, common, pr.ahat, pr.rinfo) : null) : su ? rowsFromU(op, p, pr, su, gb!) : null;
        const dc = !candidates.requiresGrad ? null : path === 'workgroup' ? backwardWg(op, p, false, common, pr.chat, pr.cinfo) : backwardColsTiled(op, p, common, pr.chat, pr.cinfo);
        pr.dispose();
        ins.release();
        return [da, dc];
      }
      const da = anchors.requiresGrad ? backwardPass(op, p, 'backward_rows', 'da', common, pr.ahat, pr.rinfo, p.tau, N) : null;
      const dc = candidates.requiresGrad ? backwardPass(op, p, 'backward_cols', 'dc', common, pr.chat, pr.cinfo, 1, M) : null;
      pr.dispose();
      ins.release();
      return [da, dc];
    };
  });
  // The node (if any) holds its own aliases of lse and u; ours go now.
  lse.dispose();
  u?.dispose();
  return out;
}

/**
 * The perturbed candidates c̃ = c + σ·ε exactly as infoNCE draws them (unnormalised), for tests and
 * diagnostics; no gradient.
 */
export function infoNCENoise(candidates: Tensor, noise: InfoNCENoise): Tensor {
  const op = 'infoNCENoise';
  const p = plan(op, candidates, candidates, { temperature: 1, cosine: false, noise });
  const c = bindable(candidates);
  const pr = prep(op, p, c, c, undefined, undefined, undefined, undefined, false);
  if (c !== candidates) c.dispose();
  const padded = pr.chat;
  pr.ahat.dispose();
  pr.rinfo.dispose();
  pr.cinfo.dispose();
  if (p.D4 * 4 === p.d) return padded;
  const view = slice(padded, 1, 0, p.d);
  const out = contiguous(view);
  view.dispose();
  padded.dispose();
  return out;
}
