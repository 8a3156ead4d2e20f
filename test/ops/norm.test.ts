// l2Normalize and layerNorm over the last axis: forward and backward vs the float64 reference on odd
// shapes, rows at and below eps (l2), large row means and the chunked parameter gradient (layer
// norm), partial requiresGrad, and finite differences of the GPU forward on small shapes.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { ShapeError } from '../../src/tensor/index.ts';
import { Nd, randn } from '../reference/nd.ts';
import { l2NormalizeRef, layerNormRef } from '../reference/norm.ts';
import { expectClose, gpuGrads, finiteDiff, toGpu, toNd } from '../helpers.ts';
import { engine } from '../../src/gpu/engine.ts';

// Central differences in f32 with eps = 1e-2: truncation O(eps²·f''') and rounding O(ulp·|L|/eps).
const FD = { rtol: 2e-2, atol: 2e-3 };
// Row sums here are chains of ≤ 1000 additions (a thread per row), the chunked column sums ≤ 67 + 15;
// their roundings add up like a random walk, ≈ √1000·2⁻²⁴ ≈ 2e-6 relative to the summed magnitudes,
// plus a few roundings per formula: 1e-5 of those magnitudes. Worst measured error: 0.08× the bounds
// below (both CPU adapters, three row layouts).
const REL = 1e-5;

/** |got − want| ≤ bound(i) for every element; the message names the worst one. */
function expectWithin(got: ArrayLike<number>, want: Nd, bound: (i: number) => number, label: string): void {
  expect(got.length, `${label}: length`).toBe(want.size);
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < want.size; i++) {
    if (!Number.isFinite(got[i])) expect.fail(`${label}: element ${i} is ${got[i]} (want ${want.data[i]})`);
    const ratio = Math.abs(got[i] - want.data[i]) / bound(i);
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worstRatio > 1) expect.fail(`${label}: element ${worst}: got ${got[worst]}, want ${want.data[worst]} (error ${worstRatio.toFixed(2)}× its bound ${bound(worst).toExponential(2)})`);
}

const SHAPES = [[1, 1], [7, 33], [257, 5], [3, 1000], [2, 3, 7]];

// Row-kernel layouts: the adapter's own pick (a thread per row on the CPU adapters), the GPU layout
// (up to 256 threads per row at 8 elements each) and 4 threads per row with 16 rows per workgroup
// (partial last workgroups): every layout must stay correct on every adapter.
const ROW_CONFIGS: [string, ops.RowConfig | null][] = [
  ['adapter default', null],
  ['gpu layout', { maxThreadsPerRow: 256, elemsPerThread: 8, workgroup: 256 }],
  ['4 threads per row', { maxThreadsPerRow: 4, elemsPerThread: 1, workgroup: 64 }],
];

async function checkL2(x: Nd, seed: number, eps = 1e-12): Promise<void> {
  const w = randn(x.shape, seed);
  const ref = l2NormalizeRef(x, eps, w);
  const { out, grads } = await gpuGrads(([t]) => ops.l2Normalize(t, eps), [x], w);
  const d = x.shape[x.shape.length - 1];
  // Forward: y = x·(1/max(√Σx², eps)), a product, so the error is relative to each y (the √ and the
  // reciprocal add a few ulp to Σx²'s chain·u); 1e-30 only lets exact zeros compare.
  expectClose(out.data, ref.out.data, { rtol: REL, atol: 1e-30 }, 'l2Normalize forward');
  // Backward: (g − y·(g·y))/n cancels; its error is relative to the magnitudes that cancel,
  // (|g| + |y|·Σ|g·y|)/max(n, eps).
  const dotAbs = new Float64Array(ref.norms.length);
  for (let i = 0; i < x.size; i++) dotAbs[Math.floor(i / d)] += Math.abs(w.data[i] * ref.out.data[i]);
  expectWithin(
    grads[0].data,
    ref.grad,
    (i) => (REL * (Math.abs(w.data[i]) + Math.abs(ref.out.data[i]) * dotAbs[Math.floor(i / d)])) / Math.max(ref.norms[Math.floor(i / d)], eps) + 1e-30,
    'l2Normalize backward',
  );
}

