// Philox 4x32-10 (shaders/rng.wgsl) against the Random123 known answers and an exact CPU reference,
// the uniform / normal generators, and dropout forward + backward against the same Philox-derived mask.
import { describe, it, expect } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import { engine } from '../../src/gpu/engine.ts';
import { dispatch1d } from '../../src/tensor/ops/util.ts';
import { Nd, randn } from '../reference/nd.ts';
import { philox4x32_10, streamWords, dropoutRef, dropoutMaskRef, uniformRef } from '../reference/gather.ts';
import { expectClose, gpuGrads, finiteDiff } from '../helpers.ts';

// Random123 kat_vectors for philox4x32 with 10 rounds: [counter, key, output].
const KAT: [number[], number[], number[]][] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
  [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
];

/** philox4x32_10(ctr + t, key) for t < blocks, on the GPU (the test-only `philox_raw` kernel). */
async function gpuPhilox(ctr: number[], key: number[], blocks: number): Promise<Uint32Array> {
  const e = engine();
  const out = ops.Tensor.empty([blocks * 4], 'i32', e);
  dispatch1d(e, 'dropout', 'philox_raw', {}, { bits: out.binding() }, { n: blocks, ctr, key }, blocks);
  const d = await out.data();
  out.dispose();
  return new Uint32Array(d.buffer);
}

const hex = (a: ArrayLike<number>) => Array.from(a, (v) => (v >>> 0).toString(16).padStart(8, '0'));

describe('Philox 4x32-10', () => {
  it('CPU reference matches the Random123 known answers', () => {
    for (const [ctr, key, want] of KAT) expect(hex(philox4x32_10(ctr, key))).toEqual(hex(want));
  });

  it('GPU matches the Random123 known answers', async () => {
    for (const [ctr, key, want] of KAT) expect(hex(await gpuPhilox(ctr, key, 1))).toEqual(hex(want));
  });

  it('GPU matches the CPU reference bit for bit over 257 counters, across a 32-bit carry', async () => {
    const ctr = [0xffffff80, 0x7fffffff, 0x12345678, 0x9abcdef0];
    const key = [0xdeadbeef, 0x0badf00d];
    const got = await gpuPhilox(ctr, key, 257);
    const want: number[] = [];
    for (let t = 0; t < 257; t++) {
      const lo = ctr[0] + t;
      want.push(...philox4x32_10([lo % 2 ** 32, ctr[1] + Math.floor(lo / 2 ** 32), ctr[2], ctr[3]], key));
    }
    expect(hex(got)).toEqual(hex(want));
  });
});

