// sum / mean over single axes, axis sets and everything: forward and backward vs the float64
// reference on odd shapes, both kernels (rows, columns) with and without the two-stage split and under
// three row-kernel layouts, plus finite differences of the GPU forward on a small shape.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { ShapeError } from '../../src/tensor/index.ts';
import { Nd, randn } from '../reference/nd.ts';
import { reduceRef } from '../reference/reduce.ts';
import type { RefAxes } from '../reference/reduce.ts';
import { expectClose, gpuGrads, finiteDiff, toGpu } from '../helpers.ts';
import { engine } from '../../src/gpu/engine.ts';

// f32 summation error: worst case chain·2⁻²⁴·Σ|x| (chains reach 4096 + 256 with a thread per row),
// but for these zero-mean randn inputs the roundings largely cancel (a random walk); measured at most
// 1.45e-7·Σ|x| on both CPU adapters and all three row layouts. 1e-6·Σ|x| leaves 7× room and still
// fails a lost 4096-element chunk of the 1M sum (≈ ±50 against 0.84).
const SUM_REL = 1e-6;
// The backward only copies g (× 1/r for mean, one f32 rounding of 1/r and one of the product): ≤ 2 ulp.
const BWD = { rtol: 2.5e-7, atol: 0 };
// Central differences in f32 with eps = 1e-2 of a function linear in x: only rounding, O(ulp·|L|/eps).
const FD = { rtol: 1e-2, atol: 2e-3 };

/** |got − want| ≤ rel·Σ|x| per output (the summation error scale), with a floor for all-zero rows. */
function expectSumClose(got: ArrayLike<number>, want: Nd, absSum: Float64Array, rel: number, label: string): void {
  expect(got.length, `${label}: length`).toBe(want.size);
  for (let i = 0; i < want.size; i++) {
    const bound = rel * absSum[i] + 1e-30;
    const err = Math.abs(got[i] - want.data[i]);
    if (!(err <= bound)) expect.fail(`${label}: output ${i}: got ${got[i]}, want ${want.data[i]} (error ${err.toExponential(2)} > ${rel}·Σ|x| = ${bound.toExponential(2)})`);
  }
}

type Op = 'sum' | 'mean';
const fns: Record<Op, (x: Tensor, axis?: ops.Axes, keep?: boolean) => Tensor> = { sum: ops.sum, mean: ops.mean };

async function check(op: Op, shape: number[], axis: RefAxes, keepDims: boolean, seed = 1): Promise<void> {
  const x = randn(shape, seed);
  const probe = reduceRef(x, axis, keepDims, op === 'mean');
  const w = randn(probe.out.shape, seed + 100);
  const ref = reduceRef(x, axis, keepDims, op === 'mean', w);
  const { out, grads } = await gpuGrads(([t]) => fns[op](t, axis, keepDims), [x], w);
  expect(out.shape, `${op} shape`).toEqual(ref.out.shape);
  expectSumClose(out.data, ref.out, ref.absSum, SUM_REL, `${op} forward`);
  expectClose(grads[0].data, ref.grad.data, BWD, `${op} backward`);
}

// Row-kernel layouts: the adapter's own pick (a thread per row on the CPU adapters), the GPU layout
// (up to 256 threads per row at 8 elements each) and 4 threads per row with 16 rows per workgroup
// (partial last workgroups): every layout must stay correct on every adapter.
const ROW_CONFIGS: [string, ops.RowConfig | null][] = [
  ['adapter default', null],
  ['gpu layout', { maxThreadsPerRow: 256, elemsPerThread: 8, workgroup: 256 }],
  ['4 threads per row', { maxThreadsPerRow: 4, elemsPerThread: 1, workgroup: 64 }],
];

