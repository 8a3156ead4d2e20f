// Buffer pool: buckets, reuse, cap, counters, leak detection.
import { describe, it, expect } from 'vitest';
import { engine, Engine } from '../../src/gpu/engine.ts';
import { tensor } from '../../src/tensor/ops/creation.ts';
import { add } from '../../src/tensor/ops/binary.ts';
import { BufferPool, bucketSize } from '../../src/gpu/pool.ts';

describe('buffer pool', () => {
  it('rounds sizes up to power-of-two and 1.5× buckets (≤ 33 % waste)', () => {
    expect(bucketSize(1)).toBe(256);
    expect(bucketSize(257)).toBe(384);
    expect(bucketSize(385)).toBe(512);
    expect(bucketSize(513)).toBe(768);
    expect(bucketSize(4000)).toBe(4096);
    for (let b = 1; b < 1e6; b = Math.ceil(b * 1.37)) {
      expect(bucketSize(b)).toBeGreaterThanOrEqual(b);
      if (b > 256) expect(bucketSize(b) / b).toBeLessThan(1.5);
    }
  });

  it('reuses a released buffer of the same bucket and counts bytes', () => {
    const pool = new BufferPool(engine().device, 1 << 20);
    const a = pool.acquire(1000);
    expect(pool.stats()).toMatchObject({ bytesInUse: 1024, bytesHeld: 1024, buffersInUse: 1 });
    pool.release(a);
    expect(pool.stats()).toMatchObject({ bytesInUse: 0, bytesHeld: 1024, buffersInUse: 0 });
    const b = pool.acquire(900);
    expect(b).toBe(a);
    pool.release(b);
    expect(() => pool.release(b)).toThrow(/double free/);
    pool.trim(0);
    expect(pool.stats().bytesHeld).toBe(0);
  });

  it('keeps at most capBytes of free buffers', () => {
    const pool = new BufferPool(engine().device, 4096);
    const bufs = [1, 2, 3, 4].map(() => pool.acquire(2048));
    bufs.forEach((b) => pool.release(b));
    expect(pool.stats().bytesHeld).toBe(4096);
    pool.trim(0);
  });

  it('a buffer freed past the cap while a pending dispatch reads it is destroyed only after the submit', async () => {
    // Cap 0: disposing x destroys its buffer at once, while the add that reads it is still only encoded.
    const e = await Engine.create({ exclusive: true, quiet: true, poolCapBytes: 0 });
    try {
      const x = tensor([1, 2, 3], [3], { engine: e });
      const y = add(x, x);
      x.dispose();
      expect(e.pool.stats().bytesHeld).toBe(e.pool.stats().bytesInUse); // x's buffer is gone from the cache
      expect(Array.from(await y.data())).toEqual([2, 4, 6]);
      y.dispose();
      await e.stream.sync();
      expect(e.deviceErrors).toEqual([]);
    } finally {
      e.destroy();
    }
  });

  it('checkLeaks reports what is still live', () => {
    const pool = new BufferPool(engine().device);
    const a = pool.acquire(10);
    expect(() => pool.checkLeaks()).toThrow(/0 tensors, 1 buffers, 256 bytes still live/);
    pool.release(a);
    pool.checkLeaks();
    pool.trim(0);
  });

  it('a request beyond maxBufferSize fails with the sizes in the message', () => {
    const pool = new BufferPool(engine().device);
    const max = engine().device.limits.maxBufferSize;
    expect(() => pool.acquire(max + 1)).toThrow(/GPU out of memory: asked for \d+ bytes while the pool holds 0 bytes/);
  });
});

describe('peak tracking', () => {
  it('records the highest bytes in use until resetPeak', () => {
    const pool = new BufferPool(engine().device);
    const a = pool.acquire(1000);
    const b = pool.acquire(1000);
    pool.release(a);
    pool.release(b);
    expect(pool.stats().peakBytesInUse).toBe(2048);
    pool.resetPeak();
    expect(pool.stats().peakBytesInUse).toBe(0);
    pool.trim(0);
  });
});

describe('binding limits', () => {
  it('a tensor larger than maxStorageBufferBindingSize fails with the op, shape and limit', async () => {
    const { Tensor } = await import('../../src/tensor/tensor.ts');
    const e = engine();
    const max = e.device.limits.maxStorageBufferBindingSize;
    if (max >= e.device.limits.maxBufferSize) return; // this adapter binds anything it can allocate
    const rows = Math.floor(max / 4 / 1024) + 1;
    const t = Tensor.empty([rows, 1024]);
    try {
      expect(() => t.binding('myop')).toThrow(new RegExp(`myop: tensor \\[${rows}, 1024\\] is \\d+ bytes, more than this adapter binds at once`));
    } finally {
      t.dispose();
    }
  });
});
