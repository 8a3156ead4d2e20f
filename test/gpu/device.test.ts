// Adapter selection: the forced or default adapter is used, limits are the adapter's maxima, and a
// caller's own GPUDevice is accepted.
import { describe, it, expect } from 'vitest';
import { engine, Engine } from '../../src/gpu/engine.ts';
import { getDevice } from '../../src/gpu/device.ts';
import { tensor, mul } from '../../src/tensor/index.ts';

describe('device', () => {
  it('uses the adapter MUFASA_ADAPTER names (else the first that works) and describes it', () => {
    const g = engine().gpu;
    const forced = process.env.MUFASA_ADAPTER;
    if (forced && forced !== 'auto') expect(g.kind).toBe(forced);
    else expect(['gpu', 'gl', 'swiftshader']).toContain(g.kind);
    expect(g.description.length).toBeGreaterThan(0);
    // Compatibility mode exactly on the GL backend.
    expect(g.compat).toBe(g.kind === 'gl');
  });

  it('requests more than the default limits where the adapter has them', () => {
    const l = engine().device.limits;
    // WebGPU's default maxStorageBufferBindingSize is 128 MiB; both CPU adapters offer at least that.
    expect(l.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(l.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
  });

  it('rejects an unknown MUFASA_ADAPTER value with the allowed ones', async () => {
    const saved = process.env.MUFASA_ADAPTER;
    process.env.MUFASA_ADAPTER = 'cuda';
    try {
      expect(() => getDevice()).toThrow(/MUFASA_ADAPTER=cuda: expected one of gpu, gl, swiftshader, auto/);
    } finally {
      if (saved === undefined) delete process.env.MUFASA_ADAPTER;
      else process.env.MUFASA_ADAPTER = saved;
    }
  });

  it("runs on a caller's own GPUDevice", async () => {
    const gpu = await getDevice({ device: engine().device, quiet: true });
    expect(gpu.kind).toBe('external');
    const e = new Engine(gpu);
    const a = tensor([1, 2, 3], [3], { engine: e });
    const b = mul(a, a);
    expect(Array.from(await b.data())).toEqual([1, 4, 9]);
    a.dispose();
    b.dispose();
    e.pool.checkLeaks();
    e.destroy();
  });
});
