// matmul and linear: forward and backward vs the float64 reference on odd shapes, every transpose
// combination read in place (no copies), batched and broadcast-weight products, the fused bias +
// activation epilogue, finite differences of the GPU forward, and the shared-memory variant forced on
// the CPU adapters so both kernels stay correct.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { engine } from '../../src/gpu/engine.ts';
import { setMatmulConfig } from '../../src/tensor/ops/matmul.ts';
import type { Activation, MatmulConfig } from '../../src/tensor/ops/matmul.ts';
import { Nd, randn } from '../reference/nd.ts';
import { matmulRef, matmulGradRef, linearRef, transposeNd, maxAbs } from '../reference/matmul.ts';
import { expectClose, gpuGrads, finiteDiff, toGpu } from '../helpers.ts';
import type { Tol } from '../helpers.ts';

/**
 * Tolerance for f32 dot products of L terms. Rounding error grows like √L·u·Σ|a_k·b_k| for data of
 * random sign (u ≈ 6e-8; worst case L·u): 1e-5·√L·max|a|·max|b| is > 10× the error seen here yet
 * ≥ 100× below the error of a dropped, doubled or misplaced term (~|a_k·b_k| ≈ 1 for randn data).
 */
function dotTol(L: number, ma: number, mb: number, factor = 1): Tol {
  return { rtol: 0, atol: factor * 1e-5 * Math.sqrt(Math.max(L, 1)) * ma * mb };
}
// Central differences in f32 with eps = 1e-2 (as in elementwise.test.ts): exact for the bilinear
// matmul up to rounding O(ulp·|L|/eps); truncation O(eps²·f''') for the activations.
const FD = { rtol: 2e-2, atol: 2e-3 };

const mm = ([x, y]: Tensor[]) => ops.matmul(x, y);
// Views made inside f (T, slice) are disposed when f returns (the graph keeps what backward needs).
const tidied = (f: (xs: Tensor[]) => Tensor) => (xs: Tensor[]) => ops.tidy(() => f(xs));

async function checkMatmul(a: Nd, b: Nd, f: (xs: Tensor[]) => Tensor, stored: [(x: Nd) => Nd, (x: Nd) => Nd], label: string, seed = 3) {
  const ref = matmulRef(a, b);
  const g = randn(ref.shape, seed);
  const { ga, gb } = matmulGradRef(a, b, g);
  const { out, grads } = await gpuGrads(tidied(f), [stored[0](a), stored[1](b)], g);
  const K = a.shape[a.shape.length - 1];
  const [M, N] = ref.shape.slice(-2);
  const batch = ref.shape.length === 3 ? ref.shape[0] : 1;
  // A shared operand's gradient sums over the batch too.
  const La = (a.shape.length === 3 && a.shape[0] === batch ? 1 : batch) * N;
  const Lb = (b.shape.length === 3 && b.shape[0] === batch ? 1 : batch) * M;
  expect(out.shape).toEqual(ref.shape);
  expectClose(out.data, ref.data, dotTol(K, maxAbs(a), maxAbs(b)), `${label} forward`);
  expectClose(grads[0].data, stored[0](ga).data, dotTol(La, maxAbs(g), maxAbs(b)), `${label} dA`);
  expectClose(grads[1].data, stored[1](gb).data, dotTol(Lb, maxAbs(a), maxAbs(g)), `${label} dB`);
}

const id = (x: Nd) => x;

// M×K×N
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 33, 5],
  [33, 1, 257],
  [257, 7, 33],
  [1000, 33, 64],
  [36, 20, 44], // multiples of 4 but not of the tile: the vec4 load paths with edge clamping
];

describe('matmul 2-D', () => {
  for (const [M, K, N] of SHAPES) {
    it(`${M}×${K}×${N}`, async () => {
      await checkMatmul(randn([M, K], M + 1), randn([K, N], N + 2), mm, [id, id], `${M}×${K}×${N}`);
    });
  }
});

