// Fused InfoNCE: forward (per-row loss) and backward (d anchors, d candidates) vs the float64
// reference on odd shapes, with cosine on/off, explicit positives, log-Q, id masks and in-kernel
// noise; vs the unfused composition of existing ops; finite differences of the GPU forward; the
// Philox perturbation (reproducible, right mean/variance, the randNormal stream); and the memory
// bound (no N×M buffer).
import { describe, it, expect } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import type { Tensor, InfoNCEOptions } from '../../src/tensor/index.ts';
import { Nd, randn, rng } from '../reference/nd.ts';
import { infoNCERef } from '../reference/infonce.ts';
import type { InfoNCERefOpts } from '../reference/infonce.ts';
import { expectClose, finiteDiff, toGpu, toNd } from '../helpers.ts';
import { engine } from '../../src/gpu/engine.ts';

// Scores are f32 dot products over d ≤ 64 (relative error ~d·2^-24 of Σ|â||ĉ|/τ ≤ 1/τ = 10) and the
// log-sum-exp an f32 sum over M ≤ 1682 terms: absolute error of a loss ≈ 1e-5 at |ℓ| ≈ 10.
const FWD = { rtol: 1e-5, atol: 5e-5 };
// Gradients sum M (or N) terms p_ij·ĉ_j of mixed sign; each term carries the score's ~1e-6 relative
// error: bound by a fraction of the gradient's largest element rather than elementwise.
const BWD_REL = 2e-4;
// Central differences in f32 with eps = 1e-2 on a loss of size ~1–10: truncation O(eps²·ℓ''') and
// rounding O(ulp·|ℓ|/eps) ≈ 1e-5·10/1e-2 = 1e-3.
const FD = { rtol: 2e-2, atol: 3e-3 };

interface Case extends InfoNCERefOpts {
  noise?: { sigma: number; seed: number; offset?: number };
}

/** Ids with duplicates: values in [0, k) so that ~M/k candidates share each id. */
function ids(n: number, k: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * k));
}

function positives(n: number, m: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * m));
}

/** Upload the optional inputs of a case; returns the options and the tensors to dispose. */
function gpuOpts(c: Case): { opts: InfoNCEOptions; owned: Tensor[] } {
  const owned: Tensor[] = [];
  const up = (v: ArrayLike<number> | undefined, dtype: 'i32' | 'f32') => {
    if (!v) return undefined;
    const t = ops.tensor(Array.from(v), [v.length], { dtype });
    owned.push(t);
    return t;
  };
  const opts: InfoNCEOptions = {
    temperature: c.tau,
    cosine: c.cosine,
    positives: up(c.pos, 'i32'),
    logQ: up(c.logQ, 'f32'),
    anchorIds: up(c.aIds, 'i32'),
    candidateIds: up(c.cIds, 'i32'),
    noise: c.noise,
  };
  return { opts, owned };
}

/** GPU loss and the gradients of Σ g_i·ℓ_i (null: that input without requiresGrad). */
async function runFused(a: Nd, cand: Nd, c: Case, g: Nd, grads = { a: true, c: true }) {
  const at = toGpu(a, grads.a);
  const ct = toGpu(cand, grads.c);
  const { opts, owned } = gpuOpts(c);
  const y = ops.infoNCE(at, ct, opts);
  const gt = toGpu(g);
  if (grads.a || grads.c) y.backward(gt);
  const loss = await toNd(y);
  const da = at.grad ? await toNd(at.grad) : null;
  const dc = ct.grad ? await toNd(ct.grad) : null;
  [at, ct, y, gt, ...owned].forEach((t) => t.dispose());
  return { loss, da, dc };
}

/** |got − want| ≤ rel·max|want| + 1e-7 elementwise. */
function expectGradClose(got: Nd | null, want: Nd, rel: number, label: string): void {
  expect(got, `${label}: gradient missing`).not.toBeNull();
  let mx = 0;
  for (const v of want.data) mx = Math.max(mx, Math.abs(v));
  expectClose(got!.data, want.data, { rtol: 0, atol: rel * mx + 1e-7 }, label);
}

