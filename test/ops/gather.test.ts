// Row gather (embedding lookup) and its deterministic scatter-add backward vs the CPU reference, the
// GPU bitonic sort it relies on, out-of-range handling, indexTensor validation, finite differences.
import { describe, it, expect } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { engine } from '../../src/gpu/engine.ts';
import { Nd, randn, rng } from '../reference/nd.ts';
import { gatherRowsRef, scatterRowsRef, scatterRowsF32InOrder } from '../reference/gather.ts';
import { expectClose, gpuGrads, finiteDiff, toGpu } from '../helpers.ts';

// A gather copies f32 values: any difference at all is a bug.
const EXACT = { rtol: 0, atol: 0 };
// Float64 reference for f32 sums of up to ~200 N(0,1) terms (the long-run cases): rounding error is
// ≲ n·2^-24·max|partial sum| ≈ 200·6e-8·30 ≈ 4e-4 in the worst case, far less in practice.
const SUM64 = { rtol: 1e-4, atol: 1e-4 };
// Gather is linear in the table, so central differences are exact up to f32 rounding of the sums.
const FD = { rtol: 1e-2, atol: 1e-3 };

function randomIndices(n: number, lo: number, hi: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo)));
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

// [V, D, index shape, indices drawn from [0, hi)]
const cases: [number, number, number[], number][] = [
  [7, 33, [1], 7],
  [257, 5, [7, 33], 257],
  [33, 257, [3, 7], 33],
  [1000, 3, [1000], 1000],
  [1000, 7, [257], 10], // heavy duplicates: runs of ~26, most rows untouched
  [5, 1, [33, 31], 5], // 1023 indices into 5 rows: runs of ~200, pads to 1024
];

