// Test helpers: GPU ↔ reference conversion, closeness with stated tolerances, finite differences.
import { expect } from 'vitest';
import { tensor, tidy, noGrad, mul, Tensor } from '../src/tensor/index.ts';
import { Nd, randn } from './reference/nd.ts';

export function toGpu(x: Nd, requiresGrad = false): Tensor {
  return tensor(Float32Array.from(x.data), x.shape, { requiresGrad });
}

export async function toNd(t: Tensor): Promise<Nd> {
  return new Nd(Float64Array.from(await t.data()), [...t.shape]);
}

export interface Tol {
  /** Max |got − want| / (atol + rtol·|want|) must be ≤ 1 elementwise. */
  rtol: number;
  atol: number;
}

/** Elementwise |got − want| ≤ atol + rtol·|want|; the message names the worst element. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol, label: string): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (!Number.isFinite(g) && g !== w) {
      worst = i;
      worstRatio = Infinity;
      break;
    }
    const ratio = Math.abs(g - w) / (tol.atol + tol.rtol * Math.abs(w));
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worstRatio > 1) {
    expect.fail(`${label}: element ${worst}: got ${got[worst]}, want ${want[worst]} (error ${worstRatio.toFixed(2)}× the tolerance rtol=${tol.rtol} atol=${tol.atol})`);
  }
}

export async function expectTensorClose(t: Tensor, want: Nd, tol: Tol, label: string): Promise<void> {
  expect([...t.shape], `${label}: shape`).toEqual(want.shape);
  expectClose(await t.data(), want.data, tol, label);
}

/**
 * Central finite differences of L(x) = Σ f(inputs)·w (w a fixed random projection) with respect to
 * every element of input `which`, computed with the GPU forward itself; returns the numeric gradient.
 * Use small shapes: 2 forward passes per element.
 */
export async function finiteDiff(f: (xs: Tensor[]) => Tensor, inputs: Nd[], which: number, eps: number, w: Nd): Promise<Float64Array> {
  const out = new Float64Array(inputs[which].size);
  const evalAt = async (x: Nd[]) => {
    const v = tidy(() =>
      noGrad(() => {
        const xs = x.map((n) => toGpu(n));
        const y = f(xs);
        return mul(y, toGpu(w));
      }),
    );
    const d = await v.data();
    v.dispose();
    let s = 0;
    for (const z of d) s += z;
    return s;
  };
  for (let i = 0; i < out.length; i++) {
    const plus = inputs.map((n, k) => (k === which ? n.map((v, j) => (j === i ? v + eps : v)) : n));
    const minus = inputs.map((n, k) => (k === which ? n.map((v, j) => (j === i ? v - eps : v)) : n));
    out[i] = ((await evalAt(plus)) - (await evalAt(minus))) / (2 * eps);
  }
  return out;
}

/** GPU gradients of Σ f(inputs)·w with respect to every input (via backward). */
export async function gpuGrads(f: (xs: Tensor[]) => Tensor, inputs: Nd[], w: Nd): Promise<{ out: Nd; grads: Nd[] }> {
  const xs = inputs.map((n) => toGpu(n, true));
  const y = f(xs);
  const gw = toGpu(w);
  y.backward(gw);
  const out = await toNd(y);
  const grads: Nd[] = [];
  for (const x of xs) grads.push(x.grad ? await toNd(x.grad) : Nd.zeros(x.shape as number[]));
  y.dispose();
  gw.dispose();
  xs.forEach((x) => x.dispose());
  return { out, grads };
}

export { randn };
