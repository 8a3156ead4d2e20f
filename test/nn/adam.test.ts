// Adam/AdamW and global-norm clipping vs the float64 reference, over several steps with known gradients.
import { describe, it, expect } from 'vitest';
import { Adam, AdamW } from '../../src/nn/adam.ts';
import { tensor } from '../../src/tensor/index.ts';
import { randn } from '../reference/nd.ts';
import { AdamRef } from '../reference/adam.ts';
import { expectClose } from '../helpers.ts';

// Parameters ~N(0,1), lr 1e-2, 5 steps: f32 rounding of p, m, v and √v stays ~1e-7 relative per step.
const TOL = { rtol: 1e-5, atol: 2e-6 };

async function run(kind: 'adam' | 'adamw', clipNorm: number) {
  const shapes = [[7, 33], [5], [1]];
  const init = shapes.map((s, i) => randn(s, 100 + i));
  const params = init.map((n, i) => tensor(Float32Array.from(n.data), n.shape, { requiresGrad: true, name: `p${i}` }));
  const opts = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, clipNorm };
  const opt = kind === 'adam' ? new Adam(params, opts) : new AdamW(params, opts);
  const ref = new AdamRef(init.map((n) => Float64Array.from(n.data)), { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 0.1, decoupled: kind === 'adamw' });
  for (let step = 0; step < 5; step++) {
    opt.zeroGrad();
    const grads = shapes.map((s, i) => randn(s, 1000 * step + i, 3));
    // Inject the gradients through backward on the leaves (twice half each: accumulation must add).
    for (let i = 0; i < params.length; i++) {
      for (let half = 0; half < 2; half++) {
        const g = tensor(Float32Array.from(grads[i].data.map((x) => x / 2)), grads[i].shape);
        params[i].backward(g);
        g.dispose();
      }
    }
    opt.step();
    const norm = ref.step(grads.map((g) => Float64Array.from(g.data)), clipNorm);
    if (clipNorm > 0) {
      const [gpuNorm, scale] = await opt.clipState.data();
      expect(gpuNorm).toBeCloseTo(norm, 3);
      expect(scale).toBeCloseTo(Math.min(1, clipNorm / (norm + 1e-6)), 6);
    }
    for (let i = 0; i < params.length; i++) {
      expectClose(await params[i].data(), ref.params[i], TOL, `${kind} clip=${clipNorm} step ${step} p${i}`);
    }
  }
  opt.dispose();
  params.forEach((p) => p.dispose());
}

describe('Adam', () => {
  it('matches the float64 reference (L2 weight decay)', () => run('adam', 0));
  it('AdamW matches the float64 reference (decoupled weight decay)', () => run('adamw', 0));
  // Adam's update is invariant to a uniform gradient scale except through ε and L2 decay, so the
  // clipping test uses L2 decay (Adam) where the clipped gradient visibly changes the step.
  it('clips by global norm across parameters (norm ≈ 13 clipped to 1)', () => run('adam', 1));
  it('clip threshold above the norm leaves the update unchanged', () => run('adam', 1e6));

  it('rejects parameters that do not require grad, non-leaves and duplicates', () => {
    const a = tensor([1, 2, 3]);
    expect(() => new Adam([a], { lr: 1 })).toThrow(/does not require grad/);
    a.requiresGrad = true;
    expect(() => new Adam([a, a], { lr: 1 })).toThrow(/appears twice/);
    a.dispose();
  });
});

describe('Adam state export/import (checkpoint resume)', () => {
  // Exact equality: the same kernels on the same inputs and state are deterministic on one adapter,
  // so any difference would mean a moment or the step count (bias correction) was not carried over.
  it('3 steps + export/import into a fresh optimizer + 2 steps equals 5 uninterrupted steps, bit for bit', async () => {
    const shapes = [[7, 33], [5], [1]];
    const init = shapes.map((s, i) => randn(s, 200 + i));
    const make = () => init.map((n, i) => tensor(Float32Array.from(n.data), n.shape, { requiresGrad: true, name: `p${i}` }));
    const opts = { lr: 1e-2, weightDecay: 0.1, clipNorm: 2 };
    const step = (opt: Adam, params: ReturnType<typeof make>, k: number) => {
      opt.zeroGrad();
      params.forEach((p, i) => {
        const g = tensor(Float32Array.from(randn(shapes[i], 5000 * k + i, 3).data), shapes[i]);
        p.backward(g);
        g.dispose();
      });
      opt.step();
    };
    const a = make();
    const optA = new AdamW([{ params: a.slice(0, 2) }, { params: a.slice(2), lr: 3e-2 }], opts);
    for (let k = 0; k < 3; k++) step(optA, a, k);
    const state = await optA.exportState();
    expect(state.step).toBe(3);
    expect(state.arrays.map((x) => x.name)).toEqual(['adam.0.m', 'adam.0.v', 'adam.1.m', 'adam.1.v']);
    // Fresh copies of the parameters at the exported point.
    const b = make();
    for (let i = 0; i < b.length; i++) {
      const bb = b[i].binding('test');
      b[i].engine.stream.write(bb.buffer, bb.offset!, (await a[i].data()) as Float32Array);
    }
    const optB = new AdamW([{ params: b.slice(0, 2) }, { params: b.slice(2), lr: 3e-2 }], opts);
    optB.importState(state);
    expect(optB.stepCount).toBe(3);
    for (let k = 3; k < 5; k++) {
      step(optA, a, k);
      step(optB, b, k);
    }
    for (let i = 0; i < a.length; i++) expect(Array.from(await b[i].data())).toEqual(Array.from(await a[i].data()));
    // Wrong sizes and names are refused.
    const bad = { step: 1, arrays: state.arrays.map((x) => (x.name === 'adam.1.v' ? { ...x, data: new Float32Array(3), shape: [3] } : x)) };
    expect(() => optB.importState(bad)).toThrow(/adam\.1\.v.*3 values/);
    expect(() => optB.importState({ step: 1, arrays: [...state.arrays, { name: 'adam.7.m', shape: [1], data: new Float32Array(1) }] })).toThrow(/unexpected array 'adam\.7\.m'/);
    optA.dispose();
    optB.dispose();
    [...a, ...b].forEach((p) => p.dispose());
  });
});
