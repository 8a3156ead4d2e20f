// The SAL layer end to end (projections, φ, three branches, gate) against a float64 composition of the
// attention references, for every position and for the last item only; its gradient to the input
// sequence against finite differences of the GPU forward.
import { describe, it, expect } from 'vitest';
import { SAL } from '../../src/model/sal.ts';
import type { SalConfig } from '../../src/model/sal.ts';
import { seededRandom } from '../../src/nn/init.ts';
import { tensor, tidy, mul, sum } from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { Nd, randn } from '../reference/nd.ts';
import { attentionRef, selectBlocksRef } from '../reference/attention.ts';
import { expectClose, toGpu } from '../helpers.ts';

/** x [R, K] · w [K, N] (+ b) in float64. */
function lin(x: Float64Array, R: number, K: number, w: Float64Array, N: number, b?: Float64Array): Float64Array {
  const y = new Float64Array(R * N);
  for (let r = 0; r < R; r++)
    for (let n = 0; n < N; n++) {
      let s = b ? b[n] : 0;
      for (let k = 0; k < K; k++) s += x[r * K + k] * w[k * N + n];
      y[r * N + n] = s;
    }
  return y;
}

async function f64(t: Tensor): Promise<Float64Array> {
  return Float64Array.from(await t.data());
}

/** Float64 SAL forward for one sequence (B = 1 slices keep the per-sequence window rule simple). */
async function salRef(sal: SAL, h: Nd, lengths: number[], lastOnly: boolean): Promise<Nd> {
  const [B, L, d] = h.shape;
  const { blockSize: bs, topK } = sal.cfg;
  const P = {
    wq: await f64(sal.window.q), wk: await f64(sal.window.k), wv: await f64(sal.window.v),
    bq: await f64(sal.blk.q), bk: await f64(sal.blk.k), bv: await f64(sal.blk.v),
    cq: await f64(sal.core.q), ck: await f64(sal.core.k), cv: await f64(sal.core.v),
    phi: await f64(sal.phi), phiB: await f64(sal.phiBias), gate: await f64(sal.gate), gateB: await f64(sal.gateBias),
  };
  const Lq = lastOnly ? 1 : L;
  const out = Nd.zeros([B, Lq, d]);
  const nb = Math.ceil(L / bs);
  for (let b = 0; b < B; b++) {
    const hb = h.data.slice(b * L * d, (b + 1) * L * d);
    const len = [lengths[b]];
    const hq = lastOnly ? hb.slice((len[0] - 1) * d, len[0] * d) : hb;
    const nd = (x: Float64Array, rows: number) => new Nd(x, [1, rows, d]);
    const W = sal.cfg.window === 'paper' ? (len[0] > 30 ? 8 : 4) : sal.cfg.window;
    const zs = attentionRef({ kind: 'causal', window: W }, nd(lin(hq, Lq, d, P.wq, d), Lq), nd(lin(hb, L, d, P.wk, d), L), nd(lin(hb, L, d, P.wv, d), L), len, lastOnly).out;
    const padded = new Float64Array(nb * bs * d);
    padded.set(hb);
    const blocks = lin(padded, nb, bs * d, P.phi, d, P.phiB);
    const qb = nd(lin(hq, Lq, d, P.bq, d), Lq);
    const kb = nd(lin(blocks, nb, d, P.bk, d), nb);
    const zl = attentionRef({ kind: 'block', bs }, qb, kb, nd(lin(blocks, nb, d, P.bv, d), nb), len, lastOnly).out;
    const sel = selectBlocksRef(qb, kb, len, bs, topK, lastOnly);
    const zc = attentionRef({ kind: 'selective', bs, sel, ksel: topK }, nd(lin(hq, Lq, d, P.cq, d), Lq), nd(lin(hb, L, d, P.ck, d), L), nd(lin(hb, L, d, P.cv, d), L), len, lastOnly).out;
    for (let t = 0; t < Lq; t++) {
      const cat = new Float64Array(3 * d);
      [zs, zl, zc].forEach((z, i) => cat.set(z.data.slice(t * d, (t + 1) * d), i * d));
      const logits = lin(cat, 1, 3 * d, P.gate, 3, P.gateB);
      const m = Math.max(...logits);
      const e = Array.from(logits, (x) => Math.exp(x - m));
      const s = e.reduce((a, c) => a + c, 0);
      for (let c = 0; c < d; c++) {
        out.data[(b * Lq + t) * d + c] = [0, 1, 2].reduce((acc, i) => acc + (e[i] / s) * cat[i * d + c], 0);
      }
    }
  }
  return out;
}

// Several f32 layers (projections, attention, gate): 2e-5 relative to the output's scale.
const TOL = { rtol: 1e-4, atol: 2e-5 };

describe('SAL layer', () => {
  const cases: { name: string; cfg: SalConfig; L: number; lengths: number[] }[] = [
    { name: "paper window rule (one sequence > 30 items, one ≤ 30), L not a multiple of bs", cfg: { dim: 5, blockSize: 4, topK: 2, window: 'paper' }, L: 37, lengths: [37, 20] },
    { name: 'short sequences, k above the visible blocks, fixed window', cfg: { dim: 33, blockSize: 8, topK: 10, window: 3 }, L: 19, lengths: [19, 5, 1] },
  ];
  for (const c of cases) {
    for (const lastOnly of [false, true]) {
      it(`${c.name}${lastOnly ? ', last item only' : ''}`, async () => {
        const sal = new SAL(c.cfg, seededRandom(7));
        const h = randn([c.lengths.length, c.L, c.cfg.dim], 3);
        const ref = await salRef(sal, h, c.lengths, lastOnly);
        const ht = toGpu(h);
        const out = sal.forward(ht, Int32Array.from(c.lengths), { lastOnly });
        expect([...out.shape]).toEqual(ref.shape);
        expectClose(await out.data(), ref.data, TOL, 'SAL forward');
        out.dispose();
        ht.dispose();
        sal.dispose();
      });
    }
  }

  it('gradient to the input sequence matches finite differences', async () => {
    const cfg: SalConfig = { dim: 4, blockSize: 2, topK: 1, window: 2 };
    const sal = new SAL(cfg, seededRandom(11));
    const h = randn([1, 7, 4], 5);
    const w = randn([1, 7, 4], 6);
    const lengths = Int32Array.from([7]);
    const loss = (x: Tensor) => tidy(() => sum(mul(sal.forward(x, lengths), toGpu(w))));
    const ht = toGpu(h, true);
    const l = loss(ht);
    l.backward();
    const grad = await ht.grad!.data();
    l.dispose();
    ht.dispose();
    const eps = 1e-2;
    const fd = new Float64Array(h.size);
    for (let i = 0; i < h.size; i++) {
      const at = async (delta: number) => {
        const x = tensor(Float32Array.from(h.data.map((v, j) => (j === i ? v + delta : v))), h.shape);
        const y = loss(x);
        const v = (await y.data())[0];
        y.dispose();
        x.dispose();
        return v;
      };
      fd[i] = ((await at(eps)) - (await at(-eps))) / (2 * eps);
    }
    // Central differences in f32 through ~10 layers; top-k selection is piecewise constant, and with
    // these seeds no score tie is within eps.
    expectClose(grad, fd, { rtol: 3e-2, atol: 3e-3 }, 'SAL dL/dH vs finite differences');
    sal.dispose();
  });
});
