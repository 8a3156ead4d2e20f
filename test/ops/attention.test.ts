// Blocked sparse attention (causal/window, block, top-k selection, selective): forward and backward
// vs the float64 reference on odd shapes with padding, short sequences, L not a multiple of bs, k
// larger than the visible blocks; the selective = dense property; tie order; finite differences.
import { describe, it, expect } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { Nd, randn } from '../reference/nd.ts';
import { attentionRef, selectBlocksRef } from '../reference/attention.ts';
import type { AttnMode } from '../reference/attention.ts';
import { expectClose, gpuGrads, finiteDiff, toGpu } from '../helpers.ts';

// f32 online softmax over ≤ 50 keys of d ≤ 33 products: each score and exp carries a few ulp, the
// output sums ≤ 50 of them; 1e-5 relative (1e-6 absolute near 0) still catches any wrong key set.
const FWD = { rtol: 1e-5, atol: 1e-6 };
// Backward sums ≤ 50 terms p·(dp − Δ) per element, each formed from f32 dot products and exp(s − lse):
// the cancellation in (dp − Δ) costs relative accuracy where gradients are small, hence atol 1e-5.
const BWD = { rtol: 1e-4, atol: 1e-5 };
// Central differences in f32 with eps = 1e-2 on O(1) inputs: truncation O(eps²) and rounding O(ulp/eps).
const FD = { rtol: 2e-2, atol: 2e-3 };

const B = 3;
/** Full, padded, and short (often shorter than one block) sequences. */
const lensFor = (L: number) => [L, Math.max(1, L - 3), Math.max(1, Math.ceil(L / 5))];
const i32 = (data: ArrayLike<number>, shape: number[]) => ops.tensor(Int32Array.from(data), shape, { dtype: 'i32' });

/** Inputs for a case: q [B, Lq, d], k/v [B, rows, d], output-gradient weights w. */
function inputs(Lq: number, rows: number, d: number, seed: number) {
  return { q: randn([B, Lq, d], seed), k: randn([B, rows, d], seed + 1), v: randn([B, rows, d], seed + 2), w: randn([B, Lq, d], seed + 3) };
}

async function checkAgainstRef(
  label: string,
  mode: AttnMode,
  f: (q: Tensor, k: Tensor, v: Tensor, lengths: Tensor) => Tensor,
  x: { q: Nd; k: Nd; v: Nd; w: Nd },
  lens: number[],
  lastOnly: boolean,
): Promise<void> {
  const lengths = i32(lens, [B]);
  try {
    const { out, grads } = await gpuGrads(([q, k, v]) => f(q, k, v, lengths), [x.q, x.k, x.v], x.w);
    const ref = attentionRef(mode, x.q, x.k, x.v, lens, lastOnly, x.w);
    for (const z of out.data) expect(Number.isFinite(z), `${label}: finite output`).toBe(true);
    expectClose(out.data, ref.out.data, FWD, `${label} forward`);
    expectClose(grads[0].data, ref.gq.data, BWD, `${label} dq`);
    expectClose(grads[1].data, ref.gk.data, BWD, `${label} dk`);
    expectClose(grads[2].data, ref.gv.data, BWD, `${label} dv`);
  } finally {
    lengths.dispose();
  }
}

describe('causalAttention', () => {
  for (const L of [1, 7, 33, 50]) {
    for (const d of [5, 33]) {
      for (const window of [0, 1, 4, 8]) {
        for (const lastOnly of [false, true]) {
          it(`L=${L} d=${d} window=${window}${lastOnly ? ' lastOnly' : ''}`, async () => {
            const x = inputs(lastOnly ? 1 : L, L, d, 10 * L + d + window);
            await checkAgainstRef('causal', { kind: 'causal', window }, (q, k, v, l) => ops.causalAttention(q, k, v, l, { window, lastOnly }), x, lensFor(L), lastOnly);
          });
        }
      }
    }
  }
});

