// Kernel registry: bindings come from reflection, pipelines are cached per constants, errors name
// the shader, entry point and field; the command stream batches dispatches into one submit.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { engine } from '../../src/gpu/engine.ts';
import { shaderBundleSource } from '../../scripts/bundle-shaders.ts';
import { tensor, tidy, add, exp } from '../../src/tensor/index.ts';

describe('kernel registry', () => {
  it('reflects binding names, kinds and uniform fields from the WGSL', () => {
    const k = engine().kernels.get('elementwise', 'unary', { WG: 64, OP: 2 });
    const names = k.bindings.map((b) => `${b.name}:${b.kind}`);
    expect(names).toEqual(['up:uniform', 'x:read-only-storage', 'y:storage']);
    expect([...k.uniform!.fields!.keys()]).toEqual(['n', 'a', 'b']);
  });

  it('caches pipelines per (shader, entry, constants)', () => {
    const r = engine().kernels;
    const a = r.get('elementwise', 'unary', { WG: 64, OP: 2 });
    expect(r.get('elementwise', 'unary', { OP: 2, WG: 64 })).toBe(a);
    expect(r.get('elementwise', 'unary', { WG: 64, OP: 3 })).not.toBe(a);
  });

  it('names the shader, entry point and field in errors', () => {
    const r = engine().kernels;
    expect(() => r.get('elementwise', 'nope')).toThrow(/shaders\/elementwise\.wgsl has no compute entry point 'nope'/);
    expect(() => r.get('no_such_shader', 'main')).toThrow(/shader 'no_such_shader' not found/);
    expect(() => r.get('elementwise', 'unary', { BOGUS: 1 })).toThrow(/no override constant 'BOGUS'/);
    const k = r.get('elementwise', 'fill', { WG: 64 });
    expect(() => engine().stream.dispatch(k, {}, { n: 1, value: 0 }, [1])).toThrow(/buffer 'dst' not given/);
  });

  it('encodes many dispatches into one submit until something is read', async () => {
    const s = engine().stream;
    const x = tensor([1, 2, 3]);
    await s.sync();
    const before = s.submitCount;
    const dispatches = s.dispatchCount;
    const y = tidy(() => {
      let t = exp(x);
      for (let i = 0; i < 50; i++) t = add(t, x);
      return t;
    });
    expect(s.dispatchCount - dispatches).toBe(51);
    expect(s.submitCount).toBe(before);
    const v = await y.data();
    expect(s.submitCount).toBe(before + 1);
    expect(v[0]).toBeCloseTo(Math.E + 50, 4);
    x.dispose();
    y.dispose();
  });

  it('the browser shader bundle is up to date with shaders/*.wgsl', () => {
    const current = readFileSync(new URL('../../src/gpu/shader-bundle.generated.ts', import.meta.url), 'utf8');
    expect(current, 'run: npx tsx scripts/bundle-shaders.ts').toBe(shaderBundleSource());
  });
});