describe('transposed operands are read in place', () => {
  for (const [M, K, N] of [[7, 33, 5], [36, 20, 44], [257, 7, 33]] as const) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      const label = `${ta ? 'Aᵀ' : 'A'}·${tb ? 'Bᵀ' : 'B'} ${M}×${K}×${N}`;
      it(label, async () => {
        // The GPU holds the transposed data and multiplies the T() view: the logical operands are a, b.
        const f = ([x, y]: Tensor[]) => ops.matmul(ta ? ops.T(x) : x, tb ? ops.T(y) : y);
        await checkMatmul(randn([M, K], 5), randn([K, N], 6), f, [ta ? transposeNd : id, tb ? transposeNd : id], label);
      });
    }
  }

  it('forward and backward launch one kernel per product, no copies', async () => {
    const e = engine();
    const x = toGpu(randn([20, 36], 1), true); // stored Aᵀ
    const y = toGpu(randn([44, 20], 2), true); // stored Bᵀ
    const g = toGpu(randn([36, 44], 3));
    const [xt, yt] = [ops.T(x), ops.T(y)];
    const before = e.stream.dispatchCount;
    const c = ops.matmul(xt, yt);
    expect(e.stream.dispatchCount - before).toBe(1);
    const mid = e.stream.dispatchCount;
    c.backward(g);
    expect(e.stream.dispatchCount - mid).toBe(2); // dA and dB, nothing else
    await x.grad!.data();
    for (const t of [x, y, xt, yt, g, c]) t.dispose();
  });

  it('strided views: a column slice (ld > K, vec4 path with a K tail) and an unaligned offset', async () => {
    const xs = randn([37, 24], 7);
    const ys = randn([23, 9], 8);
    // A = xs[:, 0:22] (ld 24, K = 22), B = ys[1:23, 1:9] (offset 10: not 4-aligned)
    const f = ([x, y]: Tensor[]) => ops.matmul(ops.slice(x, 1, 0, 22), ops.slice(ops.slice(y, 0, 1, 23), 1, 1, 9));
    const a = new Nd(new Float64Array(37 * 22), [37, 22]);
    for (let i = 0; i < 37; i++) for (let k = 0; k < 22; k++) a.data[i * 22 + k] = xs.data[i * 24 + k];
    const b = new Nd(new Float64Array(22 * 8), [22, 8]);
    for (let k = 0; k < 22; k++) for (let j = 0; j < 8; j++) b.data[k * 8 + j] = ys.data[(k + 1) * 9 + j + 1];
    const ref = matmulRef(a, b);
    const g = randn(ref.shape, 9);
    const { ga, gb } = matmulGradRef(a, b, g);
    const { out, grads } = await gpuGrads(tidied(f), [xs, ys], g);
    expectClose(out.data, ref.data, dotTol(22, maxAbs(a), maxAbs(b)), 'forward');
    const gaFull = xs.map((_, i) => (i % 24 < 22 ? ga.data[Math.floor(i / 24) * 22 + (i % 24)] : 0));
    const gbFull = ys.map((_, i) => {
      const k = Math.floor(i / 9) - 1;
      const j = (i % 9) - 1;
      return k >= 0 && k < 22 && j >= 0 ? gb.data[k * 8 + j] : 0;
    });
    expectClose(grads[0].data, gaFull.data, dotTol(8, maxAbs(g), maxAbs(b)), 'dA');
    expectClose(grads[1].data, gbFull.data, dotTol(37, maxAbs(a), maxAbs(g)), 'dB');
  });
});

// Few output tiles and a long K (a weight gradient over every row of a batch): gemm cuts K into slices
// (one batched dispatch, one for a shorter last slice) and column_sum adds them in order.
describe('split-K products', () => {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    const [M, K, N] = [5, 1301, 7];
    const label = `${ta ? 'Aᵀ' : 'A'}·${tb ? 'Bᵀ' : 'B'} ${M}×${K}×${N}`;
    it(label, async () => {
      const f = ([x, y]: Tensor[]) => ops.matmul(ta ? ops.T(x) : x, tb ? ops.T(y) : y);
      await checkMatmul(randn([M, K], 15), randn([K, N], 16), f, [ta ? transposeNd : id, tb ? transposeNd : id], label);
    });
  }

  it('is split: slices, a shorter last slice and the sum are three dispatches, and repeat bit for bit', async () => {
    const e = engine();
    const a = toGpu(randn([6, 1301], 17));
    const b = toGpu(randn([1301, 3], 18));
    const before = e.stream.dispatchCount;
    const c1 = ops.matmul(a, b);
    expect(e.stream.dispatchCount - before).toBe(3);
    const c2 = ops.matmul(a, b);
    expect(Array.from(await c1.data())).toEqual(Array.from(await c2.data()));
    for (const t of [a, b, c1, c2]) t.dispose();
  });
});