async function checkCase(N: number, M: number, d: number, c: Case, seed: number): Promise<void> {
  const a = randn([N, d], seed);
  const cand = randn([M, d], seed + 1);
  const g = randn([N], seed + 2);
  const got = await runFused(a, cand, c, g);
  const ref = infoNCERef(a, cand, c, g);
  const label = `${N}x${M}x${d}`;
  expectClose(got.loss.data, ref.loss.data, FWD, `${label} loss`);
  expectGradClose(got.da, ref.da, BWD_REL, `${label} d anchors`);
  expectGradClose(got.dc, ref.dc, BWD_REL, `${label} d candidates`);
}

describe('infoNCE vs float64 reference', () => {
  it('(1, 1, 1) cosine: the only candidate is the positive, loss 0', async () => {
    await checkCase(1, 1, 1, { tau: 0.1, cosine: true }, 1);
  });
  it('(7, 33, 5) cosine, default positives, log-Q', async () => {
    const logQ = randn([33], 9).data.map((v) => Math.log(0.01 + Math.abs(v) / 10));
    await checkCase(7, 33, 5, { tau: 0.1, cosine: true, logQ }, 2);
  });
  it('(33, 7, 33) dot product, explicit positives (M < N)', async () => {
    await checkCase(33, 7, 33, { tau: 2, cosine: false, pos: positives(33, 7, 3) }, 3);
  });
  it('(257, 1682, 64) full-catalog softmax cross-entropy (dot product, explicit targets)', async () => {
    await checkCase(257, 1682, 64, { tau: 8, cosine: false, pos: positives(257, 1682, 4) }, 4);
  });
  it('(1000, 1000, 33) cosine, duplicate ids masked, log-Q', async () => {
    const cIds = ids(1000, 300, 5);
    const logQ = cIds.map((v) => Math.log((1 + (v % 7)) / 1000));
    await checkCase(1000, 1000, 33, { tau: 0.07, cosine: true, cIds, aIds: cIds, logQ }, 5);
  });
  it('(40, 120, 7) masks from candidate ids only (key = positive candidate id), explicit positives', async () => {
    await checkCase(40, 120, 7, { tau: 0.2, cosine: true, pos: positives(40, 120, 6), cIds: ids(120, 10, 7) }, 6);
  });
  it('(9, 20, 133) cosine, d > 128: chunked backward + separate normalisation pass', async () => {
    await checkCase(9, 20, 133, { tau: 0.3, cosine: true, pos: positives(9, 20, 8) }, 8);
  });
  it('(9, 20, 261) dot product, d > 256: three backward chunks', async () => {
    await checkCase(9, 20, 261, { tau: 4, cosine: false, pos: positives(9, 20, 9) }, 9);
  });
  it('(70, 45, 37) thread-per-row kernels (setInfoNCETiled(false), the path for d > 128) with masks, log-Q', async () => {
    const cIds = ids(45, 9, 11);
    const logQ = cIds.map((v) => Math.log((1 + (v % 5)) / 100));
    ops.setInfoNCETiled(false);
    try {
      await checkCase(70, 45, 37, { tau: 0.2, cosine: true, pos: positives(70, 45, 12), cIds, logQ }, 12);
    } finally {
      ops.setInfoNCETiled(true);
    }
  });
  it('(70, 45, 37) tiled kernels: rows and columns not multiples of the 8×4 tiles, several segments', async () => {
    const cIds = ids(45, 9, 11);
    const logQ = cIds.map((v) => Math.log((1 + (v % 5)) / 100));
    await checkCase(70, 45, 37, { tau: 0.2, cosine: true, pos: positives(70, 45, 12), cIds, logQ }, 12);
  });
  it('only the requested gradient is computed', async () => {
    const a = randn([9, 6], 1);
    const cand = randn([11, 6], 2);
    const g = randn([9], 3);
    const got = await runFused(a, cand, { tau: 0.5, cosine: true }, g, { a: false, c: true });
    const ref = infoNCERef(a, cand, { tau: 0.5, cosine: true }, g);
    expect(got.da).toBeNull();
    expectGradClose(got.dc, ref.dc, BWD_REL, 'd candidates only');
  });
});