describe('l2Normalize', () => {
  for (const [cfgName, cfg] of ROW_CONFIGS) {
    describe(`row kernels: ${cfgName}`, () => {
      beforeAll(() => ops.setRowConfig(engine(), cfg));
      afterAll(() => ops.setRowConfig(engine(), null));
      for (const shape of SHAPES) {
        it(`forward and backward ${JSON.stringify(shape)}`, () => checkL2(randn(shape, shape[0] + 3), 51));
      }

      it('rows with ‖x‖ ≤ eps: zero and tiny rows give y = x/eps, dx = g/eps (no NaN)', async () => {
        const x = randn([4, 5], 52);
        for (let k = 0; k < 5; k++) {
          x.data[k] = 0; // row 0: all zeros
          x.data[5 + k] = Math.fround(1e-14 * (k + 1)); // row 1: ‖x‖ ≈ 7e-14 < 1e-12
        }
        await checkL2(x, 53);
      });

      it('a custom eps', () => checkL2(randn([7, 33], 54, 0.01), 55, 0.5));
    });
  }

  it('finite differences', async () => {
    const x = randn([3, 5], 56);
    const w = randn([3, 5], 57);
    const f = ([t]: Tensor[]) => ops.l2Normalize(t);
    const { grads } = await gpuGrads(f, [x], w);
    expectClose(grads[0].data, await finiteDiff(f, [x], 0, 1e-2, w), FD, 'l2Normalize vs finite differences');
  });
});

async function checkLN(x: Nd, seed: number, eps = 1e-5): Promise<void> {
  const d = x.shape[x.shape.length - 1];
  const gamma = randn([d], seed + 1).map((v) => Math.fround(1 + 0.5 * v));
  const beta = randn([d], seed + 2, 0.5);
  const w = randn(x.shape, seed + 3);
  const ref = layerNormRef(x, gamma, beta, eps, w);
  const { out, grads } = await gpuGrads(([t, ga, be]) => ops.layerNorm(t, ga, be, eps), [x, gamma, beta], w);
  // Forward: x̂·γ + β with x̂ = (x − μ)·rstd. μ carries chain·u·mean|x| absolute error (rows with a
  // large mean lose precision in x − μ: mean|x|·rstd relative to x̂), rstd chain·u relative; each
  // rounding is relative to the magnitudes |x̂·γ| + |β| involved.
  const st = rowStats(x, eps);
  const xh = (i: number) => (x.data[i] - st.mean[i]) / st.std[i];
  expectWithin(
    out.data,
    ref.out,
    (i) => REL * (Math.abs(xh(i) * gamma.data[i % d]) + Math.abs(beta.data[i % d]) + (Math.abs(gamma.data[i % d]) * st.absMean[i]) / st.std[i]),
    'layerNorm forward',
  );
  // dx = rstd·(dy − mean(dy) − x̂·mean(dy·x̂)) cancels: error relative to rstd·(|dy| + mean|dy| +
  // |x̂|·mean|dy·x̂|), plus what x̂ inherits from μ (mean|x|·rstd, as in the forward) times mean|dy·x̂|.
  const A = new Float64Array(x.size);
  const B = new Float64Array(x.size);
  for (let o = 0; o < x.size; o += d) {
    let a = 0;
    let b = 0;
    for (let k = 0; k < d; k++) {
      const dy = Math.abs(w.data[o + k] * gamma.data[k]);
      a += dy / d;
      b += (dy * Math.abs(xh(o + k))) / d;
    }
    A.fill(a, o, o + d);
    B.fill(b, o, o + d);
  }
  const dxBound = (i: number) =>
    (REL * (Math.abs(w.data[i] * gamma.data[i % d]) + A[i] + Math.abs(xh(i)) * B[i] + (st.absMean[i] / st.std[i]) * B[i])) / st.std[i] + 1e-30;
  expectWithin(grads[0].data, ref.dx, dxBound, 'layerNorm dx');
  // dγ = Σ_rows g·x̂: summation error relative to Σ|g·x̂|, plus x̂'s inherited error Σ|g|·mean|x|·rstd.
  const inherited = new Float64Array(d);
  for (let i = 0; i < x.size; i++) inherited[i % d] += (Math.abs(w.data[i]) * st.absMean[i]) / st.std[i];
  expectWithin(grads[1].data, ref.dgamma, (j) => REL * (ref.dgammaAbs[j] + inherited[j]) + 1e-30, 'layerNorm dgamma');
  expectWithin(grads[2].data, ref.dbeta, (j) => REL * ref.dbetaAbs[j] + 1e-30, 'layerNorm dbeta');
}

