// Layout ops (src/tensor/ops/layout.ts): reshape, transpose / T, slice, contiguous, concat — values and
// gradients against the CPU reference (test/reference/gather.ts), finite differences, and the error
// messages for bad arguments.
import { describe, it, expect } from 'vitest';
import * as ops from '../../src/tensor/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { Nd, randn } from '../reference/nd.ts';
import { padLastDim } from '../../src/tensor/ops/layout.ts';
import { permuteRef, sliceRef, unsliceRef, concatRef } from '../reference/gather.ts';
import { expectClose, gpuGrads, finiteDiff, toGpu } from '../helpers.ts';

// Views and copies move f32 bits: any difference is a bug. Gradients of pure data movement are moved
// bits too (or sums of exactly one term), except where two paths add (stated there).
const EXACT = { rtol: 0, atol: 0 };
// Linear maps: central differences are exact up to f32 rounding of the projected sum (~1e-6 relative
// to Σ|w·x| ≈ 10, divided by 2·eps = 2e-2).
const FD = { rtol: 1e-2, atol: 1e-3 };

const inverse = (p: number[]) => {
  const inv = new Array<number>(p.length);
  p.forEach((v, i) => (inv[v] = i));
  return inv;
};

/** f applied through a chain of ops; the intermediates are disposed (the graph keeps what it needs). */
function chain(...fs: ((t: Tensor) => Tensor)[]): (xs: Tensor[]) => Tensor {
  return ([x]) => {
    let t = x;
    for (const f of fs) {
      const next = f(t);
      if (t !== x) t.dispose();
      t = next;
    }
    return t;
  };
}

