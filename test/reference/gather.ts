// CPU references for index movement: row gather / scatter-add, the Philox 4x32-10 stream and dropout
// (integer-exact), and the layout ops (permute, slice, concat). Plain loops, float64 unless the name
// says f32; no GPU code.

import { Nd, stridesOf, forEachIndex } from './nd.ts';

// ------------------------------------------------------------------------------------------- gather

/** out[i, :] = table[idx[i], :], zeros for idx outside [0, V). */
export function gatherRowsRef(table: Nd, idx: ArrayLike<number>, idxShape: number[]): Nd {
  const [V, D] = table.shape;
  const out = Nd.zeros([...idxShape, D]);
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (v < 0 || v >= V) continue;
    for (let c = 0; c < D; c++) out.data[i * D + c] = table.data[v * D + c];
  }
  return out;
}

/** d(table)[v, :] = Σ_{i: idx[i] = v} g[i, :] in float64. */
export function scatterRowsRef(g: Nd, idx: ArrayLike<number>, V: number): Nd {
  const D = g.shape[g.shape.length - 1];
  const out = Nd.zeros([V, D]);
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (v < 0 || v >= V) continue;
    for (let c = 0; c < D; c++) out.data[v * D + c] += g.data[i * D + c];
  }
  return out;
}

/** The same sums in float32, accumulated in ascending position order starting from 0: the GPU's order. */
export function scatterRowsF32InOrder(g: Nd, idx: ArrayLike<number>, V: number): Float32Array {
  const D = g.shape[g.shape.length - 1];
  const out = new Float32Array(V * D);
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (v < 0 || v >= V) continue;
    for (let c = 0; c < D; c++) out[v * D + c] = Math.fround(out[v * D + c] + Math.fround(g.data[i * D + c]));
  }
  return out;
}

// ------------------------------------------------------------------------------------------- philox

const M0 = 0xd2511f53n;
const M1 = 0xcd9e8d57n;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const MASK = 0xffffffffn;

/** Random123 philox4x32-10, with exact 64-bit products (BigInt). */
export function philox4x32_10(ctr: readonly number[], key: readonly number[]): [number, number, number, number] {
  let [c0, c1, c2, c3] = ctr.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let r = 0; r < 10; r++) {
    const p0 = M0 * BigInt(c0);
    const p1 = M1 * BigInt(c2);
    const hi0 = Number(p0 >> 32n);
    const lo0 = Number(p0 & MASK);
    const hi1 = Number(p1 >> 32n);
    const lo1 = Number(p1 & MASK);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

const TWO32 = 2 ** 32;

/** Stream word e for key `seed` (shaders/rng.wgsl): word e mod 4 of philox(counter = ⌊e/4⌋ as 64-bit, 0, 0). */
export function streamWords(seed: number, offset: number, n: number): Uint32Array {
  const key = [seed % TWO32, Math.floor(seed / TWO32)];
  const out = new Uint32Array(n);
  let cachedBlock = -1;
  let words: number[] = [];
  for (let i = 0; i < n; i++) {
    const e = offset + i;
    const b = Math.floor(e / 4);
    if (b !== cachedBlock) {
      words = philox4x32_10([b % TWO32, Math.floor(b / TWO32), 0, 0], key);
      cachedBlock = b;
    }
    out[i] = words[e % 4];
  }
  return out;
}

/** Dropout keep mask: word ≥ round(p·2^32). */
export function dropoutMaskRef(n: number, p: number, seed: number, offset: number): Uint8Array {
  const thr = Math.min(TWO32 - 1, Math.round(p * TWO32));
  const w = streamWords(seed, offset, n);
  return Uint8Array.from(w, (v) => (v >= thr ? 1 : 0));
}

/** y = x·mask·fround(1/(1−p)) rounded to f32 — what an IEEE f32 multiply gives. */
export function dropoutRef(x: Nd, p: number, seed: number, offset: number): { y: Float32Array; mask: Uint8Array } {
  const mask = dropoutMaskRef(x.size, p, seed, offset);
  const scale = Math.fround(1 / (1 - p));
  const y = new Float32Array(x.size);
  for (let i = 0; i < x.size; i++) y[i] = mask[i] ? Math.fround(x.data[i] * scale) : 0;
  return { y, mask };
}

/** Uniforms in [0, 1): the top 24 bits of each word. */
export function uniformRef(seed: number, offset: number, n: number): Float64Array {
  return Float64Array.from(streamWords(seed, offset, n), (w) => (w >>> 8) / 16777216);
}

// ------------------------------------------------------------------------------------------- layout

/** out[idx] = t[idx permuted]: out.shape[i] = t.shape[perm[i]]. */
export function permuteRef(t: Nd, perm: number[]): Nd {
  const shape = perm.map((p) => t.shape[p]);
  const st = stridesOf(t.shape);
  const out = Nd.zeros(shape);
  forEachIndex(shape, (idx, flat) => {
    let src = 0;
    for (let k = 0; k < perm.length; k++) src += idx[k] * st[perm[k]];
    out.data[flat] = t.data[src];
  });
  return out;
}

export function sliceRef(t: Nd, axis: number, start: number, end: number): Nd {
  const shape = [...t.shape];
  shape[axis] = end - start;
  const st = stridesOf(t.shape);
  const out = Nd.zeros(shape);
  forEachIndex(shape, (idx, flat) => {
    let src = 0;
    for (let k = 0; k < shape.length; k++) src += (k === axis ? idx[k] + start : idx[k]) * st[k];
    out.data[flat] = t.data[src];
  });
  return out;
}

/** Adjoint of sliceRef: g written at [start, end) of zeros of `shape`. */
export function unsliceRef(g: Nd, shape: number[], axis: number, start: number): Nd {
  const st = stridesOf(shape);
  const out = Nd.zeros(shape);
  forEachIndex(g.shape, (idx, flat) => {
    let dst = 0;
    for (let k = 0; k < shape.length; k++) dst += (k === axis ? idx[k] + start : idx[k]) * st[k];
    out.data[dst] = g.data[flat];
  });
  return out;
}

export function concatRef(ts: Nd[], axis: number): Nd {
  const shape = [...ts[0].shape];
  shape[axis] = ts.reduce((s, t) => s + t.shape[axis], 0);
  const out = Nd.zeros(shape);
  const st = stridesOf(shape);
  let at = 0;
  for (const t of ts) {
    forEachIndex(t.shape, (idx, flat) => {
      let dst = 0;
      for (let k = 0; k < shape.length; k++) dst += (k === axis ? idx[k] + at : idx[k]) * st[k];
      out.data[dst] = t.data[flat];
    });
    at += t.shape[axis];
  }
  return out;
}
