// gatedMix (SAL's fused gate): forward and every gradient vs the float64 reference for 1, 2 and 3
// branches on odd shapes, d both a multiple of 4 (the vec4 rows as they are) and not (padded with zero
// columns), finite differences on a small case, and shape errors.
import { describe, it, expect } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import { gatedMix } from '../../src/tensor/ops/gate.ts';
import { randn } from '../reference/nd.ts';
import { gatedMixRef } from '../reference/gate.ts';
import { expectClose, gpuGrads, finiteDiff } from '../helpers.ts';

// Forward: n·d-term f32 dot products for the logits (d ≤ 70), a 3-way softmax and a 3-term sum.
const FWD = { rtol: 1e-5, atol: 1e-6 };
// Backward: dW sums rows·1 terms (≤ 600 rows) with the cancellation in a_b − Σ g·a; 1e-4 relative.
const BWD = { rtol: 1e-4, atol: 1e-5 };
// Central differences in f32 with eps = 1e-2.
const FD = { rtol: 2e-2, atol: 2e-3 };

describe('gatedMix', () => {
  for (const [n, lead, d] of [
    [3, [3, 37], 33],
    [2, [2, 5], 70],
    [1, [7], 5],
    [3, [1, 1], 1],
    [3, [2, 29], 64], // MUFASA's d: no padding
    [2, [41], 36],
    [1, [3, 2], 6],
    [3, [3, 181], 20], // 543 rows: dW and dbias summed over 3 segments of rows (256, 256, 31)
    [2, [600], 7],
  ] as [number, number[], number][]) {
    it(`n=${n} shape [${lead}, ${d}] forward and gradients vs float64`, async () => {
      const zs = Array.from({ length: n }, (_, b) => randn([...lead, d], 100 * n + b));
      const W = randn([n * d, n], 7 + n, 0.3);
      const bias = randn([n], 9 + n);
      const wOut = randn([...lead, d], 11 + n);
      const { out, grads } = await gpuGrads((xs) => gatedMix(xs.slice(0, n), xs[n], xs[n + 1]), [...zs, W, bias], wOut);
      const ref = gatedMixRef(zs, W, bias, wOut);
      expectClose(out.data, ref.y.data, FWD, 'forward');
      for (let b = 0; b < n; b++) expectClose(grads[b].data, ref.dz[b].data, BWD, `dz${b}`);
      expectClose(grads[n].data, ref.dW.data, BWD, 'dW');
      expectClose(grads[n + 1].data, ref.dbias.data, BWD, 'dbias');
    });
  }

  it('backward is 3 dispatches: gate_backward, gate_dw and the sum of its segments', async () => {
    const n = 3;
    const zs = Array.from({ length: n }, (_, b) => ops.tensor(randn([700, 64], 90 + b).data, [700, 64], { requiresGrad: true }));
    const W = ops.tensor(randn([n * 64, n], 93, 0.3).data, [n * 64, n], { requiresGrad: true });
    const bias = ops.tensor(randn([n], 94).data, [n], { requiresGrad: true });
    const y = gatedMix(zs, W, bias);
    const g = ops.tensor(randn([700, 64], 95).data, [700, 64]);
    const e = y.engine;
    const seen: string[] = [];
    const orig = e.stream.dispatch;
    e.stream.dispatch = function (k, ...rest) {
      seen.push(k.key.split(':').slice(0, 2).join(':'));
      return orig.call(this, k, ...rest);
    };
    try {
      y.backward(g);
    } finally {
      e.stream.dispatch = orig;
    }
    expect(seen.slice(0, 2)).toEqual(['gate:gate_backward', 'gate:gate_dw']);
    expect(seen.length).toBe(3);
    expect(W.grad!.shape).toEqual([n * 64, n]);
    expect(bias.grad!.shape).toEqual([n]);
    [...zs, W, bias, y, g].forEach((t) => t.dispose());
  });

  it('gradients match finite differences (n=3, [2, 3, 4])', async () => {
    const n = 3;
    const d = 4;
    const inputs = [...Array.from({ length: n }, (_, b) => randn([2, 3, d], 40 + b)), randn([n * d, n], 50, 0.5), randn([n], 51)];
    const wOut = randn([2, 3, d], 52);
    const f = (xs: ops.Tensor[]) => gatedMix(xs.slice(0, n), xs[n], xs[n + 1]);
    const { grads } = await gpuGrads(f, inputs, wOut);
    for (let i = 0; i < inputs.length; i++) {
      const fd = await finiteDiff(f, inputs, i, 1e-2, wOut);
      expectClose(grads[i].data, fd, FD, `input ${i} vs finite differences`);
    }
  });

  it('names the op and the bad shape', () => {
    const z = ops.zeros([2, 4]);
    const w = ops.zeros([8, 2]);
    const b = ops.zeros([2]);
    const wBad = ops.zeros([8, 3]);
    const z3 = ops.zeros([2, 3]);
    try {
      expect(() => gatedMix([z, z3], w, b)).toThrow(/gatedMix.*branch 1 is \[2, 3\]/);
      expect(() => gatedMix([z, z], wBad, b)).toThrow(/gatedMix.*w must be \[n·d, n\] = \[8, 2\]/);
      expect(() => gatedMix([z, z, z, z], w, b)).toThrow(/gatedMix: takes 1 … 3 branches, got 4/);
    } finally {
      [z, w, b, wBad, z3].forEach((t) => t.dispose());
    }
  });
});