function permutations(n: number): number[][] {
  if (n === 1) return [[0]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  return out;
}

describe('reshape', () => {
  for (const [from, to, want] of [
    [[2, 3, 5], [6, 5], [6, 5]],
    [[2, 3, 5], [-1], [30]],
    [[2, 3, 5], [5, -1, 2], [5, 3, 2]],
    [[7, 33], [33, -1], [33, 7]],
    [[1000], [8, 125], [8, 125]],
    [[1], [1, 1, -1], [1, 1, 1]],
  ]) {
    it(`${JSON.stringify(from)} → ${JSON.stringify(to)}`, async () => {
      const x = randn(from, 1);
      const w = randn(want, 2);
      const { out, grads } = await gpuGrads(([t]) => ops.reshape(t, to), [x], w);
      expect(out.shape).toEqual(want);
      expectClose(out.data, x.data, EXACT, 'forward keeps row-major order');
      expectClose(grads[0].data, w.data, EXACT, 'backward');
      expect(grads[0].shape).toEqual(from);
    });
  }

  it('of a transposed view copies in the view order', async () => {
    const x = randn([2, 3, 5], 3);
    const w = randn([5, 6], 4);
    const { out, grads } = await gpuGrads(chain((t) => ops.transpose(t, [2, 0, 1]), (t) => ops.reshape(t, [5, -1])), [x], w);
    expectClose(out.data, permuteRef(x, [2, 0, 1]).data, EXACT, 'forward');
    expectClose(grads[0].data, permuteRef(new Nd(w.data, [5, 2, 3]), inverse([2, 0, 1])).data, EXACT, 'backward');
  });

  it('is a view when the input is contiguous', () => {
    ops.tidy(() => {
      const x = ops.zeros([6, 5]);
      const r = ops.reshape(x, [30]);
      expect(r.storage).toBe(x.storage);
    });
  });
});

describe('transpose and T', () => {
  const x3 = randn([2, 3, 5], 5);
  for (const p of permutations(3)) {
    it(`[2, 3, 5] perm ${JSON.stringify(p)}`, async () => {
      const want = permuteRef(x3, p);
      const w = randn(want.shape, 6);
      const { out, grads } = await gpuGrads(([t]) => ops.transpose(t, p), [x3], w);
      expect(out.shape).toEqual(want.shape);
      expectClose(out.data, want.data, EXACT, 'forward');
      expectClose(grads[0].data, permuteRef(w, inverse(p)).data, EXACT, 'backward');
    });
  }

  it('[7, 33]: default perm reverses, T swaps the last two, both views', async () => {
    const x = randn([7, 33], 7);
    const w = randn([33, 7], 8);
    for (const f of [(t: Tensor) => ops.transpose(t), (t: Tensor) => ops.transpose(t, [1, 0]), ops.T]) {
      const { out, grads } = await gpuGrads(([t]) => f(t), [x], w);
      expect(out.shape).toEqual([33, 7]);
      expectClose(out.data, permuteRef(x, [1, 0]).data, EXACT, 'forward');
      expectClose(grads[0].data, permuteRef(w, [1, 0]).data, EXACT, 'backward');
    }
    ops.tidy(() => {
      const t = toGpu(x);
      const v = ops.T(t);
      expect(v.storage).toBe(t.storage);
      expect(v.isContiguous()).toBe(false);
    });
  });

  it('T of [2, 3, 5] swaps the last two axes', async () => {
    const w = randn([2, 5, 3], 9);
    const { out, grads } = await gpuGrads(([t]) => ops.T(t), [x3], w);
    expectClose(out.data, permuteRef(x3, [0, 2, 1]).data, EXACT, 'forward');
    expectClose(grads[0].data, permuteRef(w, [0, 2, 1]).data, EXACT, 'backward');
  });

  it('transpose of transpose composes the permutations', async () => {
    const w = randn([5, 2, 3], 10);
    const { out, grads } = await gpuGrads(chain((t) => ops.transpose(t, [1, 2, 0]), (t) => ops.transpose(t, [1, 2, 0])), [x3], w);
    // [1,2,0] twice = [2,0,1]
    expectClose(out.data, permuteRef(x3, [2, 0, 1]).data, EXACT, 'forward');
    expectClose(grads[0].data, permuteRef(w, inverse([2, 0, 1])).data, EXACT, 'backward');
  });
});

describe('slice', () => {
  const cases: [number[], number, number, number][] = [
    [[7, 33], 0, 2, 5],
    [[7, 33], 1, 3, 30], // offset 3 elements: not 256-byte aligned
    [[7, 33], -1, 0, 1],
    [[7, 33], 0, 4, 4], // empty
    [[5, 7, 33], 0, 1, 4],
    [[5, 7, 33], 1, 1, 6],
    [[5, 7, 33], 2, 17, 33],
    [[1000], 0, 1, 1000],
  ];
  for (const [shape, axis, start, end] of cases) {
    it(`${JSON.stringify(shape)} axis ${axis} [${start}, ${end})`, async () => {
      const ax = axis < 0 ? axis + shape.length : axis;
      const x = randn(shape, 11);
      const want = sliceRef(x, ax, start, end);
      const w = randn(want.shape, 12);
      const { out, grads } = await gpuGrads(([t]) => ops.slice(t, axis, start, end), [x], w);
      expect(out.shape).toEqual(want.shape);
      expectClose(out.data, want.data, EXACT, 'forward');
      expectClose(grads[0].data, unsliceRef(w, shape, ax, start).data, EXACT, 'backward: g in place, zeros elsewhere');
    });
  }

  it('slice of a transposed view, then of the slice', async () => {
    const x = randn([7, 33], 13);
    const w = randn([20, 3], 14);
    const f = chain(ops.T, (t) => ops.slice(t, 0, 5, 25), (t) => ops.slice(t, 1, 2, 5));
    const { out, grads } = await gpuGrads(f, [x], w);
    const want = sliceRef(sliceRef(permuteRef(x, [1, 0]), 0, 5, 25), 1, 2, 5);
    expectClose(out.data, want.data, EXACT, 'forward');
    const g = permuteRef(unsliceRef(unsliceRef(w, [20, 7], 1, 2), [33, 7], 0, 5), [1, 0]);
    expectClose(grads[0].data, g.data, EXACT, 'backward');
  });

  it('overlapping slices of one tensor: gradients add', async () => {
    const x = randn([9, 5], 15);
    const w = randn([4, 5], 16);
    const f = ([t]: Tensor[]) => {
      const a = ops.slice(t, 0, 0, 4);
      const b = ops.slice(t, 0, 3, 7);
      const y = ops.add(a, b);
      a.dispose();
      b.dispose();
      return y;
    };
    const { grads } = await gpuGrads(f, [x], w);
    const want = unsliceRef(w, [9, 5], 0, 0).data.map((v, i) => v + unsliceRef(w, [9, 5], 0, 3).data[i]);
    // row 3 receives w[3] + w[0]: one f32 addition, correctly rounded
    expectClose(grads[0].data, want, { rtol: 1e-7, atol: 0 }, 'backward');
  });
});

describe('contiguous', () => {
  for (const [name, view, ref] of [
    ['transpose', (t: Tensor) => ops.transpose(t, [2, 0, 1]), (x: Nd) => permuteRef(x, [2, 0, 1])],
    ['unaligned slice', (t: Tensor) => ops.slice(t, 2, 3, 30), (x: Nd) => sliceRef(x, 2, 3, 30)],
    ['slice of a transpose', (t: Tensor) => ops.slice(ops.T(t), 1, 1, 6), (x: Nd) => sliceRef(permuteRef(x, [0, 2, 1]), 1, 1, 6)],
  ] as [string, (t: Tensor) => Tensor, (x: Nd) => Nd][]) {
    it(`of a ${name} view`, async () => {
      const x = randn([3, 7, 33], 17);
      const want = ref(x);
      const w = randn(want.shape, 18);
      let bindable = false;
      const f = ([t]: Tensor[]) =>
        ops.tidy(() => {
          const c = ops.contiguous(view(t));
          bindable = c.isContiguous() && c.isBindable() && c.offset === 0;
          return c;
        });
      const { out, grads } = await gpuGrads(f, [x], w);
      expect(bindable).toBe(true);
      expectClose(out.data, want.data, EXACT, 'forward');
      // the gradient of a view of x: scatter w back through the reference
      const g = await gpuGrads(([t]) => ops.tidy(() => view(t)), [x], w);
      expectClose(grads[0].data, g.grads[0].data, EXACT, 'backward equals the view backward');
    });
  }

  it('of an i32 view copies bits', async () => {
    const t = ops.tensor(Int32Array.from({ length: 15 }, (_, i) => i - 7), [3, 5], { dtype: 'i32' });
    const c = ops.tidy(() => ops.contiguous(ops.T(t)));
    expect(c.dtype).toBe('i32');
    expect(Array.from(await c.data())).toEqual([-7, -2, 3, -6, -1, 4, -5, 0, 5, -4, 1, 6, -3, 2, 7]);
    t.dispose();
    c.dispose();
  });
});

describe('concat', () => {
  // three tensors of odd sizes 1, 4, 7 along the axis; other dims 3, 5, 7
  for (const axis of [0, 1, 2, -1]) {
    it(`along axis ${axis} of [3, 5, 7]-shaped parts`, async () => {
      const ax = axis < 0 ? axis + 3 : axis;
      const parts = [1, 4, 7].map((k, i) => {
        const s = [3, 5, 7];
        s[ax] = k;
        return randn(s, 20 + i);
      });
      const want = concatRef(parts, ax);
      const w = randn(want.shape, 23);
      const { out, grads } = await gpuGrads((xs) => ops.concat(xs, axis), parts, w);
      expect(out.shape).toEqual(want.shape);
      expectClose(out.data, want.data, EXACT, 'forward');
      let at = 0;
      parts.forEach((p, i) => {
        expectClose(grads[i].data, sliceRef(w, ax, at, at + p.shape[ax]).data, EXACT, `backward of part ${i}`);
        at += p.shape[ax];
      });
    });
  }

  it('of views (a transpose and an unaligned slice) and one tensor', async () => {
    const a = randn([5, 3], 24); // used as T(a): [3, 5]
    const b = randn([3, 9], 25); // used as slice(b, 1, 2, 7): [3, 5]
    const c = randn([1, 5], 26);
    const w = randn([7, 5], 27);
    const f = ([x, y, z]: Tensor[]) =>
      ops.tidy(() => ops.concat([ops.T(x), ops.slice(y, 1, 2, 7), z], 0));
    const { out, grads } = await gpuGrads(f, [a, b, c], w);
    const want = concatRef([permuteRef(a, [1, 0]), sliceRef(b, 1, 2, 7), c], 0);
    expectClose(out.data, want.data, EXACT, 'forward');
    expectClose(grads[0].data, permuteRef(sliceRef(w, 0, 0, 3), [1, 0]).data, EXACT, 'backward a');
    expectClose(grads[1].data, unsliceRef(sliceRef(w, 0, 3, 6), [3, 9], 1, 2).data, EXACT, 'backward b');
    expectClose(grads[2].data, sliceRef(w, 0, 6, 7).data, EXACT, 'backward c');
  });
});

describe('padLastDim', () => {
  for (const [shape, width] of [[[3, 5, 7], 8], [[9], 12], [[2, 6], 6]] as [number[], number][]) {
    it(`${JSON.stringify(shape)} to width ${width}: zero columns, gradient of the kept columns`, async () => {
      const x = randn(shape, 31);
      const ax = shape.length - 1;
      const want = concatRef([x, Nd.zeros([...shape.slice(0, -1), width - shape[ax]])], ax);
      const w = randn(want.shape, 32);
      const { out, grads } = await gpuGrads(([t]) => padLastDim(t, width), [x], w);
      expect(out.shape).toEqual(want.shape);
      expectClose(out.data, want.data, EXACT, 'forward');
      expectClose(grads[0].data, sliceRef(w, ax, 0, shape[ax]).data, EXACT, 'backward');
    });
  }

  it('rejects a width below the last axis, naming the shape', () => {
    ops.tidy(() => {
      expect(() => padLastDim(ops.zeros([2, 7]), 5)).toThrow('padLastDim: width 5 is below the last axis of [2, 7]');
    });
  });
});

describe('finite differences through layout ops', () => {
  const x = randn([2, 3, 5], 30);
  const cases: [string, (xs: Tensor[]) => Tensor, Nd[], number[]][] = [
    ['reshape', chain((t) => ops.reshape(t, [5, -1])), [x], [5, 6]],
    ['transpose', chain((t) => ops.transpose(t, [1, 2, 0])), [x], [3, 5, 2]],
    ['T then slice', chain(ops.T, (t) => ops.slice(t, 1, 1, 3)), [x], [2, 2, 3]],
    ['slice then reshape', chain((t) => ops.slice(t, 2, 1, 4), (t) => ops.reshape(t, [-1])), [x], [18]],
    ['concat', (xs) => ops.concat(xs, 1), [randn([2, 1, 3], 31), randn([2, 2, 3], 32)], [2, 3, 3]],
  ];
  for (const [name, f, inputs, outShape] of cases) {
    it(name, async () => {
      const w = randn(outShape, 33);
      const { grads } = await gpuGrads(f, inputs, w);
      for (let k = 0; k < inputs.length; k++) {
        const fd = await finiteDiff(f, inputs, k, 1e-2, w);
        expectClose(grads[k].data, fd, FD, `${name}: input ${k} vs finite differences`);
      }
    });
  }
});

describe('errors name the op and the shapes', () => {
  it('reshape', () => {
    ops.tidy(() => {
      const x = ops.zeros([2, 3, 5]);
      expect(() => ops.reshape(x, [4, 8])).toThrow('reshape: cannot reshape [2, 3, 5] (30 elements) to [4, 8]');
      expect(() => ops.reshape(x, [4, -1])).toThrow('reshape: cannot reshape [2, 3, 5] to [4, -1]');
      expect(() => ops.reshape(x, [0, -1])).toThrow('reshape: cannot reshape [2, 3, 5] to [0, -1]');
    });
  });

  it('transpose', () => {
    ops.tidy(() => {
      const x = ops.zeros([2, 3, 5]);
      expect(() => ops.transpose(x, [0, 0, 1])).toThrow('transpose: perm [0, 0, 1] is not a permutation of 3 axes (input [2, 3, 5])');
      expect(() => ops.transpose(x, [1, 0])).toThrow('transpose: perm [1, 0] is not a permutation of 3 axes (input [2, 3, 5])');
      expect(() => ops.transpose(x, [0, 1, 3])).toThrow('transpose: perm [0, 1, 3] is not a permutation of 3 axes (input [2, 3, 5])');
    });
  });

  it('slice', () => {
    ops.tidy(() => {
      const x = ops.zeros([7, 33]);
      expect(() => ops.slice(x, 1, 2, 34)).toThrow('slice: range [2, 34) is out of bounds for axis 1 of [7, 33]');
      expect(() => ops.slice(x, 0, 5, 3)).toThrow('slice: range [5, 3) is out of bounds for axis 0 of [7, 33]');
      expect(() => ops.slice(x, 0, -1, 3)).toThrow('slice: range [-1, 3) is out of bounds for axis 0 of [7, 33]');
      expect(() => ops.slice(x, 2, 0, 1)).toThrow(/^slice: axis 2 is out of range for \[7, 33\] \(rank 2\)/);
    });
  });

  it('concat', () => {
    ops.tidy(() => {
      const a = ops.zeros([2, 3]);
      const b = ops.zeros([2, 4]);
      const i = ops.tensor(new Int32Array(6), [2, 3], { dtype: 'i32' });
      expect(() => ops.concat([a, b], 0)).toThrow('concat: shapes [2, 3] f32, [2, 4] f32 differ outside axis 0');
      expect(() => ops.concat([a, i], 0)).toThrow('concat: shapes [2, 3] f32, [2, 3] i32 differ outside axis 0');
      expect(() => ops.concat([a, ops.zeros([2, 3, 1])], 1)).toThrow('concat: shapes [2, 3] f32, [2, 3, 1] f32 differ outside axis 1');
      expect(() => ops.concat([], 0)).toThrow('concat: no tensors given');
    });
  });
});

// Found while writing these tests; reported instead of edited (layout.ts belongs to another task).
describe('layout error cases', () => {
  const withZeros = (shape: number[], f: (x: Tensor) => void) => {
    const x = ops.zeros(shape);
    try {
      f(x);
    } finally {
      x.dispose();
    }
  };

  it('reshape with two -1 names the input shape and the requested one', () => {
    withZeros([2, 3, 5], (x) => expect(() => ops.reshape(x, [-1, -1])).toThrow(/^reshape: .*\[2, 3, 5\].*\[-1, -1\]/));
  });

  it('T of a rank-1 tensor says it needs two axes', () => {
    withZeros([5], (x) => expect(() => ops.T(x)).toThrow(/^T: .*\[5\]/));
  });

  it('T of a rank-0 tensor throws', () => {
    withZeros([], (x) => {
      let v: Tensor | null = null;
      try {
        expect(() => (v = ops.T(x))).toThrow();
      } finally {
        (v as Tensor | null)?.dispose();
      }
    });
  });
});
