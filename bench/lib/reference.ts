// CPU ground truth for the matmul lab: float64 accumulation, checked against every output for small
// problems and a fixed random sample of outputs for large ones (a full float64 reference of
// 1024×20000×64 is 1.3 G multiply-adds: too slow to be worth it when ~2000 entries already catch
// indexing, edge-tile and missing-term bugs).

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [-1, 1). */
export function randomMatrix(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * r() - 1;
  return out;
}

export interface MatmulReference {
  /** Flat output indices that are checked. */
  idx: Int32Array;
  /** Σ_k a·b in float64 at those indices. */
  want: Float64Array;
  /** Allowed absolute error at those indices. */
  tol: Float64Array;
  full: boolean;
}

/** Products with at most this many multiply-adds are checked everywhere. */
export const FULL_CHECK_MACS = 2 ** 27;

/**
 * The reference at all outputs (small problems) or at `samples` random ones.
 *
 * Tolerance: the classic bound for a float32 dot product in any summation order,
 * |fl(c) − c| ≤ γ_K · Σ|a_k b_k| with γ_K ≈ K·2⁻²⁴, plus 1e-6 for outputs that are ~0. It is an upper
 * bound, so a correct kernel never fails it, while a dropped or doubled term (error ≈ |a_k b_k|, on
 * average 0.25 here) exceeds it by a wide margin at K ≤ 1024.
 */
export function matmulReference(a: Float32Array, b: Float32Array, M: number, N: number, K: number, samples = 2000, seed = 7): MatmulReference {
  const full = M * N * K <= FULL_CHECK_MACS;
  let idx: Int32Array;
  if (full) {
    idx = new Int32Array(M * N);
    for (let i = 0; i < idx.length; i++) idx[i] = i;
  } else {
    // Always include the four corners (edge tiles), then random entries.
    const r = rng(seed);
    const set = new Set<number>([0, N - 1, (M - 1) * N, M * N - 1]);
    while (set.size < Math.min(samples, M * N)) set.add(Math.floor(r() * M * N));
    idx = Int32Array.from([...set].sort((x, y) => x - y));
  }
  const want = new Float64Array(idx.length);
  const tol = new Float64Array(idx.length);
  const gamma = K * 2 ** -24;
  if (full) {
    // Row-by-row, k-outer: cache-friendly over B.
    const acc = new Float64Array(N);
    const abs = new Float64Array(N);
    for (let i = 0; i < M; i++) {
      acc.fill(0);
      abs.fill(0);
      for (let k = 0; k < K; k++) {
        const av = a[i * K + k];
        const bo = k * N;
        for (let j = 0; j < N; j++) {
          const t = av * b[bo + j];
          acc[j] += t;
          abs[j] += Math.abs(t);
        }
      }
      for (let j = 0; j < N; j++) {
        want[i * N + j] = acc[j];
        tol[i * N + j] = gamma * abs[j] + 1e-6;
      }
    }
  } else {
    for (let s = 0; s < idx.length; s++) {
      const i = Math.floor(idx[s] / N);
      const j = idx[s] % N;
      let acc = 0;
      let abs = 0;
      for (let k = 0; k < K; k++) {
        const t = a[i * K + k] * b[k * N + j];
        acc += t;
        abs += Math.abs(t);
      }
      want[s] = acc;
      tol[s] = gamma * abs + 1e-6;
    }
  }
  return { idx, want, tol, full };
}

export interface CheckResult {
  ok: boolean;
  checked: number;
  /** Largest |got − want| / tol (≤ 1 passes). */
  worstRatio: number;
  maxAbsErr: number;
  detail: string;
}

export function checkMatmul(got: Float32Array, ref: MatmulReference, N: number): CheckResult {
  let worst = 0;
  let worstAt = -1;
  let maxAbs = 0;
  for (let s = 0; s < ref.idx.length; s++) {
    const g = got[ref.idx[s]];
    const err = Math.abs(g - ref.want[s]);
    const ratio = Number.isFinite(g) ? err / ref.tol[s] : Infinity;
    if (err > maxAbs || !Number.isFinite(err)) maxAbs = Number.isFinite(err) ? err : Infinity;
    if (ratio > worst) {
      worst = ratio;
      worstAt = s;
    }
  }
  const ok = worst <= 1;
  let detail = `${ref.idx.length} entries checked${ref.full ? ' (all)' : ' (sample)'}, max |err| ${maxAbs.toExponential(2)}`;
  if (!ok) {
    const i = ref.idx[worstAt];
    detail += `; worst at (${Math.floor(i / N)}, ${i % N}): got ${got[i]}, want ${ref.want[worstAt]}, ${worst.toFixed(1)}× the tolerance`;
  }
  return { ok, checked: ref.idx.length, worstRatio: worst, maxAbsErr: maxAbs, detail };
}
