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