// The tiled forward sums u = P·Ĉ only when d(anchors) will be asked for, and the backward then reads
// it instead of rescoring the candidates (the cases above check the values on this path).
describe('infoNCE tiled path: d(anchors) from the forward', () => {
  const kernelsOf = (f: () => void): string[] => {
    const e = engine();
    const seen: string[] = [];
    const orig = e.stream.dispatch;
    e.stream.dispatch = function (k, ...rest) {
      seen.push(k.key);
      return orig.call(this, k, ...rest);
    };
    try {
      f();
    } finally {
      e.stream.dispatch = orig;
    }
    return seen.map((k) => `${k.split(':')[1]}${/(^|[:,])ACC_U=1(,|$)/.test(k) ? '+u' : ''}`);
  };
  it('anchors need a gradient: forward with u, backward rows_from_u and one tiled pass (over columns)', async () => {
    await withPath('tiled', async () => {
      const a = ops.tensor(randn([37, 12], 1).data, [37, 12], { requiresGrad: true });
      const c = ops.tensor(randn([29, 12], 2).data, [29, 12], { requiresGrad: true });
      const pos = ops.tensor(Int32Array.from({ length: 37 }, (_, i) => (i * 7) % 29), [37], { dtype: 'i32' });
      const g = ops.tensor(new Float32Array(37).fill(1), [37]);
      let l: Tensor | null = null;
      try {
        expect(kernelsOf(() => (l = ops.infoNCE(a, c, { temperature: 0.3, positives: pos })))).toContain('forward_tiled+u');
        const back = kernelsOf(() => l!.backward(g));
        expect(back).toContain('rows_from_u');
        expect(back).toContain('backward_cols_tiled');
        // The only backward kernel that walks the score matrix is the one over columns.
        expect(back.filter((k) => k.includes('_tiled'))).toEqual(['backward_cols_tiled']);
        // Only the candidates need a gradient: no u, no rows_from_u, and the anchors get none.
        const a2 = ops.tensor(randn([37, 12], 1).data, [37, 12]);
        let l2: Tensor | null = null;
        try {
          expect(kernelsOf(() => (l2 = ops.infoNCE(a2, c, { temperature: 0.3, positives: pos })))).not.toContain('forward_tiled+u');
          c.grad?.dispose();
          c.grad = null;
          const back2 = kernelsOf(() => l2!.backward(g));
          expect(back2).not.toContain('rows_from_u');
          expect(back2.filter((k) => k.includes('_tiled'))).toEqual(['backward_cols_tiled']);
          expect(a2.grad).toBeNull();
          expect(c.grad).not.toBeNull();
        } finally {
          [a2, l2].forEach((t) => t?.dispose());
        }
        // Without a gradient for the anchors (noGrad, or only candidates), the forward sums nothing more.
        const fwd = kernelsOf(() => ops.noGrad(() => ops.infoNCE(a, c, { temperature: 0.3, positives: pos }).dispose()));
        expect(fwd).toContain('forward_tiled');
        expect(fwd).not.toContain('forward_tiled+u');
      } finally {
        [a, c, pos, g, l].forEach((t) => t?.dispose());
      }
    });
  });
});

/** Runs `fn` with infoNCE forced onto one kernel set, then back to 'auto'. */
async function withPath(path: ops.InfoNCEPath, fn: () => Promise<void>): Promise<void> {
  ops.setInfoNCEPath(path);
  try {
    await fn();
  } finally {
    ops.setInfoNCEPath('auto');
  }
}