describe('queries (keys) per thread: attn_forward_q, attn_dq_q, attn_dkv_q, attn_dkv_sel_q', () => {
  // Software adapters take QPT queries per thread, a GPU one: every setting must give the same bits as
  // one query per thread (a key outside a query's range is an exact no-op), forward and gradients —
  // including groups cut by the sequence end (L = 50 is not a multiple of 3 or 4) and padding queries.
  for (const [d, window] of [[33, 0], [64, 8], [8, 4]] as [number, number][]) {
    it(`d=${d} window=${window}: QPT 2, 3, 4 equal QPT 1 bit for bit`, async () => {
      const L = 50;
      const x = inputs(L, L, d, 500 + d + window);
      const lengths = i32(lensFor(L), [B]);
      const run = async (n: number) => {
        ops.setAttentionQueriesPerThread(n);
        try {
          return await gpuGrads(([q, k, v]) => ops.causalAttention(q, k, v, lengths, { window, longWindow: { window: 2 * window, longerThan: 45 } }), [x.q, x.k, x.v], x.w);
        } finally {
          ops.setAttentionQueriesPerThread('auto');
        }
      };
      try {
        const one = await run(1);
        const ref = attentionRef({ kind: 'causal', window: 0 }, x.q, x.k, x.v, lensFor(L), false, x.w);
        if (window === 0) expectClose(one.out.data, ref.out.data, FWD, 'QPT 1 forward');
        for (const n of [2, 3, 4]) {
          const r = await run(n);
          expect([...r.out.data], `QPT ${n} forward`).toEqual([...one.out.data]);
          r.grads.forEach((g, i) => expect([...g.data], `QPT ${n} gradient ${i}`).toEqual([...one.grads[i].data]));
        }
      } finally {
        lengths.dispose();
      }
    });
  }

  // Selective dK/dV takes up to QPT keys of one block per thread (attn_dkv_sel_q): bs = 5 leaves a
  // group of 1 or 2 keys at each block's end, L = 33 a partial last block.
  for (const bs of [5, 8]) {
    it(`selective dK/dV, bs=${bs}: QPT 2, 3, 4 equal QPT 1 bit for bit`, async () => {
      const L = 33;
      const d = 12;
      const k = 3;
      const x = inputs(L, L, d, 700 + bs);
      const lens = lensFor(L);
      const sel = selectBlocksRef(randn([B, L, d], 701), randn([B, Math.ceil(L / bs), d], 702), lens, bs, k, false);
      const selT = i32(sel, [B, L, k]);
      const lengths = i32(lens, [B]);
      const run = async (n: number) => {
        ops.setAttentionQueriesPerThread(n);
        try {
          return await gpuGrads(([q, kk, v]) => ops.selectiveAttention(q, kk, v, selT, lengths, { blockSize: bs }), [x.q, x.k, x.v], x.w);
        } finally {
          ops.setAttentionQueriesPerThread('auto');
        }
      };
      try {
        const one = await run(1);
        const ref = attentionRef({ kind: 'selective', bs, sel, ksel: k }, x.q, x.k, x.v, lens, false, x.w);
        expectClose(one.grads[1].data, ref.gk.data, BWD, 'QPT 1 dk');
        for (const n of [2, 3, 4]) {
          const r = await run(n);
          for (const i of [1, 2]) expect([...r.grads[i].data], `QPT ${n} gradient ${i}`).toEqual([...one.grads[i].data]);
        }
      } finally {
        selT.dispose();
        lengths.dispose();
      }
    });
  }

  it('rejects a setting outside 1 … ATTENTION_MAX_QPT', () => {
    expect(() => ops.setAttentionQueriesPerThread(0)).toThrow(/setAttentionQueriesPerThread: expects 'auto' or an integer 1 … 4, got 0/);
    expect(() => ops.setAttentionQueriesPerThread(5)).toThrow(/got 5/);
  });
});

