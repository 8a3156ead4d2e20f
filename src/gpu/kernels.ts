// Kernel registry: WGSL source from shaders/, bindings reflected with wgsl_reflect (no hand-written
// binding tables: a kernel's TypeScript caller names its buffers and uniform fields exactly as the WGSL
// does), pipelines cached per (shader, entry point, override constants).
//
// Source: in Node read from shaders/*.wgsl at first use (edit a shader, rerun, no build step); in the
// browser from the bundle that scripts/bundle-shaders.ts writes (test/shaders-bundle.test.ts keeps it
// in step with the files). A line `// @include NAME` pulls in shaders/NAME.wgsl (shared helpers such as
// the Philox RNG), once.

import { WgslReflect, ResourceType } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { MemberInfo } from 'wgsl_reflect/wgsl_reflect.module.js';
import { SHADER_BUNDLE } from './shader-bundle.generated.ts';

export type ScalarType = 'f32' | 'u32' | 'i32';

/** Where one uniform field lives in the uniform struct. */
export interface UniformField {
  offset: number;
  type: ScalarType;
  /** Number of scalars (1 for a scalar, 4 for vec4, 4·n for array<vec4, n>). */
  count: number;
  /** Byte distance between consecutive scalars' groups: arrays of vecN pad to 16. */
  components: number;
  stride: number;
}

export interface BindingInfo {
  name: string;
  binding: number;
  kind: 'uniform' | 'storage' | 'read-only-storage';
  /** For the uniform binding: its fields by name, and its byte size. */
  fields?: Map<string, UniformField>;
  size?: number;
}

export interface Kernel {
  key: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  bindings: BindingInfo[];
  /** The uniform binding, if the entry point uses one (at most one per kernel by convention). */
  uniform?: BindingInfo;
}

import { KernelError } from '../errors.ts';
export { KernelError };

let sourceLoader: (name: string) => string = defaultLoader;

/** The built-in source lookup (shaders/ in Node, the generated bundle in the browser). */
export function defaultLoader(name: string): string {
  const bundled = SHADER_BUNDLE[name];
  const fs = nodeFs();
  if (fs) {
    const url = new URL(`../../shaders/${name}.wgsl`, import.meta.url);
    if (fs.existsSync(url)) return fs.readFileSync(url, 'utf8');
  }
  if (bundled !== undefined) return bundled;
  throw new KernelError(`shader '${name}' not found (no shaders/${name}.wgsl and not in the bundle)`);
}

type Fs = { existsSync(p: URL): boolean; readFileSync(p: URL, enc: 'utf8'): string };
let fsModule: Fs | null | undefined;
function nodeFs(): Fs | null {
  if (fsModule !== undefined) return fsModule;
  const p = (globalThis as { process?: { getBuiltinModule?: (n: string) => unknown } }).process;
  // process.getBuiltinModule exists from Node 20.16; it keeps `fs` out of browser bundles.
  fsModule = (p?.getBuiltinModule?.('fs') as Fs | undefined) ?? null;
  return fsModule;
}

/** Replace where WGSL comes from (tests, embedding apps with their own asset pipeline). */
export function setShaderSourceLoader(loader: (name: string) => string): void {
  sourceLoader = loader;
}

export function resolveIncludes(name: string, seen = new Set<string>()): string {
  if (seen.has(name)) return '';
  seen.add(name);
  const src = sourceLoader(name);
  return src.replace(/^\/\/ @include (\w+)\s*$/gm, (_m, inc: string) => resolveIncludes(inc, seen));
}

export class KernelRegistry {
  private sources = new Map<string, { code: string; reflect: WgslReflect; module: GPUShaderModule }>();
  private cache = new Map<string, Kernel>();

  constructor(private readonly device: GPUDevice) {}

  get(shader: string, entry: string, constants: Record<string, number | boolean> = {}): Kernel {
    const ckeys = Object.keys(constants).sort();
    const key = `${shader}:${entry}:${ckeys.map((k) => `${k}=${+constants[k]}`).join(',')}`;
    let k = this.cache.get(key);
    if (!k) {
      k = this.build(shader, entry, constants, key);
      this.cache.set(key, k);
    }
    return k;
  }

  get size(): number {
    return this.cache.size;
  }

  private source(shader: string) {
    let s = this.sources.get(shader);
    if (!s) {
      const code = resolveIncludes(shader);
      const reflect = new WgslReflect(code);
      const module = this.device.createShaderModule({ code, label: shader });
      s = { code, reflect, module };
      this.sources.set(shader, s);
    }
    return s;
  }

