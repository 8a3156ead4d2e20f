// Opt-in per-kernel GPU time from timestamp queries (DESIGN §3 "Profiling"; the demo's kernel table).
//
// Timestamps can only be written at the start and end of a pass (timestampWrites), so in profiling
// mode the stream gives every dispatch a compute pass of its own. That costs a little per dispatch,
// which is why it is a mode and not always on. Queries are resolved into a buffer when the stream
// submits, copied to a staging buffer and mapped without blocking; `table()` waits for the
// outstanding maps. Adapters without 'timestamp-query' (the GL compatibility adapter) get no profiler.
//
// Chromium quantizes WebGPU timestamps to 100 µs unless it runs with
// --enable-webgpu-developer-features; on the CPU adapters most kernels take longer than that anyway.

import type { Engine } from './engine.ts';

/** Dispatches per query set: 2 queries each, and 4096 is the largest query set WebGPU guarantees. */
const CAPACITY = 2048;

export interface KernelTime {
  /** shader:entry (override constants left out). */
  kernel: string;
  calls: number;
  ms: number;
}

export class GpuProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private labels: string[] = [];
  private readonly totals = new Map<string, { calls: number; ns: number }>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly unmapped: { staging: GPUBuffer; labels: string[] }[] = [];

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * CAPACITY });
    this.resolveBuf = device.createBuffer({ size: 2 * CAPACITY * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }

  /** True when the query set is used up: the stream submits before the next dispatch. */
  get full(): boolean {
    return this.labels.length >= CAPACITY;
  }

  /** Timestamp writes for the pass of the next dispatch of `kernelKey`. */
  next(kernelKey: string): GPUComputePassTimestampWrites {
    const i = this.labels.length;
    this.labels.push(kernelKey.split(':').slice(0, 2).join(':'));
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Encode the resolve of this submit's queries (the stream calls this before finishing its encoder). */
  resolve(encoder: GPUCommandEncoder): void {
    const n = this.labels.length;
    if (!n) return;
    const labels = this.labels;
    this.labels = [];
    const staging = this.device.createBuffer({ size: n * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    encoder.copyBufferToBuffer(this.resolveBuf, 0, staging, 0, n * 16);
    this.unmapped.push({ staging, labels });
  }

  /** Map this submit's staging buffers (after queue.submit: a buffer mapping at submit is an error). */
  submitted(): void {
    for (const { staging, labels } of this.unmapped.splice(0)) {
      const p: Promise<void> = staging
        .mapAsync(GPUMapMode.READ)
        .then(() => {
          const t = new BigInt64Array(staging.getMappedRange());
          labels.forEach((k, j) => {
            const dt = Number(t[2 * j + 1] - t[2 * j]);
            const r = this.totals.get(k) ?? { calls: 0, ns: 0 };
            r.calls++;
            r.ns += Math.max(0, dt);
            this.totals.set(k, r);
          });
        })
        .catch(() => {}) // device lost or destroyed: the profile just misses this submit
        .finally(() => {
          staging.destroy();
          this.inFlight.delete(p);
        });
      this.inFlight.add(p);
    }
  }

  /** Time per kernel since the last reset, most expensive first (waits for submitted work). */
  async table(): Promise<KernelTime[]> {
    await Promise.all([...this.inFlight]);
    return [...this.totals].map(([kernel, r]) => ({ kernel, calls: r.calls, ms: r.ns / 1e6 })).sort((a, b) => b.ms - a.ms);
  }

  reset(): void {
    this.totals.clear();
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
  }
}

/** Turn profiling mode on (returns the profiler) or off (null); null too when the adapter has no timestamp queries. */
export function setProfiling(e: Engine, on: boolean): GpuProfiler | null {
  e.stream.flush();
  const old = e.stream.profiler;
  if (!on || !e.gpu.hasTimestamps) {
    e.stream.profiler = null;
    old?.destroy();
    return null;
  }
  return (e.stream.profiler = old ?? new GpuProfiler(e.device));
}