// The workgroup-tiled kernels (infonce_wg.wgsl) are what hardware GPUs run; CI has only CPU adapters,
// where 'auto' picks the register-tiled kernels, so these force them. Shapes cross the 64-row and
// 32-column tiles, split the streamed axis into several segments (1000: 16 row tiles → 16 segments),
// and take d chunks that are not whole (d = 36: 9 vec4 = two chunks of 4 and one of 1). The finite
// differences and the memory bound further down run on both paths.
describe('infoNCE workgroup-tiled kernels (the hardware-GPU path) vs float64 reference', () => {
  const cases: [string, () => Promise<void>][] = [
    ['(7, 33, 5) cosine, default positives, log-Q', () => checkCase(7, 33, 5, { tau: 0.1, cosine: true, logQ: randn([33], 9).data.map((v) => Math.log(0.01 + Math.abs(v) / 10)) }, 2)],
    ['(33, 7, 33) dot product, explicit positives (M < N)', () => checkCase(33, 7, 33, { tau: 2, cosine: false, pos: positives(33, 7, 3) }, 3)],
    ['(257, 1682, 64) full-catalog softmax cross-entropy', () => checkCase(257, 1682, 64, { tau: 8, cosine: false, pos: positives(257, 1682, 4) }, 4)],
    ['(1000, 1000, 36) cosine, duplicate ids masked, log-Q, several segments', () => {
      const cIds = ids(1000, 300, 5);
      return checkCase(1000, 1000, 36, { tau: 0.07, cosine: true, cIds, aIds: cIds, logQ: cIds.map((v) => Math.log((1 + (v % 7)) / 1000)) }, 5);
    }],
    ['(40, 120, 7) masks from candidate ids only', () => checkCase(40, 120, 7, { tau: 0.2, cosine: true, pos: positives(40, 120, 6), cIds: ids(120, 10, 7) }, 6)],
    ['(130, 97, 128) cosine, d = 128 (two vec4 of d per thread)', () => checkCase(130, 97, 128, { tau: 0.3, cosine: true, pos: positives(130, 97, 13) }, 13)],
  ];
  for (const [name, run] of cases) it(name, () => withPath('workgroup', run));
});

/** The unfused composition: normalise → matmul with T() → affine(1/τ) → −logQ, +mask → logSoftmax → pick. */
function unfused(a: Tensor, c: Tensor, tau: number, cosine: boolean, onehot: Tensor, logQ?: Tensor, maskAdd?: Tensor): Tensor {
  const an = cosine ? ops.l2Normalize(a) : a;
  const cn = cosine ? ops.l2Normalize(c) : c;
  let s = ops.affine(ops.matmul(an, ops.T(cn)), 1 / tau, 0);
  if (logQ) s = ops.sub(s, logQ);
  if (maskAdd) s = ops.add(s, maskAdd);
  return ops.neg(ops.sum(ops.mul(ops.logSoftmax(s), onehot), 1));
}

describe('infoNCE vs the unfused composition of existing ops', () => {
  const cases: [string, number, number, number, boolean, boolean, boolean][] = [
    ['cosine', 64, 300, 16, true, false, false],
    ['cosine + log-Q', 33, 50, 9, true, true, false],
    ['cosine + log-Q + id mask', 33, 50, 9, true, true, true],
    ['dot product + mask', 20, 45, 12, false, false, true],
  ];
  for (const [name, N, M, d, cosine, withQ, withMask] of cases) {
    it(`${name} (${N}, ${M}, ${d})`, async () => {
      const tau = 0.1;
      const a = randn([N, d], 11);
      const cand = randn([M, d], 12);
      const g = randn([N], 13);
      const pos = positives(N, M, 14);
      const logQ = withQ ? randn([M], 15).data.map((v) => -5 + v) : undefined;
      const cIds = withMask ? ids(M, 8, 16) : undefined;
      const c: Case = { tau, cosine, pos, logQ, cIds };
      const fused = await runFused(a, cand, c, g);

      // One-hot of the positives; masked entries get −1e30 added (exp underflows to exactly 0).
      const onehot = new Float32Array(N * M);
      const maskAdd = new Float32Array(N * M);
      for (let i = 0; i < N; i++) {
        onehot[i * M + pos[i]] = 1;
        if (cIds) for (let j = 0; j < M; j++) if (j !== pos[i] && cIds[j] === cIds[pos[i]]) maskAdd[i * M + j] = -1e30;
      }
      const at = toGpu(a, true);
      const ct = toGpu(cand, true);
      const oh = ops.tensor(onehot, [N, M]);
      const mk = cIds ? ops.tensor(maskAdd, [N, M]) : undefined;
      const lq = logQ ? ops.tensor(logQ, [M]) : undefined;
      const gt = toGpu(g);
      const y = ops.tidy(() => unfused(at, ct, tau, cosine, oh, lq, mk));
      y.backward(gt);
      const loss = await toNd(y);
      const da = await toNd(at.grad!);
      const dc = await toNd(ct.grad!);
      [at, ct, oh, y, gt, ...(mk ? [mk] : []), ...(lq ? [lq] : [])].forEach((t) => t.dispose());

      // Both sides are f32 with different summation orders: the FWD / BWD_REL bounds above.
      expectClose(fused.loss.data, loss.data, FWD, `${name} loss`);
      expectGradClose(fused.da, da, BWD_REL, `${name} d anchors`);
      expectGradClose(fused.dc, dc, BWD_REL, `${name} d candidates`);
    });
  }
});

