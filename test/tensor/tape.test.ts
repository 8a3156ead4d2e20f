// Autograd tape semantics: accumulation, shared subexpressions, noGrad, retainGraph, scopes, disposal.
import { describe, it, expect } from 'vitest';
import { Engine, engine } from '../../src/gpu/engine.ts';
import { tensor, tidy, keep, noGrad, add, mul, exp, sub, square, Tensor } from '../../src/tensor/index.ts';

const close = async (t: Tensor, want: number[]) => {
  const got = Array.from(await t.data());
  // f32 results of a few ops: relative 1e-6 plus a small absolute floor
  got.forEach((g, i) => expect(Math.abs(g - want[i])).toBeLessThanOrEqual(1e-6 * Math.abs(want[i]) + 1e-6));
};

describe('tape', () => {
  it('sums gradients over every path of a shared subexpression', async () => {
    const x = tensor([0.5, -1, 2], [3], { requiresGrad: true });
    // y = x·x + exp(x) + x  →  dy/dx = 2x + exp(x) + 1
    const y = tidy(() => add(add(mul(x, x), exp(x)), x));
    const g = tensor([1, 1, 1]);
    y.backward(g);
    await close(x.grad!, [0.5, -1, 2].map((v) => 2 * v + Math.exp(v) + 1));
    g.dispose();
    y.dispose();
    x.dispose();
  });

  it('sums a tensor used 9 times with add_n (2 dispatches, no chained adds), to the bits of chained adds', async () => {
    // y = Σ_k c_k·x  →  dy/dx = Σ_k c_k, contributions summed left to right in the order backward meets them.
    const cs = [0.5, -1, 2, 3, -0.25, 1.5, 0.75, -2, 4];
    const x = tensor([0.3, -1.7, 2.2, 0.9, 5], [5], { requiresGrad: true });
    const y = tidy(() => cs.map((c) => mul(x, tensor([c, c, c, c, c]))).reduce((a, b) => add(a, b)));
    const e = engine();
    const seen: string[] = [];
    const orig = e.stream.dispatch;
    e.stream.dispatch = function (k, ...rest) {
      seen.push(k.key.split(':')[1]);
      return orig.call(this, k, ...rest);
    };
    const g = tensor([1, 1, 1, 1, 1]);
    try {
      y.backward(g);
    } finally {
      e.stream.dispatch = orig;
    }
    // 9 contributions: one add_n of 7, one of the running sum + 2; no binary add among them.
    expect(seen.filter((k) => k === 'add_n').length).toBe(2);
    expect(seen.filter((k) => k === 'binary').length).toBe(0);
    // The c_k are dyadic, so the f32 sum is exact in any order (addN's test checks the order's bits).
    const want = cs.reduce((a, c) => a + c, 0);
    expect(Array.from(await x.grad!.data())).toEqual(new Array(5).fill(want));
    [g, y, x].forEach((t) => t.dispose());
  });

  it('accumulates into .grad across backward calls until zeroed', async () => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const g = tensor([1, 1]);
    for (let i = 0; i < 3; i++) {
      const y = square(x);
      y.backward(g);
      y.dispose();
    }
    await close(x.grad!, [6, 12]); // 3 × 2x
    g.dispose();
    x.dispose();
  });

  it('records nothing under noGrad, and backward from it is an error', () => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const y = noGrad(() => mul(x, x));
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    expect(() => y.backward()).toThrow(/does not require grad/);
    y.dispose();
    x.dispose();
  });

  it('frees the graph after backward unless retainGraph', async () => {
    const x = tensor([3], [1], { requiresGrad: true });
    const y = tidy(() => mul(exp(x), x));
    y.backward(undefined, { retainGraph: true });
    y.backward();
    // d/dx (x·eˣ) = (x+1)·eˣ, twice
    await close(x.grad!, [2 * 4 * Math.exp(3)]);
    expect(() => y.backward()).toThrow(/already freed/);
    y.dispose();
    x.dispose();
  });

  it('backward still works after the intermediates were disposed', async () => {
    const x = tensor([0.25, 0.5], [2], { requiresGrad: true });
    const a = exp(x);
    const b = mul(a, a); // e^{2x}
    a.dispose();
    const s = sub(b, x);
    b.dispose();
    const g = tensor([1, 1]);
    s.backward(g);
    g.dispose();
    await close(x.grad!, [0.25, 0.5].map((v) => 2 * Math.exp(2 * v) - 1));
    s.dispose();
    x.dispose();
  });

  it('disposing the outputs without backward frees every saved tensor (leak check)', () => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = exp(x);
    const z = mul(y, y);
    y.dispose();
    z.dispose();
    x.dispose();
  });

  it('tidy disposes temporaries, keeps what is returned and what keep() marks', async () => {
    const before = engine().pool.stats().liveTensors;
    let kept: Tensor | null = null;
    const out = tidy(() => {
      const a = tensor([1, 2]);
      const b = mul(a, a);
      kept = keep(add(b, a));
      return add(b, b);
    });
    expect(engine().pool.stats().liveTensors).toBe(before + 2);
    await close(out, [2, 8]);
    await close(kept!, [2, 6]);
    out.dispose();
    kept!.dispose();
    expect(() => tidy(() => Promise.resolve() as never)).toThrow(/Promise/);
  });

  it('tidy frees its tensors when fn throws (leak check)', () => {
    expect(() =>
      tidy(() => {
        exp(tensor([1, 2, 3]));
        throw new Error('boom');
      }),
    ).toThrow('boom');
  });

  it('names disposed tensors and foreign devices in errors', () => {
    const a = tensor([1, 2]);
    a.dispose();
    expect(() => exp(a)).toThrow(/exp: tensor #\d+ \[2\] was disposed/);
    const other = new Engine(engine().gpu);
    const b = tensor([1, 2]);
    const c = tensor([1, 2], [2], { engine: other });
    expect(() => add(b, c)).toThrow(/add: .* lives on another device/);
    b.dispose();
    c.dispose();
    other.pool.checkLeaks();
  });
});