describe('gatherRows', () => {
  for (const [V, D, S, hi] of cases) {
    it(`[${V}, ${D}] table, indices ${JSON.stringify(S)} in [0, ${hi})`, async () => {
      const table = randn([V, D], V + D);
      const idx = randomIndices(size(S), 0, hi, V * 7 + D);
      const w = randn([...S, D], 3);
      const ix = ops.indexTensor(idx, S, V);
      const { out, grads } = await gpuGrads(([t]) => ops.gatherRows(t, ix), [table], w);
      ix.dispose();
      expectClose(out.data, gatherRowsRef(table, idx, S).data, EXACT, 'forward');
      expect(out.shape).toEqual([...S, D]);
      // The GPU sums each row's run in ascending position order, exactly what this f32 loop does.
      expectClose(grads[0].data, scatterRowsF32InOrder(w, idx, V), EXACT, 'backward vs f32 sums in position order');
      expectClose(grads[0].data, scatterRowsRef(w, idx, V).data, SUM64, 'backward vs float64');
    });
  }

  it('backward is bit-identical run to run', async () => {
    const [V, D] = [50, 9];
    const idx = randomIndices(1500, 0, 12, 5);
    const table = randn([V, D], 1);
    const w = randn([1500, D], 2);
    const runs: Int32Array[] = [];
    for (let k = 0; k < 3; k++) {
      const ix = ops.indexTensor(idx, [1500], V);
      const { grads } = await gpuGrads(([t]) => ops.gatherRows(t, ix), [table], w);
      ix.dispose();
      runs.push(new Int32Array(Float32Array.from(grads[0].data).buffer));
    }
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
  });

  it('backward encodes the sort without waiting on the GPU', async () => {
    const e = engine();
    const n = 1000; // pads to 1024 pairs
    const table = toGpu(randn([40, 6], 1), true);
    const ix = ops.indexTensor(randomIndices(n, 0, 40, 2), [n], 40);
    const y = ops.gatherRows(table, ix);
    const g = toGpu(randn([n, 6], 3));
    e.stream.flush();
    const [d0, s0] = [e.stream.dispatchCount, e.stream.submitCount];
    y.backward(g);
    // make_pairs + the sort (bitonicSortPairs below counts its dispatches) + row_pointers + scatter_rows
    expect(e.stream.dispatchCount - d0).toBe(1 + sortDispatches(1024, e.wg1d) + 1 + 1);
    expect(e.stream.submitCount - s0).toBe(0);
    [table, ix, y, g].forEach((t) => t.dispose());
  });

  it('out-of-range indices (not validated on upload) give zero rows and no gradient', async () => {
    const V = 7;
    const D = 5;
    const idx = [-1, 0, 5, 7, 100, 2, 5, -2147483648, 2147483647];
    const table = randn([V, D], 4);
    const w = randn([idx.length, D], 5);
    const ix = ops.tensor(Int32Array.from(idx), [idx.length], { dtype: 'i32' });
    const { out, grads } = await gpuGrads(([t]) => ops.gatherRows(t, ix), [table], w);
    ix.dispose();
    expectClose(out.data, gatherRowsRef(table, idx, [idx.length]).data, EXACT, 'forward');
    expectClose(grads[0].data, scatterRowsF32InOrder(w, idx, V), EXACT, 'backward');
    expect(Array.from(out.data.slice(0, D))).toEqual([0, 0, 0, 0, 0]);
  });

  it('non-contiguous table and index views', async () => {
    const [V, D] = [33, 7];
    const tT = randn([D, V], 6); // the table is T(tT): a strided view
    const idx2 = randomIndices(5 * 9, 0, V, 7);
    const w = randn([5, 3, D], 8);
    const idxFull = ops.indexTensor(idx2, [5, 9], V);
    const idxView = ops.slice(idxFull, 1, 2, 5); // unaligned offset: the op must copy it
    const picked = Array.from({ length: 15 }, (_, k) => idx2[Math.floor(k / 3) * 9 + 2 + (k % 3)]);
    const f = ([t]: Tensor[]) => {
      const tv = ops.T(t);
      const y = ops.gatherRows(tv, idxView);
      tv.dispose(); // the graph keeps what backward needs
      return y;
    };
    const { out, grads } = await gpuGrads(f, [tT], w);
    idxFull.dispose();
    idxView.dispose();
    const table = new Nd(new Float64Array(V * D), [V, D]);
    for (let v = 0; v < V; v++) for (let c = 0; c < D; c++) table.data[v * D + c] = tT.data[c * V + v];
    expectClose(out.data, gatherRowsRef(table, picked, [5, 3]).data, EXACT, 'forward');
    const gTable = scatterRowsRef(w, picked, V);
    const gT = new Float64Array(D * V);
    for (let v = 0; v < V; v++) for (let c = 0; c < D; c++) gT[c * V + v] = gTable.data[v * D + c];
    expectClose(grads[0].data, gT, SUM64, 'backward through the transpose');
  });

  it('empty index tensor: empty output, zero gradient', async () => {
    const table = randn([6, 4], 9);
    const ix = ops.tensor(new Int32Array(0), [0], { dtype: 'i32' });
    const { out, grads } = await gpuGrads(([t]) => ops.gatherRows(t, ix), [table], Nd.zeros([0, 4]));
    ix.dispose();
    expect(out.shape).toEqual([0, 4]);
    expect(Array.from(grads[0].data)).toEqual(new Array(24).fill(0));
  });

  it('finite differences', async () => {
    const table = randn([5, 3], 10);
    const idx = [4, 0, 4, 2, 4, 1, 0];
    const w = randn([7, 3], 11);
    const ix = ops.indexTensor(idx, [7], 5);
    const { grads } = await gpuGrads(([t]) => ops.gatherRows(t, ix), [table], w);
    const fd = await finiteDiff(([t]) => ops.gatherRows(t, ix), [table], 0, 1e-2, w);
    ix.dispose();
    expectClose(grads[0].data, fd, FD, 'd/dtable vs finite differences');
  });

  it('errors name the op and the shapes', () => {
    ops.tidy(() => {
      const t1 = ops.zeros([6]);
      const t2 = ops.zeros([6, 3]);
      const i = ops.indexTensor([1, 2], [2], 6);
      const f = ops.zeros([2]);
      expect(() => ops.gatherRows(t1, i)).toThrow(/gatherRows: table must be \[V, D\], got \[6\] \(indices \[2\]\)/);
      expect(() => ops.gatherRows(t2, f)).toThrow(/gatherRows: expected a i32 tensor/);
      expect(() => ops.scatterAddRows(t2, i, 6)).toThrow(/scatterAddRows: values \[6, 3\] must be \[\.\.\.indices\.shape, D\] for indices \[2\]/);
    });
  });
});

describe('scatterAddRows', () => {
  it('forward vs reference, backward is the gather', async () => {
    const [V, S, D] = [17, [9, 13], 5];
    const idx = randomIndices(size(S), -2, V + 2, 12); // a few out-of-range ones: skipped
    const vals = randn([...S, D], 13);
    const w = randn([V, D], 14);
    const ix = ops.tensor(idx, S, { dtype: 'i32' });
    const { out, grads } = await gpuGrads(([x]) => ops.scatterAddRows(x, ix, V), [vals], w);
    ix.dispose();
    expectClose(out.data, scatterRowsF32InOrder(vals, idx, V), EXACT, 'forward vs f32 sums in position order');
    expectClose(grads[0].data, gatherRowsRef(w, idx, S).data, EXACT, 'backward');
  });
});