describe('causalAttention with a per-sequence window (longWindow, SAL\'s paper rule)', () => {
  // Sequences are independent, so each one must equal, bit for bit, the fixed-window op with its own
  // W (window 4 and 8 are checked against the float64 reference above). Lengths 37 and 31 are longer
  // than 30 (W = 8), 30 and 20 are not (W = 4).
  for (const lastOnly of [false, true]) {
    it(`lengths 37, 30, 31, 20 → W 8, 4, 8, 4${lastOnly ? ' lastOnly' : ''}`, async () => {
      const L = 37;
      const d = 33;
      const lens = [37, 30, 31, 20];
      const nb = lens.length;
      const Lq = lastOnly ? 1 : L;
      const x = { q: randn([nb, Lq, d], 91), k: randn([nb, L, d], 92), v: randn([nb, L, d], 93), w: randn([nb, Lq, d], 94) };
      const lengths = i32(lens, [nb]);
      try {
        const run = (opts: ops.CausalAttentionOptions) => gpuGrads(([q, k, v]) => ops.causalAttention(q, k, v, lengths, { ...opts, lastOnly }), [x.q, x.k, x.v], x.w);
        const mixed = await run({ window: 4, longWindow: { window: 8, longerThan: 30 } });
        const w4 = await run({ window: 4 });
        const w8 = await run({ window: 8 });
        lens.forEach((n, b) => {
          const want = n > 30 ? w8 : w4;
          const rows = (t: Nd, r: number) => Array.from(t.data.slice(b * r * d, (b + 1) * r * d));
          expect(rows(mixed.out, Lq), `sequence ${b} forward`).toEqual(rows(want.out, Lq));
          expect(rows(mixed.grads[0], Lq), `sequence ${b} dq`).toEqual(rows(want.grads[0], Lq));
          expect(rows(mixed.grads[1], L), `sequence ${b} dk`).toEqual(rows(want.grads[1], L));
          expect(rows(mixed.grads[2], L), `sequence ${b} dv`).toEqual(rows(want.grads[2], L));
        });
        // The two fixed windows really differ on the long sequences (the test can tell them apart).
        expect(Array.from(w4.out.data.slice(0, Lq * d))).not.toEqual(Array.from(w8.out.data.slice(0, Lq * d)));
      } finally {
        lengths.dispose();
      }
    });
  }
});

describe('blockAttention', () => {
  for (const L of [1, 7, 33, 50]) {
    for (const d of [5, 33]) {
      for (const bs of [4, 8]) {
        for (const lastOnly of [false, true]) {
          it(`L=${L} d=${d} bs=${bs}${lastOnly ? ' lastOnly' : ''}`, async () => {
            const nb = Math.ceil(L / bs);
            const x = inputs(lastOnly ? 1 : L, nb, d, 20 * L + d + bs);
            await checkAgainstRef('block', { kind: 'block', bs }, (q, k, v, l) => ops.blockAttention(q, k, v, l, { blockSize: bs, lastOnly }), x, lensFor(L), lastOnly);
          });
        }
      }
    }
  }

  it('queries that see no block output exactly 0 with finite gradients', async () => {
    // L = 7 < bs = 8: no block ends before any query.
    const x = inputs(7, 1, 5, 3);
    const lengths = i32([7, 5, 1], [B]);
    const { out, grads } = await gpuGrads(([q, k, v]) => ops.blockAttention(q, k, v, lengths, { blockSize: 8 }), [x.q, x.k, x.v], x.w);
    lengths.dispose();
    expect([...out.data].every((z) => z === 0)).toBe(true);
    for (const gr of grads) expect([...gr.data].every((z) => z === 0)).toBe(true);
  });
});

describe('selectBlocks', () => {
  for (const L of [1, 7, 33, 50]) {
    for (const bs of [4, 8]) {
      for (const k of [1, 3, 10]) {
        for (const lastOnly of [false, true]) {
          const d = L === 50 ? 33 : 5;
          it(`L=${L} d=${d} bs=${bs} k=${k}${lastOnly ? ' lastOnly' : ''}`, async () => {
            const nb = Math.ceil(L / bs);
            const q = randn([B, lastOnly ? 1 : L, d], L + bs);
            const kb = randn([B, nb, d], L + bs + 1);
            const lens = lensFor(L);
            const got = ops.tidy(() => ops.selectBlocks(toGpu(q), toGpu(kb), i32(lens, [B]), { blockSize: bs, k, lastOnly }));
            expect([...got.shape]).toEqual([B, lastOnly ? 1 : L, k]);
            const data = await got.data();
            got.dispose();
            // Exact: indices; the random scores here have no near-ties at f32 precision.
            expect([...data]).toEqual([...selectBlocksRef(q, kb, lens, bs, k, lastOnly)]);
          });
        }
      }
    }
  }

  it('ties go to the earlier block, and the list is best first', async () => {
    // Blocks 0, 2, 3 share one embedding (equal scores), block 1 scores higher, block 4 lower.
    const d = 5;
    const base = randn([d], 1).data;
    const q = new Nd(Float64Array.from(base.map((z) => Math.abs(z) + 0.1)), [1, 1, d]);
    const kbData: number[] = [];
    const rowsOf = [1, 2, 1, 1, -1];
    for (const s of rowsOf) for (let c = 0; c < d; c++) kbData.push(s * Math.fround(Math.abs(base[c]) + 0.1));
    const kb = Nd.from(kbData, [1, 5, d]);
    const got = ops.tidy(() => ops.selectBlocks(toGpu(q), toGpu(kb), i32([24], [1]), { blockSize: 4, k: 3, lastOnly: true }));
    expect(await got.array()).toEqual([1, 0, 2]);
    got.dispose();
  });
});