describe('batched matmul (B = 3)', () => {
  for (const [M, K, N] of [[7, 33, 5], [36, 20, 44], [257, 7, 33]] as const) {
    it(`[3,${M},${K}]·[3,${K},${N}]`, async () => {
      await checkMatmul(randn([3, M, K], 11), randn([3, K, N], 12), mm, [id, id], 'batched');
    });
    it(`[3,${M},${K}]·[${K},${N}] (shared weight)`, async () => {
      await checkMatmul(randn([3, M, K], 13), randn([K, N], 14), mm, [id, id], 'shared weight');
    });
  }
  it('[7,33]·[3,33,5] (shared left operand)', async () => {
    await checkMatmul(randn([7, 33], 15), randn([3, 33, 5], 16), mm, [id, id], 'shared A');
  });
  it('[1,7,33]·[3,33,5] (batch of 1 broadcast)', async () => {
    await checkMatmul(randn([1, 7, 33], 17), randn([3, 33, 5], 18), mm, [id, id], 'batch 1');
  });
  it('transposed batched A with a shared weight (gradient summed over the batch by column_sum)', async () => {
    const f = ([x, y]: Tensor[]) => ops.matmul(ops.T(x), y);
    await checkMatmul(randn([3, 36, 20], 19), randn([20, 44], 20), f, [transposeNd, id], 'Aᵀ batched, shared B');
  });
  it('batched with transposed weights [3,K,N] stored as [3,N,K]', async () => {
    const f = ([x, y]: Tensor[]) => ops.matmul(x, ops.T(y));
    await checkMatmul(randn([3, 7, 33], 21), randn([3, 33, 5], 22), f, [id, transposeNd], 'A·Bᵀ batched');
  });
});

describe('linear (fused bias + activation)', () => {
  const cases: [number[], number, Activation, boolean][] = [
    [[3, 7, 33], 5, 'none', true],
    [[3, 7, 33], 5, 'relu', true],
    [[3, 7, 33], 5, 'sigmoid', true],
    [[3, 7, 33], 5, 'tanh', true],
    [[257, 33], 64, 'relu', true],
    [[1000, 20], 44, 'tanh', false],
    [[33], 7, 'sigmoid', true],
  ];
  for (const [xShape, N, act, withBias] of cases) {
    it(`x ${JSON.stringify(xShape)} · w [${xShape[xShape.length - 1]},${N}] ${withBias ? '+ bias ' : ''}${act}`, async () => {
      const K = xShape[xShape.length - 1];
      const x = randn(xShape, 31);
      const w = randn([K, N], 32);
      const bias = withBias ? randn([N], 33) : null;
      const ref0 = linearRef(x, w, bias, act);
      const g = randn(ref0.out.shape, 34);
      const ref = linearRef(x, w, bias, act, g);
      const inputs = bias ? [x, w, bias] : [x, w];
      const { out, grads } = await gpuGrads(([xt, wt, bt]) => ops.linear(xt, wt, bt, act), inputs, g);
      const rows = x.size / K;
      // the bias adds one more rounding, |bias| ≤ max|x|·max|w| for randn data
      expectClose(out.data, ref.out.data, dotTol(K + 1, maxAbs(x), maxAbs(w)), `${act} forward`);
      // ×4: y's own forward rounding enters act'(y), whose slope in y is at most 2 (tanh)
      expectClose(grads[0].data, ref.gx.data, dotTol(N, maxAbs(g), maxAbs(w), 4), `${act} dx`);
      expectClose(grads[1].data, ref.gw.data, dotTol(rows, maxAbs(x), maxAbs(g), 4), `${act} dw`);
      if (bias) expectClose(grads[2].data, ref.gb.data, dotTol(rows, 1, maxAbs(g), 4), `${act} dbias`);
    });
  }

  it('tied weights: w given as T(embedding) is read in place', async () => {
    const x = randn([7, 33], 41);
    const emb = randn([5, 33], 42); // w = embᵀ: [33, 5]
    const bias = randn([5], 43);
    const w = transposeNd(emb);
    const g = randn([7, 5], 44);
    const ref = linearRef(x, w, bias, 'sigmoid', g);
    const { out, grads } = await gpuGrads(tidied(([xt, et, bt]) => ops.linear(xt, ops.T(et), bt, 'sigmoid')), [x, emb, bias], g);
    expectClose(out.data, ref.out.data, dotTol(34, maxAbs(x), maxAbs(w)), 'forward');
    expectClose(grads[0].data, ref.gx.data, dotTol(5, maxAbs(g), maxAbs(w), 4), 'dx');
    expectClose(grads[1].data, transposeNd(ref.gw).data, dotTol(7, maxAbs(x), maxAbs(g), 4), 'd emb');
    expectClose(grads[2].data, ref.gb.data, dotTol(7, 1, maxAbs(g), 4), 'dbias');
  });
});

