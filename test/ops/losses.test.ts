// MUFASA regression losses (paper eq. 2 and 3): mseLoss and consistencyLoss forward and backward vs the
// float64 reference on odd shapes, the GPU pair sampler vs its exact integer reference, finite
// differences of the GPU forward on small shapes.
import { describe, it, expect } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { Nd, randn } from '../reference/nd.ts';
import { samplePairsRef, mseRef, consistencyRef } from '../reference/losses.ts';
import { expectClose, gpuGrads, finiteDiff, toGpu, toNd } from '../helpers.ts';

// Central differences in f32 with eps = 1e-2 on smooth losses: truncation O(eps²·f''') and rounding
// O(ulp·|L|/eps) (as in elementwise.test.ts).
const FD = { rtol: 2e-2, atol: 2e-3 };

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

/** rtol elementwise, atol a fraction of the largest |want| (gradients mix rows of very different size). */
const scaled = (want: ArrayLike<number>, rtol: number, frac: number) => ({ rtol, atol: frac * Math.max(maxAbs(want), 1e-30) });

describe('samplePairs', () => {
  // Offsets: 0; odd (a pair straddles two Philox blocks when (offset + 2p) mod 4 = 3); past 2^32
  // (the 64-bit block counter's high word).
  for (const [n, P, seed, offset] of [
    [2, 7, 1, 0],
    [7, 513, 42, 3],
    [1000, 513, 2 ** 33 + 7, 2 ** 32 + 5],
  ] as const) {
    it(`N=${n} P=${P} seed=${seed} offset=${offset}: equals the integer reference, i ≠ j, in range`, async () => {
      const t = ops.samplePairs(n, P, seed, offset);
      const got = (await t.data()) as Int32Array;
      t.dispose();
      expect([...t.shape]).toEqual([P, 2]);
      const want = samplePairsRef(n, P, seed, offset);
      // Integer rule on both sides: exact equality.
      expect(Array.from(got)).toEqual(Array.from(want));
      for (let p = 0; p < P; p++) {
        expect(got[2 * p]).not.toBe(got[2 * p + 1]);
        expect(got[2 * p] >= 0 && got[2 * p] < n && got[2 * p + 1] >= 0 && got[2 * p + 1] < n).toBe(true);
      }
    });
  }

  it('is reproducible from (seed, offset), changes with the seed, and offset 2k skips k pairs', async () => {
    const a = ops.samplePairs(257, 100, 9, 0);
    const b = ops.samplePairs(257, 100, 9, 0);
    const c = ops.samplePairs(257, 100, 10, 0);
    const d = ops.samplePairs(257, 90, 9, 20);
    const [va, vb, vc, vd] = await Promise.all([a, b, c, d].map((x) => x.array()));
    [a, b, c, d].forEach((x) => x.dispose());
    expect(vb).toEqual(va);
    expect(vc).not.toEqual(va);
    expect(vd).toEqual(va.slice(20));
  });

  it('is roughly uniform over ordered pairs (N = 7, 1e5 pairs, chi-square)', async () => {
    const n = 7;
    const P = 100_000;
    const t = ops.samplePairs(n, P, 123, 0);
    const v = (await t.data()) as Int32Array;
    t.dispose();
    const counts = new Float64Array(n * n);
    for (let p = 0; p < P; p++) counts[v[2 * p] * n + v[2 * p + 1]]++;
    const expected = P / (n * (n - 1));
    let chi2 = 0;
    for (let i = 0; i < n; i++) {
      expect(counts[i * n + i]).toBe(0);
      for (let j = 0; j < n; j++) if (i !== j) chi2 += (counts[i * n + j] - expected) ** 2 / expected;
    }
    // 41 degrees of freedom: mean 41, sd ≈ 9; 100 is p ≈ 1e-6 for a fair sampler, while a sampler that
    // never draws one of the 42 pairs gives ≥ 2381 and a 5% skew on one row ≈ 160.
    expect(chi2).toBeLessThan(100);
  });

  it('throws for N < 2 and for pairs < 1', () => {
    expect(() => ops.samplePairs(1, 5, 0)).toThrow(/N ≥ 2/);
    expect(() => ops.samplePairs(5, 0, 0)).toThrow(/pairs/);
  });
});