describe('random tensors', () => {
  // seed with both words set; offsets unaligned to the 4-word block and past 2^34 (block hi word ≠ 0)
  for (const [seed, offset, n] of [
    [0, 0, 1],
    [12345, 3, 1000],
    [2 ** 40 + 7, 2 ** 34 + 5, 257],
  ]) {
    it(`randUniform seed ${seed} offset ${offset} n ${n} matches the stream exactly`, async () => {
      const t = ops.randUniform([n], seed, offset);
      const got = await t.data();
      t.dispose();
      // (w >> 8)·2^-24 is exact in f32: any difference is a bug
      expectClose(got, uniformRef(seed, offset, n), { rtol: 0, atol: 0 }, 'uniform');
    });
  }

  it('randUniform with offset k continues the stream of offset 0', async () => {
    const a = ops.randUniform([7, 33], 9, 0);
    const b = ops.randUniform([100], 9, 131);
    const da = await a.data();
    const db = await b.data();
    [a, b].forEach((t) => t.dispose());
    expect(Array.from(db.slice(0, 100))).toEqual(Array.from(da.slice(131, 231)));
  });

  it('randNormal matches Box–Muller on the stream words', async () => {
    const n = 1001;
    const t = ops.randNormal([n], 77, 2);
    const got = await t.data();
    t.dispose();
    // element offset+i is word (offset+i) of its block; blocks pair words (0,1) and (2,3): (cos, sin)
    const want = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const e = 2 + i;
      const base = e - (e % 2);
      const [w0, w1] = streamWords(77, base, 2);
      const u1 = ((w0 >>> 8) + 1) / 16777216;
      const th = (2 * Math.PI * (w1 >>> 8)) / 16777216;
      const r = Math.sqrt(-2 * Math.log(u1));
      want[i] = e % 2 === 0 ? r * Math.cos(th) : r * Math.sin(th);
    }
    // f32 log/sqrt/cos/sin on the CPU adapters: a few ulp each, but log(u1) for u1 near 1 loses relative
    // accuracy (cancellation) and r = √(−2 log u1) amplifies it; 1e-3 absolute still catches a swapped
    // word or pair (errors of order 1).
    expectClose(got, want, { rtol: 1e-3, atol: 1e-3 }, 'normal');
  });

  it('randNormal: mean and variance of 1e5 samples', async () => {
    const n = 100_000;
    const t = ops.randNormal([n], 2024);
    const d = await t.data();
    t.dispose();
    let s = 0;
    let s2 = 0;
    for (const v of d) {
      s += v;
      s2 += v * v;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    // 4σ bounds: σ(mean) = 1/√n, σ(variance) ≈ √(2/n)
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(variance - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
  });
});

describe('dropout', () => {
  for (const [shape, p, seed, offset] of [
    [[1], 0.5, 1, 0],
    [[7, 33], 0.1, 42, 0],
    [[257, 5], 0.5, 7, 7],
    [[1000], 0.9, 2 ** 33 + 1, 2 ** 35 + 2],
  ] as [number[], number, number, number][]) {
    it(`${JSON.stringify(shape)} p=${p} seed=${seed} offset=${offset}: forward and backward vs the Philox mask`, async () => {
      const x = randn(shape, 3);
      const w = randn(shape, 4);
      const { out, grads } = await gpuGrads(([t]) => ops.dropout(t, p, seed, offset), [x], w);
      const { y, mask } = dropoutRef(x, p, seed, offset);
      // The mask is an integer comparison and x·scale one correctly rounded f32 multiply: exact.
      expectClose(out.data, y, { rtol: 0, atol: 0 }, 'forward');
      const scale = Math.fround(1 / (1 - p));
      const gx = w.data.map((g, i) => (mask[i] ? Math.fround(g * scale) : 0));
      expectClose(grads[0].data, gx, { rtol: 0, atol: 0 }, 'backward = g·mask/(1−p)');
    });
  }

  it('same seed and offset → same mask; another seed or offset → another mask', async () => {
    const n = 4096;
    const x = ops.ones([n]);
    const masks: number[][] = [];
    for (const [seed, offset] of [
      [5, 0],
      [5, 0],
      [6, 0],
      [5, n],
    ]) {
      const y = ops.dropout(x, 0.5, seed, offset);
      masks.push(Array.from(await y.data(), (v) => (v ? 1 : 0)));
      y.dispose();
    }
    x.dispose();
    expect(masks[1]).toEqual(masks[0]);
    expect(masks[2]).not.toEqual(masks[0]);
    expect(masks[3]).not.toEqual(masks[0]);
    expect(masks[3]).toEqual(Array.from(dropoutMaskRef(n, 0.5, 5, n)));
  });

  for (const p of [0.1, 0.5, 0.8]) {
    it(`kept fraction over 1e5 elements is within 4σ of 1 − p = ${1 - p}`, async () => {
      const n = 100_000;
      const x = ops.ones([n]);
      const y = ops.dropout(x, p, 314159);
      const d = await y.data();
      [x, y].forEach((t) => t.dispose());
      let kept = 0;
      for (const v of d) if (v !== 0) kept++;
      const sigma = Math.sqrt((p * (1 - p)) / n);
      expect(Math.abs(kept / n - (1 - p))).toBeLessThan(4 * sigma);
    });
  }

  it('p = 0 and training = false are the identity (values and gradient)', async () => {
    const x = randn([7, 33], 5);
    const w = randn([7, 33], 6);
    for (const f of [(t: ops.Tensor) => ops.dropout(t, 0, 1), (t: ops.Tensor) => ops.dropout(t, 0.5, 1, 0, false)]) {
      const { out, grads } = await gpuGrads(([t]) => f(t), [x], w);
      expectClose(out.data, x.data, { rtol: 0, atol: 0 }, 'identity forward');
      expectClose(grads[0].data, w.data, { rtol: 0, atol: 0 }, 'identity backward');
    }
  });

  it('non-contiguous input', async () => {
    const x = randn([33, 7], 8);
    const t = ops.tensor(Float32Array.from(x.data), [33, 7]);
    const v = ops.T(t);
    const y = ops.dropout(v, 0.3, 11);
    const got = await y.data();
    [t, v, y].forEach((a) => a.dispose());
    const xt = new Nd(new Float64Array(231), [7, 33]);
    for (let i = 0; i < 33; i++) for (let j = 0; j < 7; j++) xt.data[j * 33 + i] = x.data[i * 7 + j];
    expectClose(got, dropoutRef(xt, 0.3, 11, 0).y, { rtol: 0, atol: 0 }, 'dropout of a transposed view');
  });

  it('finite differences (the mask is fixed by the seed, so dropout is linear in x)', async () => {
    const x = randn([3, 5], 9);
    const w = randn([3, 5], 10);
    const f = ([t]: ops.Tensor[]) => ops.dropout(t, 0.4, 99, 5);
    const { grads } = await gpuGrads(f, [x], w);
    const fd = await finiteDiff(f, [x], 0, 1e-2, w);
    // linear: central differences are exact up to f32 rounding of the projected sum
    expectClose(grads[0].data, fd, { rtol: 1e-2, atol: 1e-3 }, 'd/dx vs finite differences');
  });

  it('rejects bad p, seed and offset', () => {
    const x = ops.ones([4]);
    expect(() => ops.dropout(x, 1, 0)).toThrow('dropout: p must be in [0, 1), got 1');
    expect(() => ops.dropout(x, -0.1, 0)).toThrow('dropout: p must be in [0, 1), got -0.1');
    expect(() => ops.dropout(x, NaN, 0)).toThrow('dropout: p must be in [0, 1), got NaN');
    expect(() => ops.dropout(x, 0.5, -1)).toThrow('dropout: seed must be a non-negative safe integer, got -1');
    expect(() => ops.dropout(x, 0.5, 1.5)).toThrow('dropout: seed must be a non-negative safe integer, got 1.5');
    expect(() => ops.dropout(x, 0.5, 1, -4)).toThrow('dropout: offset must be a non-negative safe integer, got -4');
    x.dispose();
  });
});