describe('finite differences of the GPU forward', () => {
  it('matmul 2-D', async () => {
    const a = randn([3, 4], 51);
    const b = randn([4, 5], 52);
    const w = randn([3, 5], 53);
    const { grads } = await gpuGrads(mm, [a, b], w);
    for (const which of [0, 1]) expectClose(grads[which].data, await finiteDiff(mm, [a, b], which, 1e-2, w), FD, `d/d${which ? 'b' : 'a'}`);
  });
  it('matmul Aᵀ·Bᵀ, batched with a shared weight', async () => {
    const f = tidied(([x, y]: Tensor[]) => ops.matmul(ops.T(x), ops.T(y)));
    const a = randn([2, 4, 3], 54); // stored Aᵀ: A is [2, 3, 4]
    const b = randn([5, 4], 55); // stored Bᵀ: B is [4, 5]
    const w = randn([2, 3, 5], 56);
    const { grads } = await gpuGrads(f, [a, b], w);
    for (const which of [0, 1]) expectClose(grads[which].data, await finiteDiff(f, [a, b], which, 1e-2, w), FD, `d/d${which ? 'b' : 'a'}`);
  });
  for (const act of ['none', 'relu', 'sigmoid', 'tanh'] as const) {
    it(`linear ${act}`, async () => {
      const x = randn([2, 3, 4], 57);
      const wt = randn([4, 5], 58);
      const bias = randn([5], 59);
      // relu: the check is only meaningful away from the kink (|pre-activation| ≫ eps)
      if (act === 'relu') expect(Math.min(...linearRef(x, wt, bias, 'none').pre.data.map(Math.abs))).toBeGreaterThan(0.05);
      const w = randn([2, 3, 5], 60);
      const f = ([a, b, c]: Tensor[]) => ops.linear(a, b, c, act);
      const { grads } = await gpuGrads(f, [x, wt, bias], w);
      for (const which of [0, 1, 2]) expectClose(grads[which].data, await finiteDiff(f, [x, wt, bias], which, 1e-2, w), FD, `${act} input ${which}`);
    });
  }
});

describe('edges', () => {
  it('is deterministic: the same product twice gives the same bits, forward and backward', async () => {
    const runOnce = async () => {
      const { out, grads } = await gpuGrads(mm, [randn([3, 65, 9], 61), randn([9, 33], 62)], randn([3, 65, 33], 63));
      return [out.data, grads[0].data, grads[1].data];
    };
    const r1 = await runOnce();
    const r2 = await runOnce();
    for (let i = 0; i < 3; i++) expect(r2[i]).toEqual(r1[i]);
  });

  // The chunking is TypeScript, the same on every adapter; SwiftShader needs ~10 s for the 2·65538
  // workgroups, so it runs on the default adapter only.
  it.skipIf(process.env.MUFASA_ADAPTER === 'swiftshader')('grids beyond 65535 workgroups along M and along the batch', async () => {
    const e = engine();
    const lim = e.device.limits.maxComputeWorkgroupsPerDimension;
    // register tiles cover 64 rows per workgroup; shared-memory tiles 64 as well (both defaults)
    const M = lim * 64 + 5;
    const a = Nd.from(Float64Array.from({ length: M }, (_, i) => (i % 7) - 3), [M, 1]);
    const b = Nd.from([0.5, -2], [1, 2]);
    const c = ops.tidy(() => ops.matmul(toGpu(a), toGpu(b)));
    expectClose(await c.data(), matmulRef(a, b).data, dotTol(1, 3, 2), 'M beyond the grid');
    c.dispose();
    const B = lim + 3;
    const a3 = Nd.from(Float64Array.from({ length: B }, (_, i) => (i % 5) - 2), [B, 1, 1]);
    const b3 = Nd.from(Float64Array.from({ length: B }, (_, i) => (i % 3) - 1), [B, 1, 1]);
    const c3 = ops.tidy(() => ops.matmul(toGpu(a3), toGpu(b3)));
    expectClose(await c3.data(), matmulRef(a3, b3).data, dotTol(1, 2, 1), 'batch beyond the grid');
    c3.dispose();
  });

  it('single-row batches [3,1,33]·[33,5] and [3,1,33]·[3,33,5]', async () => {
    await checkMatmul(randn([3, 1, 33], 64), randn([33, 5], 65), mm, [id, id], '[3,1,33]·[33,5]');
    await checkMatmul(randn([3, 1, 33], 66), randn([3, 33, 5], 67), mm, [id, id], '[3,1,33]·[3,33,5]');
  });

  it('K = 0: the product is empty, linear gives act(bias)', async () => {
    const x = Nd.zeros([2, 3, 0]);
    const w = Nd.zeros([0, 4]);
    const bias = randn([4], 68);
    const g = randn([2, 3, 4], 69);
    const ref = linearRef(x, w, bias, 'sigmoid', g);
    const { out, grads } = await gpuGrads(([a, b, c]) => ops.linear(a, b, c, 'sigmoid'), [x, w, bias], g);
    expectClose(out.data, ref.out.data, { rtol: 1e-5, atol: 1e-6 }, 'forward'); // one sigmoid (a few ulp), no sum
    expectClose(grads[2].data, ref.gb.data, dotTol(6, 1, maxAbs(g)), 'dbias');
    const { out: c } = await gpuGrads(mm, [Nd.zeros([5, 0]), Nd.zeros([0, 3])], Nd.zeros([5, 3]));
    expect(Array.from(c.data)).toEqual(new Array(15).fill(0));
  });

  it('rejects bad shapes with the op and both shapes in the message', () => {
    ops.tidy(() => {
      const a = ops.zeros([3, 4]);
      expect(() => ops.matmul(a, ops.zeros([5, 2]))).toThrow(/matmul: inner dimensions differ: \[3, 4\] · \[5, 2\]/);
      expect(() => ops.matmul(ops.zeros([4]), a)).toThrow(/matmul: operands must be rank 2 or 3/);
      expect(() => ops.matmul(ops.zeros([2, 3, 4]), ops.zeros([3, 4, 2]))).toThrow(/matmul: batch sizes differ/);
      expect(() => ops.linear(a, ops.zeros([4, 2]), ops.zeros([3]))).toThrow(/linear: bias \[3\]/);
      expect(() => ops.linear(a, ops.zeros([5, 2]))).toThrow(/linear: x \[3, 4\] has K = 4/);
      expect(() => ops.linear(a, ops.zeros([4, 2]), null, 'gelu' as Activation)).toThrow(/gelu\(\)/);
    });
  });
});