describe('consistencyLoss', () => {
  // Forward: a mean of squares of cosine differences; f32 dot products over ≤ 64 terms give cosines to
  // ~1e-7 absolute and cos_z − cos_t can cancel, so an absolute bound plus a relative one (measured
  // worst here: 7e-8 absolute, 1.2e-6 relative, on both CPU adapters).
  const FWD = { rtol: 1e-5, atol: 1e-7 };
  // Backward: per-pair terms to a few ulp, then summed per row over up to ~2P/N pairs of mixed sign,
  // so entries near zero only meet an absolute bound: 1e-5 of the largest Σ|terms| of an element (the
  // reference's gAbs; it is what rounding scales with when terms cancel, e.g. d = 1 where the exact
  // gradient is 0 since cos ≡ ±1). Measured worst: 1.3e-6 of the largest gradient entry.
  const bwd = (want: ArrayLike<number>, absTerms: Nd) => ({ rtol: 1e-4, atol: 1e-5 * Math.max(maxAbs(want), maxAbs(absTerms.data), 1e-30) });

  for (const [n, d] of [
    [2, 1],
    [7, 33],
    [257, 5],
    [1000, 64],
  ] as const) {
    for (const P of [1, 7, 513]) {
      it(`(N, d) = (${n}, ${d}), P = ${P}: forward and both gradients vs reference`, async () => {
        const seed = 1000 + n + P;
        const z = randn([n, d], 1 + n);
        const tt = randn([n, d], 2 + n);
        const w = randn([1], 3 + P);
        const { out, grads } = await gpuGrads(([a, b]) => ops.consistencyLoss(a, b, { pairs: P, seed, offset: 6 }), [z, tt], w);
        const ref = consistencyRef(z, tt, samplePairsRef(n, P, seed, 6), 1e-8, w.data[0]);
        expect(out.shape).toEqual([1]);
        expectClose(out.data, [ref.loss], FWD, 'loss');
        expectClose(grads[0].data, ref.gz.data, bwd(ref.gz.data, ref.gzAbs), 'dz');
        expectClose(grads[1].data, ref.gt.data, bwd(ref.gt.data, ref.gtAbs), 'dt');
      });
    }
  }

  it('t of another width than z (d_z = 33, d_t = 12), odd offset', async () => {
    const z = randn([7, 33], 5);
    const tt = randn([7, 12], 6);
    const w = randn([1], 7);
    const { out, grads } = await gpuGrads(([a, b]) => ops.consistencyLoss(a, b, { pairs: 50, seed: 3, offset: 11 }), [z, tt], w);
    const ref = consistencyRef(z, tt, samplePairsRef(7, 50, 3, 11), 1e-8, w.data[0]);
    expectClose(out.data, [ref.loss], FWD, 'loss');
    expectClose(grads[0].data, ref.gz.data, bwd(ref.gz.data, ref.gzAbs), 'dz');
    expectClose(grads[1].data, ref.gt.data, bwd(ref.gt.data, ref.gtAbs), 'dt');
  });

  it('frozen t (the usual case): gradient to z only, t.grad stays null', async () => {
    const z = randn([257, 5], 8);
    const tt = randn([257, 5], 9);
    const zg = toGpu(z, true);
    const tg = toGpu(tt, false);
    const loss = ops.consistencyLoss(zg, tg, { pairs: 513, seed: 77 });
    loss.backward();
    const ref = consistencyRef(z, tt, samplePairsRef(257, 513, 77, 0));
    expectClose(await loss.data(), [ref.loss], FWD, 'loss');
    expect(tg.grad).toBeNull();
    expectClose(await zg.grad!.data(), ref.gz.data, bwd(ref.gz.data, ref.gzAbs), 'dz');
    [loss, zg, tg].forEach((x) => x.dispose());
  });

  it('rows with ‖z_i‖ = 0 and 0 < ‖z_i‖ < eps take the eps branch of the norm (finite, as the reference)', async () => {
    const z = randn([7, 33], 10);
    // Row 3 zero; row 5 scaled to norm ≈ 5e-9 < eps = 1e-8, where dropping the branch's condition
    // changes its gradient by ~(‖z_5‖/eps)² ≈ 25%.
    let sq = 0;
    for (let k = 0; k < 33; k++) sq += z.data[5 * 33 + k] ** 2;
    for (let k = 0; k < 33; k++) {
      z.data[3 * 33 + k] = 0;
      z.data[5 * 33 + k] = Math.fround((z.data[5 * 33 + k] * 5e-9) / Math.sqrt(sq));
    }
    const tt = randn([7, 33], 11);
    const w = randn([1], 12);
    const { out, grads } = await gpuGrads(([a, b]) => ops.consistencyLoss(a, b, { pairs: 200, seed: 5 }), [z, tt], w);
    const pairs = samplePairsRef(7, 200, 5, 0);
    expect(Array.from(pairs).includes(3) && Array.from(pairs).includes(5)).toBe(true);
    const ref = consistencyRef(z, tt, pairs, 1e-8, w.data[0]);
    expectClose(out.data, [ref.loss], FWD, 'loss');
    // Rows 3 and 5 get gradients ~(Σ coef·ẑ_j)/eps ~ 1e6–1e7, the others O(1): a relative bound per element.
    expectClose(grads[0].data, ref.gz.data, { rtol: 1e-3, atol: 1e-4 }, 'dz');
    expectClose(grads[1].data, ref.gt.data, bwd(ref.gt.data, ref.gtAbs), 'dt');
  });

  it('backward is bit-identical run to run', async () => {
    const z = randn([257, 5], 13);
    const tt = randn([257, 5], 14);
    const w = randn([1], 15);
    const f = ([a, b]: Tensor[]) => ops.consistencyLoss(a, b, { pairs: 513, seed: 1 });
    const r1 = await gpuGrads(f, [z, tt], w);
    const r2 = await gpuGrads(f, [z, tt], w);
    expect(Array.from(r2.grads[0].data)).toEqual(Array.from(r1.grads[0].data));
    expect(Array.from(r2.grads[1].data)).toEqual(Array.from(r1.grads[1].data));
  });

  it('finite differences (N = 5, d = 3, P = 7)', async () => {
    const z = randn([5, 3], 16);
    const tt = randn([5, 4], 17);
    const w = randn([1], 18);
    const f = ([a, b]: Tensor[]) => ops.consistencyLoss(a, b, { pairs: 7, seed: 2 });
    const { grads } = await gpuGrads(f, [z, tt], w);
    for (const which of [0, 1]) {
      const fd = await finiteDiff(f, [z, tt], which, 1e-2, w);
      expectClose(grads[which].data, fd, FD, `d/d${which ? 't' : 'z'} vs finite differences`);
    }
  });

  it('throws for N = 1, mismatched N, and bad pair counts', () => {
    ops.tidy(() => {
      const one = ops.zeros([1, 4]);
      expect(() => ops.consistencyLoss(one, one, { pairs: 3, seed: 0 })).toThrow(/consistencyLoss: needs N ≥ 2/);
      const a = ops.zeros([5, 4]);
      const b = ops.zeros([6, 4]);
      expect(() => ops.consistencyLoss(a, b, { pairs: 3, seed: 0 })).toThrow(/same N.*\[5, 4\].*\[6, 4\]/);
      expect(() => ops.consistencyLoss(a, a, { pairs: 0, seed: 0 })).toThrow(/pairs/);
      expect(() => ops.consistencyLoss(a, a, { pairs: 3, seed: -1 })).toThrow(/seed/);
    });
  });
});