describe('blockAttentionSelect (block attention and top-k from one score pass)', () => {
  for (const L of [1, 7, 33, 50]) {
    for (const bs of [4, 8]) {
      for (const k of [1, 3, 10]) {
        for (const lastOnly of [false, true]) {
          const d = L === 50 ? 33 : 5;
          it(`L=${L} d=${d} bs=${bs} k=${k}${lastOnly ? ' lastOnly' : ''}`, async () => {
            const nb = Math.ceil(L / bs);
            const x = inputs(lastOnly ? 1 : L, nb, d, 30 * L + d + bs + k);
            const lens = lensFor(L);
            let selected: Tensor | null = null;
            try {
              await checkAgainstRef('blockAttentionSelect', { kind: 'block', bs }, (q, kb, vb, l) => {
                const r = ops.blockAttentionSelect(q, kb, vb, l, { blockSize: bs, k, lastOnly });
                selected = r.selected;
                return r.out;
              }, x, lens, lastOnly);
              expect([...selected!.shape]).toEqual([B, lastOnly ? 1 : L, k]);
              // Exact: indices; the random scores here have no near-ties at f32 precision.
              expect([...(await selected!.data())]).toEqual([...selectBlocksRef(x.q, x.k, lens, bs, k, lastOnly)]);
            } finally {
              (selected as Tensor | null)?.dispose();
            }
          });
        }
      }
    }
  }

  it('ties go to the earlier block, best first, −1 fill; rows that see no block output 0', async () => {
    // Every query is the same vector; blocks 0, 2, 3 share one embedding (equal scores), block 1 scores
    // higher, block 4 lower. L = 24, bs = 4: query t sees blocks c with (c+1)·4 ≤ t.
    const d = 5;
    const L = 24;
    const base = randn([d], 1).data;
    const qRow = base.map((z) => Math.abs(z) + 0.1);
    const q = Nd.from(Array.from({ length: L * d }, (_, i) => qRow[i % d]), [1, L, d]);
    const kbData: number[] = [];
    for (const s of [1, 2, 1, 1, -1, 1]) for (let c = 0; c < d; c++) kbData.push(s * Math.fround(Math.abs(base[c]) + 0.1));
    const kb = Nd.from(kbData, [1, 6, d]);
    const r = ops.tidy(() => {
      const x = ops.blockAttentionSelect(toGpu(q), toGpu(kb), toGpu(kb), i32([L], [1]), { blockSize: 4, k: 3 });
      return [x.out, x.selected];
    });
    try {
      const sel = await r[1].data();
      const at = (t: number) => [...sel.subarray(3 * t, 3 * t + 3)];
      expect(at(23)).toEqual([1, 0, 2]);
      expect(at(8)).toEqual([1, 0, -1]);
      expect(at(3)).toEqual([-1, -1, -1]);
      const out = await r[0].data();
      expect([...out.subarray(0, 4 * d)].every((z) => z === 0)).toBe(true);
    } finally {
      r.forEach((t) => t.dispose());
    }
  });
});

