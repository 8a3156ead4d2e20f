// softmax / logSoftmax over the last axis: forward and backward vs the float64 reference on odd row
// lengths (1 … 20000) and leading dims, extreme logits (±80: no NaN/Inf), and finite differences of
// the GPU forward on a small shape.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { Nd, randn, uniform } from '../reference/nd.ts';
import { softmaxRef } from '../reference/softmax.ts';
import { expectClose, gpuGrads, finiteDiff, toGpu } from '../helpers.ts';
import { engine } from '../../src/gpu/engine.ts';

const U = 2 ** -24;
const TINY = 2 ** -120;
// Central differences in f32 with eps = 1e-2: truncation O(eps²·f''') ≈ 1e-4, rounding O(ulp·|L|/eps).
const FD = { rtol: 1e-2, atol: 1e-3 };

/** |got − want| ≤ bound[i] for every element; the message names the worst one. */
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

/**
 * Per-element error bounds, from the f32 roundings of each formula. Row sums are chains of up to d
 * additions (a thread per row, d = 20000); their independent roundings add up like a random walk,
 * ≈ √d·u ≈ 8e-6 relative for the positive Σexp, not the worst case d·u. Worst measured error: 0.33×
 * these bounds (both CPU adapters, three row layouts).
 */
function bounds(x: Nd, g: Nd, log: boolean) {
  const d = x.shape[x.shape.length - 1];
  const p = softmaxRef(x, false).out.data;
  const rowMax = new Float64Array(x.size);
  const absDot = new Float64Array(x.size); // Σ_j |g_j|·p_j (softmax) or Σ_j |g_j| (log-softmax), per row
  for (let o = 0; o < x.size; o += d) {
    let m = -Infinity;
    let s = 0;
    for (let k = 0; k < d; k++) {
      m = Math.max(m, x.data[o + k]);
      s += log ? Math.abs(g.data[o + k]) : Math.abs(g.data[o + k]) * p[o + k];
    }
    rowMax.fill(m, o, o + d);
    absDot.fill(s, o, o + d);
  }
  return {
    // softmax: exp of an exact difference (a few ulp, growing with |x − max| ≤ 160 on the CPU adapters'
    // exp2-based exp: ≈ 160·log2(e)·u ≈ 1.4e-5) and Σexp to ≈ √d·u ≈ 8e-6; outputs within a few
    // binades of the f32 normal limit may come out as 0 (SwiftShader: 1.7e-38 → 0), hence TINY.
    fwd: (i: number) => (log ? 0 : 2e-5 * p[i] + TINY) +
      // log-softmax: x − (max + log Σ): roundings at the magnitude of |x| and |max|, log Σ to ≈ 5e-6.
      (log ? 4 * U * (Math.abs(x.data[i]) + Math.abs(rowMax[i])) + 1e-5 : 0),
    // softmax: y·(g − dot) with y to 2e-5 relative and dot to ≈ √d·u·Σ|g|p; log-softmax:
    // g − exp(y)·Σg with exp(y) to the forward's absolute error of y (relative in p) and Σg to ≈ √d·u·Σ|g|.
    bwd: (i: number) =>
      log
        ? 4 * U * Math.abs(g.data[i]) + 5e-5 * p[i] * absDot[i] + 1e-30
        : (2e-5 * p[i] + TINY) * (Math.abs(g.data[i]) + absDot[i]),
  };
}

async function check(log: boolean, x: Nd, seed: number): Promise<void> {
  const name = log ? 'logSoftmax' : 'softmax';
  const f = log ? ops.logSoftmax : ops.softmax;
  const w = randn(x.shape, seed);
  const ref = softmaxRef(x, log, w);
  const { out, grads } = await gpuGrads(([t]) => f(t), [x], w);
  const b = bounds(x, w, log);
  expectWithin(out.data, ref.out, b.fwd, `${name} forward`);
  expectWithin(grads[0].data, ref.grad, b.bwd, `${name} backward`);
}

// Row-kernel layouts: the adapter's own pick (a thread per row on the CPU adapters), the GPU layout
// (up to 256 threads per row at 8 elements each) and 4 threads per row with 16 rows per workgroup
// (partial last workgroups): every layout must stay correct on every adapter.
const ROW_CONFIGS: [string, ops.RowConfig | null][] = [
  ['adapter default', null],
  ['gpu layout', { maxThreadsPerRow: 256, elemsPerThread: 8, workgroup: 256 }],
  ['4 threads per row', { maxThreadsPerRow: 4, elemsPerThread: 1, workgroup: 64 }],
];

for (const [cfgName, cfg] of ROW_CONFIGS) {
  describe(`softmax / logSoftmax, row kernels: ${cfgName}`, () => {
    beforeAll(() => ops.setRowConfig(engine(), cfg));
    afterAll(() => ops.setRowConfig(engine(), null));
    const shapes = [[1, 1], [7, 33], [257, 5], [3, 1000], [2, 20000], [2, 3, 7], [33]];
    for (const log of [false, true]) {
      const name = log ? 'logSoftmax' : 'softmax';
      for (const shape of shapes) {
        it(`${name} ${JSON.stringify(shape)}`, () => check(log, randn(shape, shape[0] + 17, 2), 5));
      }

      it(`${name} extreme logits (±80)`, async () => {
        await check(log, uniform([7, 33], 21, -80, 80), 22);
        await check(log, uniform([3, 1000], 23, -80, 80), 24);
        // constant rows at both ends, one spike over a floor, alternating signs
        const d = 257;
        const rows = [
          (k: number) => 80 + 0 * k,
          (k: number) => -80 + 0 * k,
          (k: number) => (k === 100 ? 80 : -80),
          (k: number) => (k % 2 ? 80 : -80),
        ];
        const x = Nd.zeros([rows.length, d]);
        rows.forEach((fn, r) => {
          for (let k = 0; k < d; k++) x.data[r * d + k] = fn(k);
        });
        await check(log, x, 25);
      });

      it(`${name} finite differences`, async () => {
        const x = randn([3, 5], 31);
        const w = randn([3, 5], 32);
        const f = log ? ops.logSoftmax : ops.softmax;
        const { grads } = await gpuGrads(([t]) => f(t), [x], w);
        const fd = await finiteDiff(([t]: Tensor[]) => f(t), [x], 0, 1e-2, w);
        expectClose(grads[0].data, fd, FD, `${name} vs finite differences`);
      });
    }
  });
}

describe('softmax / logSoftmax', () => {
  it('rows sum to 1 and a transposed (non-contiguous) input works', async () => {
    const x = toGpu(randn([33, 7], 41, 3));
    const v = ops.transpose(x);
    const y = ops.softmax(v);
    const s = ops.sum(y, -1);
    // Σ of 33 values each within 2e-5 relative: 1 ± 33·u + 2e-5.
    expectClose(await s.data(), new Float64Array(7).fill(1), { rtol: 3e-5, atol: 0 }, 'row sums');
    [x, v, y, s].forEach((t) => t.dispose());
  });

  it('a scalar input throws', () => {
    const v = toGpu(randn([3], 42));
    const x = ops.sum(v);
    expect(() => ops.softmax(x)).toThrow(/softmax: needs at least one axis/);
    x.dispose();
    v.dispose();
  });
});