// The variants selected for other adapters, forced here so both kernels are tested on every machine.
const otherConfigs: [string, MatmulConfig][] = [
  ['shared-memory tiles 64×64', { variant: 'tiled', wg: 16, r: 4, bk: 16 }],
  ['shared-memory tiles 16×16, bk 4', { variant: 'tiled', wg: 8, r: 2, bk: 4 }],
  ['register 4×8 per thread', { variant: 'register', wgX: 8, wgY: 8, tm: 4, tn: 8 }],
  ['register 8×4 per thread, 4×16 threads', { variant: 'register', wgX: 4, wgY: 16, tm: 8, tn: 4 }],
];
for (const [name, cfg] of otherConfigs) {
  describe(`other kernel configurations: ${name}`, () => {
    beforeAll(() => setMatmulConfig(engine(), cfg));
    afterAll(() => setMatmulConfig(engine(), null));
    it('257×7×33 and Aᵀ·Bᵀ 36×20×44', async () => {
      await checkMatmul(randn([257, 7], 71), randn([7, 33], 72), mm, [id, id], `${name} 257×7×33`);
      const f = ([x, y]: Tensor[]) => ops.matmul(ops.T(x), ops.T(y));
      await checkMatmul(randn([36, 20], 73), randn([20, 44], 74), f, [transposeNd, transposeNd], `${name} Aᵀ·Bᵀ`);
    });
    it('split-K Aᵀ·B 9×1301×6 (a weight gradient shape)', async () => {
      const f = ([x, y]: Tensor[]) => ops.matmul(ops.T(x), y);
      await checkMatmul(randn([9, 1301], 81), randn([1301, 6], 82), f, [transposeNd, id], `${name} split-K`);
    });
    it('shared weight [3,33,7]·[7,65] and linear + bias + tanh', async () => {
      await checkMatmul(randn([3, 33, 7], 75), randn([7, 65], 76), mm, [id, id], `${name} shared weight`);
      const x = randn([65, 9], 77);
      const w = randn([9, 5], 78);
      const bias = randn([5], 79);
      const g = randn([65, 5], 80);
      const ref = linearRef(x, w, bias, 'tanh', g);
      const { out, grads } = await gpuGrads(([a, b, c]) => ops.linear(a, b, c, 'tanh'), [x, w, bias], g);
      expectClose(out.data, ref.out.data, dotTol(10, maxAbs(x), maxAbs(w)), 'linear forward');
      expectClose(grads[1].data, ref.gw.data, dotTol(65, maxAbs(x), maxAbs(g), 4), 'linear dw');
      expectClose(grads[2].data, ref.gb.data, dotTol(65, 1, maxAbs(g), 4), 'linear dbias');
    });
  });
}