describe('selectiveAttention', () => {
  for (const L of [7, 33, 50]) {
    for (const bs of [4, 8]) {
      for (const k of [1, 3, 10]) {
        for (const lastOnly of [false, true]) {
          const d = k === 3 ? 33 : 5;
          it(`L=${L} d=${d} bs=${bs} k=${k}${lastOnly ? ' lastOnly' : ''}`, async () => {
            const Lq = lastOnly ? 1 : L;
            const x = inputs(Lq, L, d, 30 * L + bs + k);
            const lens = lensFor(L);
            // A selection from block scores of a separate random kb (the reference's own top-k).
            const sel = selectBlocksRef(randn([B, Lq, d], 7), randn([B, Math.ceil(L / bs), d], 8), lens, bs, k, lastOnly);
            const selT = i32(sel, [B, Lq, k]);
            try {
              await checkAgainstRef('selective', { kind: 'selective', bs, sel, ksel: k }, (q, kk, v, l) => ops.selectiveAttention(q, kk, v, selT, l, { blockSize: bs, lastOnly }), x, lens, lastOnly);
            } finally {
              selT.dispose();
            }
          });
        }
      }
    }
  }

  it('skips −1 entries and blocks not visible to the query; a repeated block counts twice', async () => {
    const L = 13;
    const bs = 4;
    const d = 5;
    const x = inputs(L, L, d, 77);
    const lens = [13, 10, 6];
    // Per query: [2, −1, 0, 0] — block 2 (items 8…11) is visible only from t = 12; block 0 from t = 4,
    // listed twice (selectBlocks never repeats a block; the kernels then weigh its items twice).
    const sel = new Int32Array(B * L * 4);
    for (let r = 0; r < B * L; r++) sel.set([2, -1, 0, 0], r * 4);
    const selT = i32(sel, [B, L, 4]);
    try {
      await checkAgainstRef('selective (−1, invisible)', { kind: 'selective', bs, sel, ksel: 4 }, (q, k, v, l) => ops.selectiveAttention(q, k, v, selT, l, { blockSize: bs }), x, lens, false);
    } finally {
      selT.dispose();
    }
  });

  it('long sequences (L=257, inverse selection index over many blocks), bit-identical on repeat', async () => {
    // dK/dV walks the inverse selection index (block → selecting queries, built by attn_inv_count and
    // attn_inv_fill) here: many queries per block, padding, 33 blocks per sequence with the last one
    // partial; two runs must give the same bits (fixed order).
    const L = 257;
    const bs = 8;
    const k = 4;
    const d = 5;
    const x = inputs(L, L, d, 91);
    const lens = [257, 200, 9];
    const sel = selectBlocksRef(randn([B, L, d], 92), randn([B, Math.ceil(L / bs), d], 93), lens, bs, k, false);
    const selT = i32(sel, [B, L, k]);
    const lengths = i32(lens, [B]);
    try {
      const f = ([q, kk, v]: Tensor[]) => ops.selectiveAttention(q, kk, v, selT, lengths, { blockSize: bs });
      const a = await gpuGrads(f, [x.q, x.k, x.v], x.w);
      const ref = attentionRef({ kind: 'selective', bs, sel, ksel: k }, x.q, x.k, x.v, lens, false, x.w);
      // ≤ 32 keys per query, but a key's dK/dV sums over up to ~250 selecting queries (vs ≤ 50 above);
      // per-term f32 error as above, and the existing BWD atol covers the longer sums at these sizes.
      expectClose(a.out.data, ref.out.data, FWD, 'L=257 forward');
      expectClose(a.grads[0].data, ref.gq.data, BWD, 'L=257 dq');
      expectClose(a.grads[1].data, ref.gk.data, BWD, 'L=257 dk');
      expectClose(a.grads[2].data, ref.gv.data, BWD, 'L=257 dv');
      const b2 = await gpuGrads(f, [x.q, x.k, x.v], x.w);
      for (const i of [1, 2]) expect([...b2.grads[i].data]).toEqual([...a.grads[i].data]);
      // The index is two dispatches whatever L (the bitonic sort of 4096 pairs it replaced took 11–22
      // here, by the adapter's workgroup size): a recorded call launches exactly two more than an
      // unrecorded one.
      const xs = [x.q, x.k, x.v].map((n) => toGpu(n, true));
      const e = xs[0].engine;
      try {
        const launched = (g: boolean) => {
          const d0 = e.stream.dispatchCount;
          (g ? f(xs) : ops.noGrad(() => f(xs))).dispose();
          return e.stream.dispatchCount - d0;
        };
        expect(launched(true) - launched(false)).toBe(2);
      } finally {
        xs.forEach((t) => t.dispose());
      }
    } finally {
      selT.dispose();
      lengths.dispose();
    }
  });

  for (const lastOnly of [false, true]) {
    it(`with every visible block selected it equals dense causal attention over keys j < ⌊t/bs⌋·bs${lastOnly ? ' (lastOnly)' : ''}`, async () => {
      const L = 50;
      const bs = 8;
      const d = 33;
      const Lq = lastOnly ? 1 : L;
      const x = inputs(Lq, L, d, 5);
      const lens = lensFor(L);
      const nb = Math.ceil(L / bs);
      const kb = randn([B, nb, d], 6);
      const lengths = i32(lens, [B]);
      const want = attentionRef({ kind: 'prefix', bs }, x.q, x.k, x.v, lens, lastOnly, x.w);
      // k = nb ≥ the number of visible blocks, selection by the GPU's own selectBlocks.
      const sel = ops.tidy(() => ops.selectBlocks(toGpu(x.q), toGpu(kb), lengths, { blockSize: bs, k: nb, lastOnly }));
      const { out, grads } = await gpuGrads(([q, k, v]) => ops.selectiveAttention(q, k, v, sel, lengths, { blockSize: bs, lastOnly }), [x.q, x.k, x.v], x.w);
      expectClose(out.data, want.out.data, FWD, 'selective = dense prefix, forward');
      expectClose(grads[0].data, want.gq.data, BWD, 'selective = dense prefix, dq');
      expectClose(grads[1].data, want.gk.data, BWD, 'selective = dense prefix, dk');
      expectClose(grads[2].data, want.gv.data, BWD, 'selective = dense prefix, dv');
      if (lastOnly) {
        // The same with the engine's own causalAttention on sequences truncated to ⌊(len−1)/bs⌋·bs.
        const trunc = i32(lens.map((n) => Math.floor((n - 1) / bs) * bs), [B]);
        const dense = ops.tidy(() => ops.causalAttention(toGpu(x.q), toGpu(x.k), toGpu(x.v), trunc, { lastOnly: true }));
        // Same f32 kernels over the same keys, different order of summation: a few ulp.
        expectClose(await dense.data(), out.data, FWD, 'selective = causalAttention on truncated sequences');
        dense.dispose();
        trunc.dispose();
      }
      sel.dispose();
      lengths.dispose();
    });
  }
});