describe('mseLoss', () => {
  // Forward: row sums of ≤ 64 squares in f32, then a mean over ≤ 1000 rows: the worst-case f32 bound
  // is a few 1e-6 relative (measured 9e-8 on both CPU adapters).
  const FWD = { rtol: 1e-5, atol: 1e-7 };
  // Backward: gy·(2/N)·(z − c) is four f32 roundings per element (≤ 2.4e-7 relative, measured 1.3e-7).
  const bwd = (want: ArrayLike<number>) => scaled(want, 1e-5, 1e-6);

  for (const [n, d] of [
    [1, 1],
    [7, 33],
    [1000, 64],
  ] as const) {
    it(`(N, d) = (${n}, ${d}): forward (mean over rows of ‖z − c‖²) and both gradients vs reference`, async () => {
      const z = randn([n, d], 20 + n);
      const c = randn([n, d], 21 + n);
      const w = randn([1], 22);
      const { out, grads } = await gpuGrads(([a, b]) => ops.mseLoss(a, b), [z, c], w);
      const ref = mseRef(z, c, w.data[0]);
      expect(out.shape).toEqual([1]);
      expectClose(out.data, [ref.loss], FWD, 'loss');
      expectClose(grads[0].data, ref.gz.data, bwd(ref.gz.data), 'dz');
      expectClose(grads[1].data, ref.gc.data, bwd(ref.gc.data), 'dc');
    });
  }

  it('one input frozen: frozen c gives dz only, frozen z gives dc only', async () => {
    const z = randn([7, 33], 30);
    const c = randn([7, 33], 31);
    const ref = mseRef(z, c);
    for (const frozen of ['c', 'z'] as const) {
      const zg = toGpu(z, frozen !== 'z');
      const cg = toGpu(c, frozen !== 'c');
      const loss = ops.mseLoss(zg, cg);
      loss.backward();
      expectClose(await loss.data(), [ref.loss], FWD, 'loss');
      if (frozen === 'c') {
        expect(cg.grad).toBeNull();
        expectClose((await toNd(zg.grad!)).data, ref.gz.data, bwd(ref.gz.data), 'dz');
      } else {
        expect(zg.grad).toBeNull();
        expectClose((await toNd(cg.grad!)).data, ref.gc.data, bwd(ref.gc.data), 'dc');
      }
      [loss, zg, cg].forEach((x) => x.dispose());
    }
  });

  it('is the row mean, not the element mean (d = 4 rows of ones vs zeros: loss 4, not 1)', async () => {
    const loss = ops.tidy(() => ops.mseLoss(ops.ones([3, 4]), ops.zeros([3, 4])));
    expect(await loss.array()).toEqual([4]);
    loss.dispose();
  });

  it('finite differences (N = 3, d = 4)', async () => {
    const z = randn([3, 4], 40);
    const c = randn([3, 4], 41);
    const w = randn([1], 42);
    const f = ([a, b]: Tensor[]) => ops.mseLoss(a, b);
    const { grads } = await gpuGrads(f, [z, c], w);
    for (const which of [0, 1]) {
      const fd = await finiteDiff(f, [z, c], which, 1e-2, w);
      expectClose(grads[which].data, fd, FD, `d/d${which ? 'c' : 'z'} vs finite differences`);
    }
  });

  it('throws for shape mismatch and N = 0', () => {
    ops.tidy(() => {
      expect(() => ops.mseLoss(ops.zeros([3, 4]), ops.zeros([3, 5]))).toThrow(/mseLoss: .*\[3, 4\].*\[3, 5\]/);
      expect(() => ops.mseLoss(ops.zeros([0, 4]), ops.zeros([0, 4]))).toThrow(/mseLoss: needs at least one row/);
    });
  });
});