  private build(shader: string, entry: string, constants: Record<string, number | boolean>, key: string): Kernel {
    const src = this.source(shader);
    const fn = src.reflect.entry.compute.find((f) => f.name === entry);
    if (!fn) {
      const names = src.reflect.entry.compute.map((f) => f.name).join(', ');
      throw new KernelError(`shaders/${shader}.wgsl has no compute entry point '${entry}' (it has: ${names})`);
    }
    const bindings: BindingInfo[] = [];
    for (const r of fn.resources) {
      if (r.group !== 0) throw new KernelError(`${shader}.${entry}: binding '${r.name}' is in group ${r.group}; kernels use group 0 only`);
      if (r.resourceType === ResourceType.Uniform) {
        bindings.push({ name: r.name, binding: r.binding, kind: 'uniform', fields: uniformFields(r.members ?? [], `${shader}.${entry}`), size: r.size });
      } else if (r.resourceType === ResourceType.Storage) {
        bindings.push({ name: r.name, binding: r.binding, kind: r.access === 'read' ? 'read-only-storage' : 'storage' });
      } else {
        throw new KernelError(`${shader}.${entry}: binding '${r.name}' is not a buffer; compute kernels here use buffers only`);
      }
    }
    bindings.sort((a, b) => a.binding - b.binding);
    const layout = this.device.createBindGroupLayout({
      label: key,
      entries: bindings.map((b) => ({ binding: b.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.kind } })),
    });
    const declared = new Set(fn.overrides.map((o) => o.name));
    for (const c of Object.keys(constants)) {
      if (!declared.has(c) && !src.reflect.overrides.some((o) => o.name === c)) {
        throw new KernelError(`${shader}.${entry}: no override constant '${c}'`);
      }
    }
    const numeric: Record<string, number> = {};
    for (const [c, v] of Object.entries(constants)) numeric[c] = +v;
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: src.module, entryPoint: entry, constants: numeric },
    });
    return { key, pipeline, layout, bindings, uniform: bindings.find((b) => b.kind === 'uniform') };
  }
}

function uniformFields(members: MemberInfo[], where: string): Map<string, UniformField> {
  const fields = new Map<string, UniformField>();
  for (const m of members) {
    const tn = m.type.getTypeName();
    const scalar = scalarOf(tn);
    if (!scalar) throw new KernelError(`${where}: uniform field '${m.name}' has type ${tn}; use f32/u32/i32, vecN of them, or array<vec4<…>, n>`);
    let components = 1;
    let count = 1;
    let stride = 4;
    const vec = /^vec([234])/.exec(tn);
    if (m.isArray) {
      const inner = m.format?.getTypeName() ?? '';
      const iv = /^vec([234])/.exec(inner);
      components = iv ? +iv[1] : 1;
      count = m.count * components;
      stride = m.stride;
    } else if (vec) {
      components = +vec[1];
      count = components;
      stride = 16;
    }
    fields.set(m.name, { offset: m.offset, type: scalar, count, components, stride });
  }
  return fields;
}

function scalarOf(typeName: string): ScalarType | null {
  if (/(^|<)f32|vec[234]f|^f32/.test(typeName)) return 'f32';
  if (/(^|<)u32|vec[234]u|^u32/.test(typeName)) return 'u32';
  if (/(^|<)i32|vec[234]i|^i32/.test(typeName)) return 'i32';
  return null;
}

/** Write `values` into a uniform struct image according to reflected fields. */
export function packUniform(kernel: Kernel, values: Record<string, number | number[] | boolean>, dst: DataView, base: number): void {
  const u = kernel.uniform;
  if (!u) return;
  const fields = u.fields!;
  for (const [name, f] of fields) {
    const v = values[name];
    if (v === undefined) throw new KernelError(`${kernel.key}: uniform field '${name}' not given`);
    const arr = Array.isArray(v) ? v : [+v];
    if (arr.length > f.count) throw new KernelError(`${kernel.key}: uniform field '${name}' takes ${f.count} values, got ${arr.length}`);
    for (let i = 0; i < arr.length; i++) {
      const off = base + f.offset + Math.floor(i / f.components) * f.stride + (i % f.components) * 4;
      const x = arr[i];
      if (f.type === 'f32') dst.setFloat32(off, x, true);
      else if (f.type === 'u32') {
        if (!(x >= 0 && x <= 0xffffffff) || !Number.isInteger(x)) throw new KernelError(`${kernel.key}: '${name}' = ${x} is not a u32`);
        dst.setUint32(off, x, true);
      } else dst.setInt32(off, x, true);
    }
  }
  for (const name of Object.keys(values)) {
    if (!fields.has(name)) throw new KernelError(`${kernel.key}: no uniform field '${name}' (has: ${[...fields.keys()].join(', ')})`);
  }
}