describe('d > 64 (rows accumulated in global memory instead of registers)', () => {
  const L = 33;
  const d = 70;
  const bs = 4;
  for (const lastOnly of [false, true]) {
    const Lq = lastOnly ? 1 : L;
    const tag = lastOnly ? ' lastOnly' : '';
    it(`causal window 8${tag}`, async () => {
      await checkAgainstRef('causal d=70', { kind: 'causal', window: 8 }, (q, k, v, l) => ops.causalAttention(q, k, v, l, { window: 8, lastOnly }), inputs(Lq, L, d, 41), lensFor(L), lastOnly);
    });
    it(`block${tag}`, async () => {
      await checkAgainstRef('block d=70', { kind: 'block', bs }, (q, k, v, l) => ops.blockAttention(q, k, v, l, { blockSize: bs, lastOnly }), inputs(Lq, Math.ceil(L / bs), d, 42), lensFor(L), lastOnly);
    });
    it(`selective k=3${tag}`, async () => {
      const lens = lensFor(L);
      const sel = selectBlocksRef(randn([B, Lq, d], 9), randn([B, Math.ceil(L / bs), d], 10), lens, bs, 3, lastOnly);
      const selT = i32(sel, [B, Lq, 3]);
      try {
        await checkAgainstRef('selective d=70', { kind: 'selective', bs, sel, ksel: 3 }, (q, k, v, l) => ops.selectiveAttention(q, k, v, selT, l, { blockSize: bs, lastOnly }), inputs(Lq, L, d, 43), lens, lastOnly);
      } finally {
        selT.dispose();
      }
    });
  }
});

// d a multiple of 4 takes the ALIGNED kernels (whole vec4 chunks, no tail tests); d = 64 fills all
// RCAP register chunks. The other blocks here use d = 5, 33, 70 (tail chunks or no registers).
describe('d % 4 == 0 (aligned register chunks)', () => {
  const L = 29;
  const bs = 4;
  for (const d of [8, 64]) {
    for (const lastOnly of [false, true]) {
      const Lq = lastOnly ? 1 : L;
      const tag = ` d=${d}${lastOnly ? ' lastOnly' : ''}`;
      it(`causal full and window 4${tag}`, async () => {
        for (const window of [0, 4]) {
          await checkAgainstRef(`causal w=${window}${tag}`, { kind: 'causal', window }, (q, k, v, l) => ops.causalAttention(q, k, v, l, { window, lastOnly }), inputs(Lq, L, d, 61 + window), lensFor(L), lastOnly);
        }
      });
      it(`block${tag}`, async () => {
        await checkAgainstRef(`block${tag}`, { kind: 'block', bs }, (q, k, v, l) => ops.blockAttention(q, k, v, l, { blockSize: bs, lastOnly }), inputs(Lq, Math.ceil(L / bs), d, 62), lensFor(L), lastOnly);
      });
      it(`selective k=3${tag}`, async () => {
        const lens = lensFor(L);
        const sel = selectBlocksRef(randn([B, Lq, d], 19), randn([B, Math.ceil(L / bs), d], 20), lens, bs, 3, lastOnly);
        const selT = i32(sel, [B, Lq, 3]);
        try {
          await checkAgainstRef(`selective${tag}`, { kind: 'selective', bs, sel, ksel: 3 }, (q, k, v, l) => ops.selectiveAttention(q, k, v, selT, l, { blockSize: bs, lastOnly }), inputs(Lq, L, d, 63), lens, lastOnly);
        } finally {
          selT.dispose();
        }
      });
    }
  }
});