describe('infoNCE finite differences', () => {
  const cases: [string, Case][] = [
    ['cosine + log-Q + mask', { tau: 0.5, cosine: true, pos: [0, 3, 1, 6, 2], logQ: [-1, -2, 0.5, -0.3, -1.1, 0.2, -0.7, 0.1, -2.5], cIds: [1, 2, 3, 2, 5, 6, 1, 8, 3] }],
    ['dot product', { tau: 1.5, cosine: false }],
  ];
  for (const [name, c] of cases) {
    for (const path of ['auto', 'workgroup'] as const)
    it(`${name} (${path} kernels)`, () => withPath(path, async () => {
      const N = 5;
      const M = 9;
      const d = 6;
      const a = randn([N, d], 21);
      const cand = randn([M, d], 22);
      const w = randn([N], 23);
      const got = await runFused(a, cand, c, w);
      const f = ([x, y]: Tensor[]) => {
        const { opts, owned } = gpuOpts(c);
        const out = ops.infoNCE(x, y, opts);
        owned.forEach((t) => t.dispose());
        return out;
      };
      const fdA = await finiteDiff(f, [a, cand], 0, 1e-2, w);
      const fdC = await finiteDiff(f, [a, cand], 1, 1e-2, w);
      expectClose(got.da!.data, fdA, FD, `${name}: d anchors vs finite differences`);
      expectClose(got.dc!.data, fdC, FD, `${name}: d candidates vs finite differences`);
    }));
  }
});

