// Parameter initialisation from a seed, on the CPU (a one-off upload per parameter): the same seed
// gives the same model in Node and in the browser.

import { tensor } from '../tensor/ops/creation.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { mulberry32 } from '../data/rng.ts';

/** Uniform [0, 1) numbers from a 32-bit seed (mulberry32, shared with the data layer's shuffles). */
export function seededRandom(seed: number): () => number {
  return mulberry32(seed).next;
}

export function normalArray(n: number, std: number, rand: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = std * Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Xavier/Glorot uniform for a [fanIn, fanOut] weight: keeps activation variance ~1 through tanh/linear layers. */
export function xavierUniform(fanIn: number, fanOut: number, rand: () => number, name?: string): Tensor {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const data = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < data.length; i++) data[i] = (2 * rand() - 1) * limit;
  return tensor(data, [fanIn, fanOut], { requiresGrad: true, name });
}

export function normalParam(shape: number[], std: number, rand: () => number, name?: string): Tensor {
  return tensor(normalArray(shape.reduce((a, b) => a * b, 1), std, rand), shape, { requiresGrad: true, name });
}

export function zerosParam(shape: number[], name?: string): Tensor {
  return tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, { requiresGrad: true, name });
}