describe('finite differences', () => {
  // Small shapes: 2 forward passes per input element.
  const Bf = 2;
  const L = 6;
  const d = 3;
  const bs = 2;
  const lens = [6, 4];
  const mk = (shape: number[], seed: number) => randn(shape, seed);
  const cases: [string, number, (xs: Tensor[], l: Tensor, s: Tensor) => Tensor][] = [
    ['causal', L, ([q, k, v], l) => ops.causalAttention(q, k, v, l)],
    ['window 3', L, ([q, k, v], l) => ops.causalAttention(q, k, v, l, { window: 3 })],
    ['block', L / bs, ([q, k, v], l) => ops.blockAttention(q, k, v, l, { blockSize: bs })],
    ['selective', L, ([q, k, v], l, s) => ops.selectiveAttention(q, k, v, s, l, { blockSize: bs })],
  ];
  for (const [name, rows, f] of cases) {
    it(name, async () => {
      const xs = [mk([Bf, L, d], 1), mk([Bf, rows, d], 2), mk([Bf, rows, d], 3)];
      const w = mk([Bf, L, d], 4);
      const lengths = i32(lens, [Bf]);
      // Two selected blocks per query: the first and the latest visible one (−1 where none).
      const sel: number[] = [];
      for (let b = 0; b < Bf; b++) for (let t = 0; t < L; t++) sel.push(t >= bs ? 0 : -1, t >= 2 * bs ? Math.floor(t / bs) - 1 : -1);
      const selT = i32(sel, [Bf, L, 2]);
      try {
        const g = (ts: Tensor[]) => f(ts, lengths, selT);
        const { grads } = await gpuGrads(g, xs, w);
        for (const which of [0, 1, 2]) {
          const fd = await finiteDiff(g, xs, which, 1e-2, w);
          expectClose(grads[which].data, fd, FD, `${name} d/d${'qkv'[which]} vs finite differences`);
        }
      } finally {
        selT.dispose();
        lengths.dispose();
      }
    });
  }
});

describe('argument checks', () => {
  it('names the op and the shapes', () => {
    ops.tidy(() => {
      const q = ops.zeros([2, 5, 4]);
      const k = ops.zeros([2, 6, 4]);
      const l = i32([5, 5], [2]);
      expect(() => ops.causalAttention(q, k, k, l)).toThrow(/causalAttention: k must be \[2, 5, 4\].*\[2, 6, 4\]/);
      expect(() => ops.blockAttention(q, k, k, l, { blockSize: 2 })).toThrow(/blockAttention: .*nb = ⌈L\/bs⌉/);
      expect(() => ops.selectBlocks(q, ops.zeros([2, 3, 4]), l, { blockSize: 2, k: 33 })).toThrow(/selectBlocks: k = 33/);
      expect(() => ops.causalAttention(q, q, q, l, { lastOnly: true })).toThrow(/lastOnly needs q \[B, 1, d\]/);
      expect(() => ops.causalAttention(q, q, q, l, { window: 4, longWindow: { window: -1, longerThan: 30 } })).toThrow(/causalAttention: longWindow.window must be an integer ≥ 0, got -1/);
      expect(() => ops.causalAttention(q, q, q, l, { window: 4, longWindow: { window: 8, longerThan: 2.5 } })).toThrow(/causalAttention: longWindow.longerThan must be an integer ≥ 0, got 2.5/);
    });
  });
});
