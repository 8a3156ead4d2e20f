// Unary and broadcasting binary ops: forward and backward vs the float64 reference, on odd shapes,
// plus finite differences of the GPU forward on small shapes.
import { describe, it } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { Nd, randn, uniform, unaryRef, binaryRef } from '../reference/nd.ts';
import { expectClose, gpuGrads, finiteDiff } from '../helpers.ts';
import { coalesceDims } from '../../src/tensor/ops/binary.ts';
import { expect } from 'vitest';

describe('coalesceDims', () => {
  it('merges dims both operands traverse alike and drops extent-1 dims', () => {
    // [64, 200, 3, 64] ⊙ [64, 200, 3, 1]
    expect(coalesceDims([64, 200, 3, 64], [38400, 192, 64, 1], [600, 3, 1, 0])).toEqual({ shape: [38400, 64], sa: [64, 1], sb: [1, 0] });
    // bias row: [7, 33] ⊙ [33]
    expect(coalesceDims([7, 33], [33, 1], [0, 1])).toEqual({ shape: [7, 33], sa: [33, 1], sb: [0, 1] });
    // same shape collapses to one dim
    expect(coalesceDims([2, 3, 4], [12, 4, 1], [12, 4, 1])).toEqual({ shape: [24], sa: [1], sb: [1] });
    expect(coalesceDims([1, 1], [0, 0], [0, 0])).toEqual({ shape: [], sa: [], sb: [] });
  });
});

// f32 transcendental functions on the CPU adapters are accurate to a few ulp; 1e-5 relative leaves
// room for tanh/exp near overflow while still catching a wrong formula.
const FWD = { rtol: 1e-5, atol: 1e-6 };
const BWD = { rtol: 1e-4, atol: 1e-5 };
// Central differences in f32 with eps = 1e-2: truncation O(eps²·f''') and rounding O(ulp/eps).
const FD = { rtol: 2e-2, atol: 2e-3 };

const unaryCases: [string, (x: Tensor) => Tensor, (n: number) => number, number, number][] = [
  ['relu', ops.relu, (v) => v, 0, 0],
  ['gelu', ops.gelu, (v) => v, 0, 0],
  ['sigmoid', ops.sigmoid, (v) => v, 0, 0],
  ['tanh', ops.tanh, (v) => v, 0, 0],
  ['exp', ops.exp, (v) => v, 0, 0],
  ['log', ops.log, (v) => Math.abs(v) + 0.5, 0, 0],
  ['neg', ops.neg, (v) => v, 0, 0],
  ['sqrt', ops.sqrt, (v) => Math.abs(v) + 0.5, 0, 0],
  ['square', ops.square, (v) => v, 0, 0],
  ['abs', ops.abs, (v) => (Math.abs(v) < 0.05 ? v + 0.2 : v), 0, 0],
  ['pow', (x) => ops.pow(x, 2.5), (v) => Math.abs(v) + 0.5, 2.5, 0],
  ['affine', (x) => ops.affine(x, -1.5, 0.25), (v) => v, -1.5, 0.25],
];

describe('unary ops', () => {
  for (const [name, f, domain, a, b] of unaryCases) {
    for (const shape of [[1], [7, 33], [257, 5], [1000]]) {
      it(`${name} ${JSON.stringify(shape)}`, async () => {
        const x = randn(shape, 11 + shape[0]).map((v) => Math.fround(domain(v)));
        const w = randn(shape, 99);
        const { out, grads } = await gpuGrads(([t]) => f(t), [x], w);
        const r = unaryRef[name];
        expectClose(out.data, x.data.map((v) => r.f(v, a, b)), FWD, `${name} forward`);
        expectClose(grads[0].data, x.data.map((v, i) => w.data[i] * r.df(v, a, b)), BWD, `${name} backward`);
      });
    }
    it(`${name} finite differences`, async () => {
      let x = randn([3, 5], 5).map((v) => Math.fround(domain(v)));
      if (name === 'relu') x = x.map((v) => (Math.abs(v) < 0.05 ? v + 0.1 : v)); // away from the kink
      const w = randn([3, 5], 6);
      const { grads } = await gpuGrads(([t]) => f(t), [x], w);
      const fd = await finiteDiff(([t]) => f(t), [x], 0, 1e-2, w);
      expectClose(grads[0].data, fd, FD, `${name} vs finite differences`);
    });
  }
});

const binaryOps: [string, (a: Tensor, b: Tensor) => Tensor][] = [
  ['add', ops.add],
  ['sub', ops.sub],
  ['mul', ops.mul],
  ['div', ops.div],
  ['maximum', ops.maximum],
  ['minimum', ops.minimum],
];
const shapePairs: [number[], number[]][] = [
  [[7, 33], [7, 33]],
  [[257, 5], [5]],
  [[1, 7, 1], [3, 1, 33]],
  [[1000], [1]],
  [[3, 1, 5], [2, 1]],
  // Nothing coalesces: rank 5 takes the generic (looping) index path rather than the rank-3 one.
  [[2, 1, 3, 1, 5], [1, 4, 1, 6, 1]],
  // Coalesces to [38, 64] ⊙ [38, 1] (SAL's gate shape, smaller).
  [[2, 19, 3, 64], [2, 19, 3, 1]],
];

