// The engine: one device with its buffer pool, kernel registry and command stream. Tensors belong to
// the engine that made them; ops take their engine from their inputs.

import { getDevice } from './device.ts';
import type { DeviceOptions, Gpu } from './device.ts';
import { BufferPool } from './pool.ts';
import { KernelRegistry } from './kernels.ts';
import { Stream } from './stream.ts';

export interface EngineOptions extends DeviceOptions {
  /** Cap on bytes of free buffers the pool keeps cached (default 1 GiB). */
  poolCapBytes?: number;
}

export class Engine {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  readonly kernels: KernelRegistry;
  readonly stream: Stream;
  private destroyed = false;
  /** Validation/out-of-memory errors the device reported asynchronously (tests fail on any). */
  readonly deviceErrors: string[] = [];

  constructor(readonly gpu: Gpu, opts: EngineOptions = {}) {
    this.device = gpu.device;
    this.pool = new BufferPool(this.device, opts.poolCapBytes);
    this.kernels = new KernelRegistry(this.device);
    this.stream = new Stream(this.device);
    this.device.addEventListener('uncapturederror', (ev) => {
      const msg = (ev as GPUUncapturedErrorEvent).error.message;
      this.deviceErrors.push(msg);
      console.error(`[mufasa-gpu] device error: ${msg}`);
    });
  }

  static async create(opts: EngineOptions = {}): Promise<Engine> {
    return new Engine(await getDevice(opts), opts);
  }

  /** Workgroup size for 1-D elementwise kernels: 256 fits every adapter's invocation limit (SwiftShader's is 256). */
  get wg1d(): number {
    return Math.min(256, this.device.limits.maxComputeInvocationsPerWorkgroup);
  }

  /** Split `n` workgroups into a 2-D grid that respects maxComputeWorkgroupsPerDimension. */
  grid(n: number): [number, number] {
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (n <= max) return [n, 1];
    const y = Math.ceil(n / max);
    return [Math.ceil(n / y), y];
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.stream.flush();
    this.pool.trim(0);
    this.stream.destroy();
    if (current === this) current = null;
  }
}

let current: Engine | null = null;
let creating: Promise<Engine> | null = null;

/** Create (once) and return the default engine. */
export async function initEngine(opts: EngineOptions = {}): Promise<Engine> {
  if (current) return current;
  creating ??= Engine.create(opts).then((e) => (current = e)).finally(() => (creating = null));
  return creating;
}

/** The default engine; throws if `initEngine()` has not completed. */
export function engine(): Engine {
  if (!current) throw new Error('mufasa-gpu: no engine yet — `await initEngine()` first');
  return current;
}

export function setEngine(e: Engine | null): void {
  current = e;
}
