// Regression tests for llvmpipe's loop limiter: Mesa's llvmpipe silently stops a shader invocation's
// loops after 65535 iterations in all (gallivm LP_MAX_TGSI_LOOP_ITERATIONS; the count is shared by
// every loop of the invocation, nested or sequential), so every per-thread loop over a data size
// must stay below it per dispatch. Each test runs one such loop past 65535 (70000) on a small second
// dimension, against the float64 references; before the fix they failed on the default adapter,
// except the [70000, 3] column sum, which reduce.ts already split for occupancy (kept as a guard).
import { describe, it } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import { Nd, randn } from '../reference/nd.ts';
import { infoNCERef } from '../reference/infonce.ts';
import { softmaxRef } from '../reference/softmax.ts';
import { reduceRef } from '../reference/reduce.ts';
import { l2NormalizeRef, layerNormRef } from '../reference/norm.ts';
import { expectClose, gpuGrads } from '../helpers.ts';

const BIG = 70000;

/** max |got − want| ≤ rel · max |want|: for long sums of mixed-sign terms, bound by the scale. */
function expectWithinScale(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, label: string): void {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  expectClose(got, want, { rtol: 0, atol: rel * scale + 1e-30 }, label);
}

describe('loops longer than 65535 iterations (llvmpipe loop limiter)', () => {
  // f32 online log-sum-exp over 70000 terms: worst-case relative error of the sum ≈ M·2^-24 ≈ 4e-3,
  // typically √M·2^-24 ≈ 2e-5; 1e-3 absolute on a loss of ≈ 14 is well below the 0.06 the limiter
  // cost before the fix (14.122 vs 14.183).
  const LOSS = { rtol: 0, atol: 1e-3 };
  // Gradients are sums over 70000 (or 3) terms p·ĉ of mixed sign, each with the scores' ~1e-6 error:
  // bound by a fraction of the largest element.
  const GRAD_REL = 1e-3;

  it('infoNCE over M = 70000 candidates: forward and both gradients', async () => {
    const N = 2;
    const d = 4;
    const a = randn([N, d], 11, 0.5);
    const c = randn([BIG, d], 12, 0.5);
    const g = Nd.from([1, 0.7], [N]);
    const ref = infoNCERef(a, c, { tau: 1, cosine: false }, g);
    const { out, grads } = await gpuGrads(([x, y]) => ops.infoNCE(x, y, { temperature: 1, cosine: false }), [a, c], g);
    expectClose(out.data, ref.loss.data, LOSS, 'loss');
    expectWithinScale(grads[0].data, ref.da.data, GRAD_REL, 'd anchors');
    expectWithinScale(grads[1].data, ref.dc.data, GRAD_REL, 'd candidates');
  });

  it('infoNCE with N = 70000 anchors (cosine): column backward over the anchors', async () => {
    const M = 3;
    const d = 2;
    const a = randn([BIG, d], 21);
    const c = randn([M, d], 22);
    const pos = Array.from({ length: BIG }, (_, i) => (i * 7) % M);
    const g = randn([BIG], 23);
    const ref = infoNCERef(a, c, { tau: 0.5, cosine: true, pos }, g);
    const posT = ops.tensor(Int32Array.from(pos), [BIG], { dtype: 'i32' });
    const { out, grads } = await gpuGrads(([x, y]) => ops.infoNCE(x, y, { temperature: 0.5, positives: posT }), [a, c], g);
    posT.dispose();
    // Three candidates: each loss is a 3-term log-sum-exp of scores ≤ 2 in size.
    expectClose(out.data, ref.loss.data, { rtol: 1e-5, atol: 1e-5 }, 'loss');
    expectWithinScale(grads[0].data, ref.da.data, 1e-5, 'd anchors');
    expectWithinScale(grads[1].data, ref.dc.data, GRAD_REL, 'd candidates');
  });

  it('softmax and logSoftmax over a row of 70000', async () => {
    const x = randn([2, BIG], 31, 2);
    const w = randn([2, BIG], 32);
    for (const log of [false, true]) {
      const ref = softmaxRef(x, log, w);
      const { out, grads } = await gpuGrads(([t]) => (log ? ops.logSoftmax(t) : ops.softmax(t)), [x], w);
      // Probabilities ~1/70000: relative to the largest output (f32 sum of 70000 terms, ≤ 4e-3
      // worst case, typically ~1e-5); logSoftmax values ≈ −11: same bound on the log.
      expectWithinScale(out.data, ref.out.data, 1e-4, `${log ? 'logSoftmax' : 'softmax'} forward`);
      expectWithinScale(grads[0].data, ref.grad.data, 1e-3, `${log ? 'logSoftmax' : 'softmax'} backward`);
    }
  });

  it('sum over an axis of 70000 with inner > 1 ([70000, 3] over axis 0)', async () => {
    const x = randn([BIG, 3], 41);
    const w = randn([3], 42);
    const ref = reduceRef(x, 0, false, false, w);
    const { out, grads } = await gpuGrads(([t]) => ops.sum(t, 0), [x], w);
    // f32 sum of 70000 terms: error ≲ √M·2^-24·Σ|x| ≈ 2e-5·Σ|x| typically (M·2^-24 ≈ 4e-3 worst);
    // 1e-4·Σ|x| is still ~10× below what dropping 5000 of the terms costs.
    for (let j = 0; j < 3; j++) {
      expectClose([out.data[j]], [ref.out.data[j]], { rtol: 0, atol: 1e-4 * ref.absSum[j] }, `sum column ${j}`);
    }
    expectClose(grads[0].data, ref.grad.data, { rtol: 0, atol: 0 }, 'sum backward (a broadcast: exact)');
  });

  it('sum over rows of 70000 with few rows (one unchunked row per thread: [129, 70000] over axis 1)', async () => {
    const x = randn([129, BIG], 43);
    const w = randn([129], 44);
    const ref = reduceRef(x, 1, false, false, w);
    const { out } = await gpuGrads(([t]) => ops.sum(t, 1), [x], w);
    // As above: 1e-4·Σ|x| per output.
    for (let j = 0; j < 129; j++) {
      expectClose([out.data[j]], [ref.out.data[j]], { rtol: 0, atol: 1e-4 * ref.absSum[j] }, `sum row ${j}`);
    }
  });

  it('l2Normalize and layerNorm over rows of 70000', async () => {
    const x = randn([2, BIG], 61);
    const w = randn([2, BIG], 62);
    const l2 = l2NormalizeRef(x, 1e-12, w);
    const r1 = await gpuGrads(([t]) => ops.l2Normalize(t), [x], w);
    // Outputs ~1/√70000 ≈ 4e-3 from an f32 sum of squares over 70000 terms: relative to the scale.
    expectWithinScale(r1.out.data, l2.out.data, 1e-4, 'l2Normalize forward');
    expectWithinScale(r1.grads[0].data, l2.grad.data, 1e-3, 'l2Normalize backward');
    const gamma = randn([BIG], 63);
    const beta = randn([BIG], 64);
    const ln = layerNormRef(x, gamma, beta, 1e-5, w);
    const r2 = await gpuGrads(([t, gm, bt]) => ops.layerNorm(t, gm, bt), [x, gamma, beta], w);
    // Mean and variance are f32 sums over 70000 terms (~1e-5 relative): bound by the scale.
    expectWithinScale(r2.out.data, ln.out.data, 1e-4, 'layerNorm forward');
    expectWithinScale(r2.grads[0].data, ln.dx.data, 1e-3, 'layerNorm dx');
  });

  it("linear's bias gradient (column sum over 70000 rows)", async () => {
    const x = randn([BIG, 2], 51);
    const wt = randn([2, 3], 52);
    const b = randn([3], 53);
    const g = randn([BIG, 3], 54);
    const { grads } = await gpuGrads(([xx, ww, bb]) => ops.linear(xx, ww, bb), [x, wt, b], g);
    const want = new Float64Array(3);
    const abs = new Float64Array(3);
    for (let r = 0; r < BIG; r++) {
      for (let j = 0; j < 3; j++) {
        want[j] += g.data[r * 3 + j];
        abs[j] += Math.abs(g.data[r * 3 + j]);
      }
    }
    // f32 sum of 70000 terms in row order: ≤ 1e-5 of Σ|g| in practice (√M·2^-24 ≈ 1.6e-5 worst-ish).
    for (let j = 0; j < 3; j++) expectClose([grads[2].data[j]], [want[j]], { rtol: 0, atol: 1e-4 * abs[j] }, `d bias ${j}`);
  });
});