describe('infoNCE noise (in-kernel Philox perturbation)', () => {
  it('the perturbation is σ·randNormal of the same (seed, offset), for several offsets', async () => {
    for (const [M, d, offset] of [[33, 5, 0], [7, 33, 3], [10, 8, 2 ** 33 + 1]] as const) {
      const cand = randn([M, d], 31);
      const sigma = 0.3;
      const t = ops.tidy(() => ops.infoNCENoise(toGpu(cand), { sigma, seed: 77, offset }));
      const got = await t.data();
      t.dispose();
      const z = ops.randNormal([M, d], 77, offset);
      const zd = await z.data();
      z.dispose();
      // c + σ·z in f32: one rounding of the product and one of the sum.
      expectClose(got, cand.data.map((v, i) => Math.fround(v) + sigma * zd[i]), { rtol: 1e-6, atol: 1e-6 }, `noise M=${M} d=${d} offset=${offset}`);
    }
  });

  it('mean 0 and variance σ² (c = 0, 33 000 draws)', async () => {
    const sigma = 0.25;
    const zero = ops.zeros([1000, 33]);
    const t = ops.infoNCENoise(zero, { sigma, seed: 123 });
    const v = await t.data();
    t.dispose();
    zero.dispose();
    let s = 0;
    let s2 = 0;
    for (const x of v) {
      s += x;
      s2 += x * x;
    }
    const n = v.length;
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    // Standard errors: σ/√n ≈ 1.4e-3 for the mean, σ²·√(2/n) ≈ 4.9e-4 for the variance; 5 of them.
    expect(Math.abs(mean)).toBeLessThan((5 * sigma) / Math.sqrt(n));
    expect(Math.abs(variance - sigma * sigma)).toBeLessThan(5 * sigma * sigma * Math.sqrt(2 / n));
  });

  it('same seed → same loss (bitwise); different seed or offset → different loss', async () => {
    const a = randn([16, 8], 41);
    const lossWith = async (seed: number, offset = 0) => {
      const at = toGpu(a);
      const y = ops.infoNCE(at, at, { temperature: 0.2, noise: { sigma: 0.1, seed, offset } });
      const v = await y.data();
      y.dispose();
      at.dispose();
      return Array.from(v);
    };
    const l1 = await lossWith(5);
    expect(await lossWith(5)).toEqual(l1);
    expect(await lossWith(6)).not.toEqual(l1);
    expect(await lossWith(5, 128)).not.toEqual(l1);
  });

  it('L_fus-cl (anchors = candidates = z, noisy candidates) forward and backward vs reference on c̃', async () => {
    const N = 37;
    const d = 10;
    const z = randn([N, d], 51);
    const g = randn([N], 52);
    const noise = { sigma: 0.2, seed: 9, offset: 1 };
    const ct = ops.tidy(() => ops.infoNCENoise(toGpu(z), noise));
    const cTilde = await toNd(ct);
    ct.dispose();
    // Two leaves with the same values: the fused op sees z twice, as anchors and (perturbed) candidates.
    const got = await runFused(z, z, { tau: 0.1, cosine: true, noise }, g);
    const ref = infoNCERef(z, cTilde, { tau: 0.1, cosine: true }, g);
    expectClose(got.loss.data, ref.loss.data, FWD, 'fus-cl loss');
    expectGradClose(got.da, ref.da, BWD_REL, 'fus-cl d anchors');
    expectGradClose(got.dc, ref.dc, BWD_REL, 'fus-cl d candidates (= d c̃)');
  });
});

describe('infoNCE memory and errors', () => {
  for (const path of ['auto', 'workgroup'] as const)
  it(`N = M = 2048, d = 32: forward + backward allocate far less than one N×M f32 buffer (${path} kernels)`, () => withPath(path, async () => {
    const N = 2048;
    const d = 32;
    const a = toGpu(randn([N, d], 61), true);
    const c = toGpu(randn([N, d], 62), true);
    const e = engine();
    await e.stream.sync();
    const base = e.pool.stats().bytesInUse;
    e.pool.resetPeak();
    const y = ops.infoNCE(a, c, { temperature: 0.1 });
    const l = ops.mean(y);
    l.backward();
    await e.stream.sync();
    const peak = e.pool.stats().peakBytesInUse - base;
    const v = await l.data();
    [a.grad!, c.grad!, y, l, a, c].forEach((t) => t.dispose());
    expect(Number.isFinite(v[0])).toBe(true);
    // Budget N·M·4/4 = 4 MiB; what the op needs is O((N+M)·d): Â, ĉ, the gradients (256 KiB each).
    expect(peak).toBeLessThan((N * N * 4) / 4);
  }));

  it('rejects mismatched shapes and bad options, naming the op', () => {
    const a = ops.zeros([4, 3]);
    const b = ops.zeros([5, 2]);
    const c = ops.zeros([3, 3]);
    const q = ops.zeros([7]);
    try {
      expect(() => ops.infoNCE(a, b, { temperature: 1 })).toThrow(/infoNCE.*\[4, 3\].*\[5, 2\]/);
      expect(() => ops.infoNCE(a, c, { temperature: 1 })).toThrow(/infoNCE.*M ≥ N/);
      expect(() => ops.infoNCE(c, a, { temperature: 0 })).toThrow(/temperature/);
      expect(() => ops.infoNCE(c, a, { temperature: 1, logQ: q })).toThrow(/infoNCE.*logQ.*\[7\]/);
    } finally {
      [a, b, c, q].forEach((t) => t.dispose());
    }
  });
});
