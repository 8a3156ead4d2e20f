// The engine: one device with its buffer pool, kernel registry and command stream. Tensors belong to
// the engine that made them; ops take their engine from their inputs.

import { getDevice } from './device.ts';
import type { DeviceOptions, Gpu } from './device.ts';
import { BufferPool } from './pool.ts';
import { KernelRegistry } from './kernels.ts';
import { Stream } from './stream.ts';
import { DeviceLostError } from '../errors.ts';

export interface EngineOptions extends DeviceOptions {
  /** Cap on bytes of free buffers the pool keeps cached (default 1 GiB). */
  poolCapBytes?: number;
  /** Cap on all bytes the pool holds (default: none; the device's own limits apply). */
  poolLimitBytes?: number;
}

export class Engine {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  readonly kernels: KernelRegistry;
  readonly stream: Stream;
  private destroyed = false;
  /** Validation/out-of-memory errors the device reported asynchronously (tests fail on any); the stream
   * also throws them as DeviceError from its next readback or sync. */
  readonly deviceErrors: string[] = [];
  /** Set once `device.lost` resolves: from then on every op and readback throws DeviceLostError. */
  lostInfo: { reason: string; message: string } | null = null;

  constructor(readonly gpu: Gpu, opts: EngineOptions = {}) {
    this.device = gpu.device;
    this.pool = new BufferPool(this.device, opts.poolCapBytes, opts.poolLimitBytes);
    this.kernels = new KernelRegistry(this.device);
    this.stream = new Stream(this.device);
    this.pool.beforeDestroy = () => this.stream.flush();
    this.device.addEventListener('uncapturederror', (ev) => {
      const msg = (ev as GPUUncapturedErrorEvent).error.message;
      this.deviceErrors.push(msg);
      // Also queued for the stream: its next readback or sync throws DeviceError, so a caller (the
      // trainer's loss readback) stops instead of carrying on with results of work that never ran.
      this.stream.errors.push(msg);
      console.error(`[mufasa-gpu] device error: ${msg}`);
    });
    // Device loss (driver reset, GPU removed, destroy()) is reported only through this promise; the
    // stream checks the flag, so the next op or readback throws instead of silently doing nothing
    // (Dawn turns every call on a lost device into a no-op and rejects mapAsync with a bare AbortError).
    this.device.lost.then((info) => {
      if (this.destroyed && info.reason === 'destroyed') return;
      this.lostInfo = { reason: info.reason ?? 'unknown', message: info.message ?? '' };
      this.stream.lost = this.lostInfo;
      if (!opts.quiet) console.error(`[mufasa-gpu] ${new DeviceLostError(this.lostInfo.reason, this.lostInfo.message).message}`);
    });
  }

  get lost(): boolean {
    return this.lostInfo !== null;
  }

  /** Throws DeviceLostError naming `op` if the device is gone. */
  assertAlive(op: string): void {
    if (this.lostInfo) throw new DeviceLostError(this.lostInfo.reason, this.lostInfo.message, op);
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

/** Create (once) and return the default engine; after a device loss, a new engine on a new device. */
export async function initEngine(opts: EngineOptions = {}): Promise<Engine> {
  if (current && !current.lost) return current;
  if (current) current = null;
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
