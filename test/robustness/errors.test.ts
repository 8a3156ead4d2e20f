// Typed errors (issue 7): each names the bad input, is an instance of its class and of MufasaError, and
// leaves nothing allocated. Also the pool's out-of-memory path: free the cache, retry once, then an
// OutOfMemoryError that says how much was asked and how much is held.
import { describe, it, expect } from 'vitest';
import {
  MufasaError, TensorError, ShapeError, DTypeError, DisposedTensorError, DeviceMismatchError, OutOfMemoryError,
  DataFormatError, Engine, engine, tensor, zeros, matmul, add, gatherRows, exp, tidy, Adam, datasetFromArrays, infoNCE,
} from '../../src/index.ts';

function caught(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('typed errors name the bad input', () => {
  it('ShapeError: the op and both shapes', () => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(8), [4, 2]);
    const e = caught(() => matmul(a, b));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e).toBeInstanceOf(TensorError);
    expect(e).toBeInstanceOf(MufasaError);
    expect(e.message).toMatch(/^matmul: .*\[2, 3\].*\[4, 2\]/);
    expect((e as ShapeError).op).toBe('matmul');
    const c = tensor(new Float32Array(4), [4]);
    expect(caught(() => add(a, c))).toBeInstanceOf(ShapeError);
    expect(caught(() => add(a, c)).message).toMatch(/add: shapes \[2, 3\] and \[4\] do not broadcast/);
    expect(caught(() => infoNCE(a, b, { temperature: 0.1 })).message).toMatch(/infoNCE.*\[2, 3\].*\[4, 2\]/);
    [a, b, c].forEach((t) => t.dispose());
  });

  it('DTypeError: expected and actual dtype', () => {
    const table = tensor(new Float32Array(6), [3, 2]);
    const idx = tensor([0, 1], [2]); // f32 where indices must be i32
    const e = caught(() => gatherRows(table, idx));
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toMatch(/gatherRows: expected a i32 tensor, got Tensor#\d+\[2\] f32/);
    expect([(e as DTypeError).expected, (e as DTypeError).got]).toEqual(['i32', 'f32']);
    table.dispose();
    idx.dispose();
  });

  it('DisposedTensorError: use after dispose and after the tidy that made it', async () => {
    const a = tensor([1, 2, 3], [3]);
    a.name = 'weights';
    a.dispose();
    const e = caught(() => exp(a));
    expect(e).toBeInstanceOf(DisposedTensorError);
    expect(e.message).toMatch(/exp: tensor #\d+ \(weights\) \[3\] was disposed/);
    let inner: ReturnType<typeof tensor> | null = null;
    tidy(() => {
      inner = exp(tensor([1, 2], [2]));
    });
    await expect(inner!.data()).rejects.toBeInstanceOf(DisposedTensorError);
  });

  it('DeviceMismatchError: tensors from two engines in one op or one optimizer', () => {
    const other = new Engine(engine().gpu, { quiet: true });
    const a = tensor([1, 2], [2]);
    const b = tensor([1, 2], [2], { engine: other });
    const e = caught(() => add(a, b));
    expect(e).toBeInstanceOf(DeviceMismatchError);
    expect(e.message).toMatch(/^add: Tensor#\d+\[2\] f32 lives on another device \(engine\) than Tensor#\d+\[2\] f32/);
    const p = tensor([1], [1], { requiresGrad: true });
    const q = tensor([1], [1], { requiresGrad: true, engine: other });
    expect(caught(() => new Adam([p, q], { lr: 0.1 }))).toBeInstanceOf(DeviceMismatchError);
    [a, b, p, q].forEach((t) => t.dispose());
    other.pool.checkLeaks();
    other.destroy();
  });

  it('DataFormatError from arrays: the array and the index', () => {
    const base = { interactions: { users: [1, 1, 2], items: ['a', 'b', 'a'] }, items: { ids: ['a', 'b'] } };
    expect(datasetFromArrays(base).numUsers).toBe(2);
    const bad = (over: object, re: RegExp) => {
      const e = caught(() => datasetFromArrays({ ...base, ...over } as Parameters<typeof datasetFromArrays>[0]));
      expect(e).toBeInstanceOf(DataFormatError);
      expect(e.message).toMatch(re);
    };
    bad({ interactions: { users: [1, 1, 2], items: ['a', 'c', 'a'] } }, /interactions\.items\):1: unknown item id 'c'/);
    bad({ items: { ids: ['a', 'b', 'a'] } }, /items\.ids\):2: duplicate item id 'a' \(first at index 0\)/);
    bad({ interactions: { users: [1, 1, 2], items: ['a', 'b', 'a'], timestamps: [1, NaN, 3] } }, /timestamps\):1: NaN is not a finite number/);
    // A poisoned modality value is refused here, not discovered as a NaN loss later.
    bad({ items: { ids: ['a', 'b'], modalities: [{ name: 'v', dim: 2, values: [1, 2, 3, Infinity] }] } }, /'v'\):1: item 1 \('b'\), component 1 is Infinity/);
  });
});

describe('out of memory', () => {
  it('an absurd allocation: OutOfMemoryError with the bytes asked and held, nothing leaked', () => {
    const held = engine().pool.stats().bytesHeld;
    const e = caught(() => zeros([2 ** 25, 2 ** 25])); // 2^52 bytes
    expect(e).toBeInstanceOf(OutOfMemoryError);
    expect((e as OutOfMemoryError).requestedBytes).toBe(2 ** 52);
    expect((e as OutOfMemoryError).heldBytes).toBe(held);
    expect(e.message).toMatch(new RegExp(`asked for ${2 ** 52} bytes while the pool holds ${held} bytes`));
  });

  it('past the pool limit: frees the cache, retries once, then OutOfMemoryError', () => {
    const e2 = new Engine(engine().gpu, { quiet: true, poolLimitBytes: 4 << 20 });
    const a = tensor(new Float32Array(512 * 1024), [512 * 1024], { engine: e2 }); // 2 MiB in use
    const c = tensor(new Float32Array(256 * 1024), [256 * 1024], { engine: e2 }); // 1 MiB
    c.dispose(); // cached, still held
    expect(e2.pool.stats().bytesHeld).toBe(3 << 20);
    // 1.5 MiB more fits only once the cached 1 MiB is freed: the retry succeeds.
    const b = tensor(new Float32Array(384 * 1024), [384 * 1024], { engine: e2 });
    expect(e2.pool.stats().bytesHeld).toBe((2 << 20) + (3 << 19));
    // Another 1 MiB cannot fit even with an empty cache.
    const err = caught(() => tensor(new Float32Array(256 * 1024), [256 * 1024], { engine: e2 }));
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect(err.message).toMatch(/asked for 1048576 bytes while the pool holds 3670016 bytes \(past the pool limit of 4194304 bytes with 3670016 bytes in use/);
    a.dispose();
    b.dispose();
    e2.pool.checkLeaks();
    e2.destroy();
  });
});