describe('binary ops with broadcasting', () => {
  for (const [name, f] of binaryOps) {
    for (const [sa, sb] of shapePairs) {
      it(`${name} ${JSON.stringify(sa)} ⊙ ${JSON.stringify(sb)}`, async () => {
        const a = randn(sa, 1);
        // keep divisors away from 0
        const b = name === 'div' ? uniform(sb, 2, 0.5, 2) : randn(sb, 2);
        const ref0 = binaryRef(name, a, b);
        const w = randn(ref0.out.shape, 3);
        const ref = binaryRef(name, a, b, w);
        const { out, grads } = await gpuGrads(([x, y]) => f(x, y), [a, b], w);
        expectClose(out.data, ref.out.data, FWD, `${name} forward`);
        // gradients summed over up to 1000 broadcast elements: f32 accumulation error grows with √n
        expectClose(grads[0].data, ref.ga.data, { rtol: 1e-4, atol: 1e-4 }, `${name} grad a`);
        expectClose(grads[1].data, ref.gb.data, { rtol: 1e-4, atol: 1e-4 }, `${name} grad b`);
      });
    }
    it(`${name} finite differences`, async () => {
      const a = randn([2, 3], 7);
      const b = name === 'div' ? uniform([3], 8, 0.5, 2) : randn([3], 8);
      const w = randn([2, 3], 9);
      const { grads } = await gpuGrads(([x, y]) => f(x, y), [a, b], w);
      for (const which of [0, 1]) {
        const fd = await finiteDiff(([x, y]) => f(x, y), [a, b], which, 1e-2, w);
        expectClose(grads[which].data, fd, FD, `${name} d/d${which ? 'b' : 'a'} vs finite differences`);
      }
    });
  }
});

describe('add/sub backward passes the gradient through where an operand was not broadcast', () => {
  it('a + b, a − b, x + x and a broadcast b: values, and no kernel for the pass-throughs', async () => {
    const { engine } = await import('../../src/gpu/engine.ts');
    const e = engine();
    const an = randn([7, 33], 31);
    const bn = randn([7, 33], 32);
    const gn = randn([7, 33], 33);
    const a = ops.tensor(an.data, an.shape, { requiresGrad: true });
    const b = ops.tensor(bn.data, bn.shape, { requiresGrad: true });
    const row = ops.tensor(randn([33], 34).data, [33], { requiresGrad: true });
    const g = ops.tensor(gn.data, gn.shape);
    const y = ops.tidy(() => ops.add(ops.add(a, b), ops.sub(a, ops.add(a, row))));
    const before = e.stream.dispatchCount;
    y.backward(g);
    // Kernels: sub's −g for its b, row's sum over the broadcast rows, and the sums of gradients that
    // reach a from three paths; the four same-shape pass-throughs launch nothing.
    const launched = e.stream.dispatchCount - before;
    // y = (a + b) + (a − (a + row)) = a + b − row: da = g, db = g, drow = −Σ_rows g.
    expectClose(await a.grad!.data(), gn.data, { rtol: 1e-6, atol: 1e-6 }, 'da');
    expectClose(await b.grad!.data(), gn.data, { rtol: 0, atol: 0 }, 'db (the gradient itself)');
    const drow = new Float64Array(33);
    for (let i = 0; i < 7; i++) for (let j = 0; j < 33; j++) drow[j] -= gn.data[i * 33 + j];
    expectClose(await row.grad!.data(), drow, { rtol: 1e-5, atol: 1e-6 }, 'drow');
    expect(launched).toBeLessThanOrEqual(5);
    const x = ops.tensor(an.data, an.shape, { requiresGrad: true });
    const z = ops.add(x, x);
    z.backward(g);
    expectClose(await x.grad!.data(), gn.data.map((v) => 2 * v), { rtol: 1e-6, atol: 0 }, 'd(x + x)');
    for (const t of [a.grad!, b.grad!, row.grad!, x.grad!, a, b, row, g, y, x, z]) t.dispose();
  });
});

// addN: the sum of n same-shape tensors, ≤ 7 per dispatch (the tape sums gradient contributions with
// it). f32 sums of ≤ 9 terms left to right: the same bits as chained adds, and within 1e-6 relative of
// the float64 sum for randn data.
describe('addN', () => {
  for (const [n, shape] of [[1, [5]], [2, [3, 37]], [3, [257]], [7, [2, 3, 33]], [8, [129]], [13, [4, 9]]] as [number, number[]][]) {
    it(`${n} × ${JSON.stringify(shape)}: forward vs float64, every gradient is g, dispatch count, bits of chained adds`, async () => {
      const xs = Array.from({ length: n }, (_, i) => randn(shape, 60 + i));
      const want = new Nd(new Float64Array(xs[0].data.length), shape);
      for (const x of xs) x.data.forEach((v, j) => (want.data[j] += v));
      const w = randn(shape, 59);
      const { out, grads } = await gpuGrads((ts) => ops.addN(ts), xs, w);
      expectClose(out.data, want.data, { rtol: 1e-6, atol: 1e-6 }, 'forward');
      grads.forEach((g, i) => expectClose(g.data, w.data, { rtol: 0, atol: 0 }, `gradient of input ${i}`));

      const ts = xs.map((x) => ops.tensor(Float32Array.from(x.data), shape));
      const e = ts[0].engine;
      const before = e.stream.dispatchCount;
      const s = ops.addN(ts);
      // One dispatch sums up to 7 inputs; each further one adds up to 6 to the running sum.
      expect(e.stream.dispatchCount - before).toBe(n === 1 ? 0 : 1 + Math.ceil(Math.max(0, n - 7) / 6));
      const chained = ops.tidy(() => ts.slice(1).reduce((a, t) => ops.add(a, t), ts[0]));
      expect(Array.from(await s.data())).toEqual(Array.from(await chained.data()));
      [...ts, s, chained].forEach((t) => t.dispose());
    });
  }

  it('names the op and the shapes that differ', () => {
    ops.tidy(() => {
      expect(() => ops.addN([ops.zeros([2, 3]), ops.zeros([3, 2])])).toThrow('addN: shapes [2, 3], [3, 2] differ');
      expect(() => ops.addN([])).toThrow('addN: no tensors given');
    });
  });
});