/**
 * Dispatches of bitonicSortPairs for P pairs: blocks of 2·WG pairs are sorted in one pass, then each
 * merge k = 2·block … P is its stages j = k/2 … block (one each) and one local pass.
 */
function sortDispatches(p: number, wg1d: number): number {
  const block = 2 * 2 ** Math.floor(Math.log2(Math.min(wg1d, p / 2)));
  let n = 1;
  for (let k = 2 * block; k <= p; k *= 2) n += Math.log2(k / block) + 1;
  return n;
}

describe('bitonicSortPairs', () => {
  for (const [n, keyRange] of [
    [1, 5],
    [2, 5],
    [8, 3],
    [1024, 7],
    [4096, 100000],
    [65536, 300],
  ] as [number, number][]) {
    it(`${n} pairs, keys in [0, ${keyRange})`, async () => {
      const r = rng(n);
      const pairs: [number, number][] = Array.from({ length: n }, (_, i) => [Math.floor(r() * keyRange), i]);
      // shuffle so positions arrive out of order too
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
      }
      const t = ops.tensor(Int32Array.from(pairs.flat()), [n, 2], { dtype: 'i32' });
      ops.bitonicSortPairs(t);
      const got = Array.from(await t.data());
      t.dispose();
      const want = [...pairs].sort((a, b) => a[0] - b[0] || a[1] - b[1]).flat();
      expect(got).toEqual(want);
    });
  }

  it('dispatches one bitonic_local per merge, plus bitonic_step only for distances ≥ 2·WG', async () => {
    const e = engine();
    const n = 1 << 14;
    const t = ops.tensor(Int32Array.from({ length: 2 * n }, (_, i) => (i % 2 ? i >> 1 : (i * 7919) % 1000)), [n, 2], { dtype: 'i32' });
    const before = e.stream.dispatchCount;
    ops.bitonicSortPairs(t);
    const dispatches = e.stream.dispatchCount - before;
    const got = await t.data();
    t.dispose();
    for (let i = 1; i < n; i++) expect(got[2 * i - 2] < got[2 * i] || (got[2 * i - 2] === got[2 * i] && got[2 * i - 1] < got[2 * i + 1])).toBe(true);
    expect(dispatches).toBe(sortDispatches(n, e.wg1d));
    expect(dispatches).toBeLessThan((14 * 15) / 2); // the one-dispatch-per-stage network's count
  });

  it('keys compare as unsigned (sentinel 0xFFFFFFFF sorts last)', async () => {
    const t = ops.tensor(Int32Array.from([-1, 0, 3, 1, -1, 2, 3, 3]), [4, 2], { dtype: 'i32' });
    ops.bitonicSortPairs(t);
    expect(Array.from(await t.data())).toEqual([3, 1, 3, 3, -1, 0, -1, 2]);
    t.dispose();
  });

  it('rejects a size that is not a power of two', () => {
    const t = ops.tensor(new Int32Array(6), [3, 2], { dtype: 'i32' });
    expect(() => ops.bitonicSortPairs(t)).toThrow(/bitonicSortPairs: expects an i32 \[P, 2\] tensor with P a power of two, got Tensor#\d+\[3, 2\]/);
    t.dispose();
  });
});

describe('indexTensor', () => {
  it('uploads valid indices as i32', async () => {
    const t: Tensor = ops.indexTensor([0, 4, 2, 3, 1, 4], [2, 3], 5);
    expect(t.dtype).toBe('i32');
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(await t.data())).toEqual([0, 4, 2, 3, 1, 4]);
    t.dispose();
  });

  it('names the first bad position and value', () => {
    expect(() => ops.indexTensor([0, 1, 5, 7], [4], 5)).toThrow('indexTensor: index 5 at position 2 is out of range [0, 5)');
    expect(() => ops.indexTensor([0, 1, 2, 3, -1, 9], [2, 3], 5)).toThrow('indexTensor: index -1 at position 4 ([1, 1] of shape [2, 3]) is out of range [0, 5)');
    expect(() => ops.indexTensor([0, 1.5], [2], 5)).toThrow('indexTensor: index 1.5 at position 1 is out of range [0, 5)');
    expect(() => ops.indexTensor([0, 1], [3], 5)).toThrow(/indexTensor: 2 values do not fill shape \[3\]/);
  });
});