for (const [cfgName, cfg] of ROW_CONFIGS) {
  describe(`row kernels: ${cfgName}`, () => {
    beforeAll(() => ops.setRowConfig(engine(), cfg));
    afterAll(() => ops.setRowConfig(engine(), null));

    describe('sum / mean over axes of [7, 33, 5]', () => {
      const axesList: RefAxes[] = [0, 1, 2, -1, [0, 2], [2, 0, 1], [], undefined];
      for (const op of ['sum', 'mean'] as const) {
        for (const axis of axesList) {
          for (const keepDims of [false, true]) {
            it(`${op} axis=${JSON.stringify(axis) ?? 'all'} keepDims=${keepDims}`, () => check(op, [7, 33, 5], axis, keepDims));
          }
        }
      }
      it('size-1 axes: sum over axis 1 of [7, 1, 5], mean over [0, 2] of [1, 33, 1]', async () => {
        await check('sum', [7, 1, 5], 1, false);
        await check('mean', [1, 33, 1], [0, 2], true);
      });
    });

    describe('large reductions (two-stage paths)', () => {
      for (const [op, axis, keepDims] of [
        ['sum', undefined, false],
        ['sum', undefined, true],
        ['mean', undefined, false],
        ['sum', 0, false],
        ['mean', 0, true],
        ['sum', 1, true],
        ['mean', -1, false],
      ] as [Op, RefAxes, boolean][]) {
        it(`${op} of [1000, 257] axis=${JSON.stringify(axis) ?? 'all'} keepDims=${keepDims}`, () => check(op, [1000, 257], axis, keepDims, 3));
      }
      it('sum and mean of all 1M elements', async () => {
        await check('sum', [1 << 20], undefined, false, 4);
        await check('mean', [1024, 1024], undefined, false, 5);
      });
      it('few long rows (chunked row kernel): sum over axis 1 of [3, 100003]', () => check('sum', [3, 100003], 1, false, 6));
      it('few long columns (chunked column kernel): mean over axis 0 of [100003, 3]', () => check('mean', [100003, 3], 0, false, 7));
      it('many short rows: sum over axis 1 of [4099, 7]', () => check('sum', [4099, 7], 1, false, 8));
    });
  });
}

describe('sum / mean: autograd and errors', () => {
  it('a non-contiguous input (transposed view)', async () => {
    const x = randn([33, 7], 9);
    const w = randn([33], 10);
    const { out, grads } = await gpuGrads(([t]) => {
      const v = ops.transpose(t);
      const s = ops.sum(v, 0);
      v.dispose();
      return s;
    }, [x], w);
    const ref = reduceRef(x, 1, false, false, w);
    expectSumClose(out.data, ref.out, ref.absSum, SUM_REL, 'sum of transpose');
    expectClose(grads[0].data, ref.grad.data, BWD, 'sum of transpose backward');
  });

  it('scalar results backpropagate without an explicit gradient', async () => {
    const x = toGpu(randn([7, 33], 11), true);
    const s = ops.sum(x);
    expect(s.shape).toEqual([]);
    s.backward();
    expectClose(await x.grad!.data(), new Float64Array(x.size).fill(1), BWD, 'd sum / dx');
    s.dispose();
    x.grad!.dispose();
    x.grad = null;
    const m = ops.mean(x);
    m.backward();
    expectClose(await x.grad!.data(), new Float64Array(x.size).fill(1 / x.size), BWD, 'd mean / dx');
    m.dispose();
    x.dispose();
  });

  it('empty inputs: sums are 0, means NaN, gradients empty', async () => {
    await check('sum', [5, 3, 0], [0, 2], false);
    await check('sum', [0, 4], 0, true);
    const x = toGpu(Nd.zeros([0, 4]));
    const m = ops.mean(x, 0);
    expect([...(await m.data())].every(Number.isNaN)).toBe(true);
    [x, m].forEach((t) => t.dispose());
  });

  it('bad axes throw a ShapeError naming the op', () => {
    const x = toGpu(randn([7, 33, 5], 12));
    expect(() => ops.sum(x, 3)).toThrow(ShapeError);
    expect(() => ops.mean(x, [0, -3])).toThrow(/mean: axis -3 is given twice/);
    x.dispose();
  });

  for (const op of ['sum', 'mean'] as const) {
    it(`${op} finite differences over [0, 2] of [3, 4, 5]`, async () => {
      const x = randn([3, 4, 5], 13);
      const w = randn([4], 14);
      const f = ([t]: Tensor[]) => fns[op](t, [0, 2]);
      const { grads } = await gpuGrads(f, [x], w);
      const fd = await finiteDiff(f, [x], 0, 1e-2, w);
      expectClose(grads[0].data, fd, FD, `${op} vs finite differences`);
    });
  }
});