/** Per element: its row's mean, √(var + eps) and mean|x| (float64). */
function rowStats(x: Nd, eps: number): { mean: Float64Array; std: Float64Array; absMean: Float64Array } {
  const d = x.shape[x.shape.length - 1];
  const mean = new Float64Array(x.size);
  const std = new Float64Array(x.size);
  const absMean = new Float64Array(x.size);
  for (let o = 0; o < x.size; o += d) {
    let m = 0;
    let am = 0;
    for (let k = 0; k < d; k++) {
      m += x.data[o + k] / d;
      am += Math.abs(x.data[o + k]) / d;
    }
    let v = 0;
    for (let k = 0; k < d; k++) v += (x.data[o + k] - m) ** 2 / d;
    mean.fill(m, o, o + d);
    std.fill(Math.sqrt(v + eps), o, o + d);
    absMean.fill(am, o, o + d);
  }
  return { mean, std, absMean };
}

describe('layerNorm', () => {
  for (const [cfgName, cfg] of ROW_CONFIGS) {
    describe(`row kernels: ${cfgName}`, () => {
      beforeAll(() => ops.setRowConfig(engine(), cfg));
      afterAll(() => ops.setRowConfig(engine(), null));
      for (const shape of SHAPES) {
        it(`forward and backward ${JSON.stringify(shape)}`, () => checkLN(randn(shape, shape[0] + 7), 61));
      }
      it('rows with a large mean (two-pass variance): [7, 33] + 100', () => checkLN(randn([7, 33], 62).map((v) => Math.fround(v + 100)), 63));
      it('many rows (chunked dgamma/dbeta): [1000, 7]', () => checkLN(randn([1000, 7], 64), 65));
    });
  }

  it('only some inputs require grad', async () => {
    const x = randn([7, 33], 66);
    const gamma = randn([33], 67);
    const beta = randn([33], 68);
    const w = randn([7, 33], 69);
    const ref = layerNormRef(x, gamma, beta, 1e-5, w);
    const xs = toGpu(x, true);
    const gs = toGpu(gamma);
    const bs = toGpu(beta, true);
    const gw = toGpu(w);
    const y = ops.layerNorm(xs, gs, bs);
    y.backward(gw);
    expect(gs.grad).toBeNull();
    // loose scalar tolerance: the bounds are checked in detail above; this is about which grads exist
    expectClose((await toNd(xs.grad!)).data, ref.dx.data, { rtol: 1e-3, atol: 1e-4 }, 'dx');
    expectClose((await toNd(bs.grad!)).data, ref.dbeta.data, { rtol: 1e-4, atol: 1e-5 }, 'dbeta');
    [xs, gs, bs, gw, y].forEach((t) => t.dispose());
  });

  it('no graph under noGrad: the saved statistics are not kept', async () => {
    const xs = toGpu(randn([7, 33], 70), true);
    const gs = toGpu(randn([33], 71));
    const bs = toGpu(randn([33], 72));
    const y = ops.noGrad(() => ops.layerNorm(xs, gs, bs));
    expect(y.node).toBeNull();
    [xs, gs, bs, y].forEach((t) => t.dispose());
  });

  it('gamma or beta of the wrong shape throws a ShapeError with both shapes', () => {
    const xs = toGpu(randn([7, 33], 73));
    const gs = toGpu(randn([32], 74));
    const bs = toGpu(randn([33], 75));
    expect(() => ops.layerNorm(xs, gs, bs)).toThrow(ShapeError);
    expect(() => ops.layerNorm(xs, gs, bs)).toThrow(/layerNorm: gamma has shape \[32\]; expected \[33\] for input \[7, 33\]/);
    [xs, gs, bs].forEach((t) => t.dispose());
  });

  it('finite differences (x, gamma, beta)', async () => {
    const x = randn([3, 5], 76);
    const gamma = randn([5], 77);
    const beta = randn([5], 78);
    const w = randn([3, 5], 79);
    const f = ([t, ga, be]: Tensor[]) => ops.layerNorm(t, ga, be);
    const { grads } = await gpuGrads(f, [x, gamma, beta], w);
    for (const which of [0, 1, 2]) {
      const fd = await finiteDiff(f, [x, gamma, beta], which, 1e-2, w);
      expectClose(grads[which].data, fd, FD, `layerNorm d/d${['x', 'gamma', 'beta'][which]} vs finite differences`);
    }
  });
});
