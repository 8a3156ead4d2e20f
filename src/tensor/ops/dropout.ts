// Dropout and random tensors from the counter-based Philox 4x32-10 stream (shaders/rng.wgsl).
//
// Why counter-based: element i of a call with (seed, offset) is a pure function of (seed, offset + i),
// so dropout's backward regenerates the forward's mask instead of storing it (no mask tensor kept
// alive between forward and backward), any dispatch order gives the same numbers, and the same seed
// gives the same training run (DESIGN.md §3). Calls that must not share numbers use disjoint offset
// ranges (e.g. offset += x.size after each call) or different seeds.
//
// Keep test: word ≥ round(p·2^32), an integer comparison, so the CPU reference reproduces the mask
// bit for bit; P(keep) = 1 − round(p·2^32)/2^32.

import { engine as defaultEngine } from '../../gpu/engine.ts';
import type { Engine } from '../../gpu/engine.ts';
import { Tensor, TensorError, checkShape } from '../tensor.ts';
import { record } from '../tape.ts';
import { bindable } from './layout.ts';
import { dispatch1d, engineOf, assertDType } from './util.ts';

const TWO32 = 2 ** 32;

/** A non-negative safe integer as (lo, hi) u32 words. */
function split64(op: string, what: string, v: number): [number, number] {
  if (!Number.isSafeInteger(v) || v < 0) throw new TensorError(`${op}: ${what} must be a non-negative safe integer, got ${v}`);
  return [v % TWO32, Math.floor(v / TWO32)];
}

/** Uniform fields locating element 0 of a call in the stream (see shaders/dropout.wgsl). */
function streamParams(op: string, n: number, seed: number, offset: number) {
  const key = split64(op, 'seed', seed);
  split64(op, 'offset', offset);
  const last = offset + n;
  if (!Number.isSafeInteger(last)) throw new TensorError(`${op}: offset ${offset} + ${n} elements passes 2^53`);
  return { n, lane0: offset % 4, block0: split64(op, 'offset', Math.floor(offset / 4)), key };
}

/** Threads for n elements starting at stream lane `lane0`: one per 4-element Philox block. */
const blocks = (n: number, lane0: number) => (n === 0 ? 0 : Math.ceil((n + lane0) / 4));

/**
 * Inverted dropout: each element is kept with probability 1 − p and scaled by 1/(1 − p), else zeroed.
 * The mask of element i is a function of (seed, offset + i) only — same arguments, same mask — and
 * backward regenerates it (nothing is stored). p = 0 or training = false returns an alias of x.
 */
export function dropout(x: Tensor, p: number, seed: number, offset = 0, training = true): Tensor {
  const op = 'dropout';
  const e = engineOf(op, x);
  assertDType(op, x, 'f32');
  if (!(p >= 0 && p < 1)) throw new TensorError(`${op}: p must be in [0, 1), got ${p}`);
  const params = { ...streamParams(op, x.size, seed, offset), threshold: Math.min(TWO32 - 1, Math.round(p * TWO32)), scale: 1 / (1 - p) };
  if (p === 0 || !training) {
    const alias = x.view(x.shape, x.strides, x.offset);
    return record(op, [x], alias, () => (g) => [g]);
  }
  const threads = blocks(x.size, params.lane0);
  const xb = bindable(x);
  const y = Tensor.empty(x.shape, 'f32', e);
  dispatch1d(e, 'dropout', 'dropout', {}, { x: xb.binding(op), y: y.binding(op) }, params, threads);
  if (xb !== x) xb.dispose();
  return record(op, [x], y, () => (g) => {
    const gb = bindable(g);
    const gx = Tensor.empty(x.shape, 'f32', e);
    dispatch1d(e, 'dropout', 'dropout_backward', {}, { gy: gb.binding(op), gx: gx.binding(op) }, params, threads);
    if (gb !== g) gb.dispose();
    return [gx];
  });
}

export interface RandOptions {
  engine?: Engine;
  requiresGrad?: boolean;
}

function rand(op: string, dist: number, shape: readonly number[], seed: number, offset: number, opts: RandOptions): Tensor {
  checkShape(shape, op);
  const e = opts.engine ?? defaultEngine();
  const out = Tensor.empty(shape, 'f32', e);
  const params = streamParams(op, out.size, seed, offset);
  dispatch1d(e, 'dropout', 'rand', { DIST: dist }, { out: out.binding(op) }, params, blocks(out.size, params.lane0));
  out.requiresGrad = opts.requiresGrad ?? false;
  return out;
}

/** Uniform floats in [0, 1) (multiples of 2^-24): element i is a function of (seed, offset + i). */
export const randUniform = (shape: readonly number[], seed: number, offset = 0, opts: RandOptions = {}) => rand('randUniform', 0, shape, seed, offset, opts);

/**
 * Standard normals by Box–Muller: stream words (4b, 4b+1) and (4b+2, 4b+3) each make a (cos, sin)
 * pair, so element i depends on (seed, offset + i) and its pair partner's word.
 */
export const randNormal = (shape: readonly number[], seed: number, offset = 0, opts: RandOptions = {}) => rand('randNormal', 1, shape, seed, offset, opts);
