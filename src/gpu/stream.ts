// Command stream: ops append dispatches here; nothing waits on the GPU until someone reads a result.
//
// DESIGN.md §3, measured on the CPU fallback: ~18–20 µs per dispatch whatever the batching, but
// ~100–120 µs per submit-and-wait round trip. So every dispatch of a training step goes into one open
// compute pass of one command encoder, and the encoder is submitted only when a result is read back,
// a buffer is written from the CPU, or `maxPendingDispatches` is reached (a bound on how much work a
// single submit can hold, so a long loop without reads still streams to the GPU).
//
// Uniforms: each dispatch's small parameter struct goes into a 64 KiB chunk at a 256-byte aligned slot
// (minUniformBufferOffsetAlignment); chunks are written with queue.writeBuffer right before submit.
// Queue operations are ordered, so reusing the chunks for the next submit is safe.

import { packUniform } from './kernels.ts';
import type { Kernel } from './kernels.ts';
import { DeviceLostError, DeviceError } from '../errors.ts';
import type { GpuProfiler } from './profile.ts';

export interface BufferBinding {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

const CHUNK_BYTES = 65536;

export class Stream {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private chunks: GPUBuffer[] = [];
  private chunkImages: ArrayBuffer[] = [];
  private chunkIndex = 0;
  private chunkOffset = 0;
  private readonly slot: number;
  private pending = 0;
  dispatchCount = 0;
  submitCount = 0;
  maxPendingDispatches = 4096;
  /** Set by the engine when `device.lost` resolves. */
  lost: { reason: string; message: string } | null = null;
  /** Device errors reported asynchronously and not yet thrown (the engine's uncapturederror handler). */
  readonly errors: string[] = [];
  /** Profiling mode (src/gpu/profile.ts setProfiling): a timestamped pass per dispatch. */
  profiler: GpuProfiler | null = null;

  constructor(private readonly device: GPUDevice) {
    this.slot = Math.max(256, device.limits.minUniformBufferOffsetAlignment);
  }

  dispatch(
    kernel: Kernel,
    buffers: Record<string, GPUBuffer | BufferBinding>,
    params: Record<string, number | number[] | boolean>,
    workgroups: [number, number?, number?],
  ): void {
    this.assertAlive(kernel.key);
    const [x, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxWg = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new Error(`${kernel.key}: dispatch (${x}, ${y}, ${z}) exceeds maxComputeWorkgroupsPerDimension ${maxWg}`);
    }
    const entries: GPUBindGroupEntry[] = [];
    for (const b of kernel.bindings) {
      if (b.kind === 'uniform') {
        const { buffer, offset } = this.uniformSlot(b.size!);
        packUniform(kernel, params, new DataView(this.chunkImages[this.chunkIndex]), offset);
        entries.push({ binding: b.binding, resource: { buffer, offset, size: b.size! } });
      } else {
        const r = buffers[b.name];
        if (!r) throw new Error(`${kernel.key}: buffer '${b.name}' not given (needs: ${kernel.bindings.filter((x) => x.kind !== 'uniform').map((x) => x.name).join(', ')})`);
        entries.push({ binding: b.binding, resource: 'buffer' in r ? r : { buffer: r } });
      }
    }
    const group = this.device.createBindGroup({ layout: kernel.layout, entries });
    const prof = this.profiler;
    if (prof?.full) this.flush();
    if (prof) this.closePass();
    const pass = prof ? (this.pass = this.openEncoder().beginComputePass({ timestampWrites: prof.next(kernel.key) })) : this.openPass();
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(x, y, z);
    if (prof) this.closePass();
    this.dispatchCount++;
    if (++this.pending >= this.maxPendingDispatches) this.flush();
  }

  /** Encoder for copies (closes the open compute pass first). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.assertAlive('copy');
    this.closePass();
    this.openEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
    this.pending++;
  }

  /** CPU → GPU write, ordered after everything already encoded. */
  write(dst: GPUBuffer, dstOffset: number, data: ArrayBufferView): void {
    this.assertAlive('write');
    // queue.writeBuffer runs on the queue timeline immediately, i.e. *before* the not-yet-submitted
    // encoder: a buffer reused from the pool could be overwritten before its previous reader runs.
    if (this.pending) this.flush();
    this.device.queue.writeBuffer(dst, dstOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Submit everything encoded so far (no wait). */
  flush(): void {
    if (!this.encoder) return;
    if (this.lost) {
      // Nothing encoded can run any more; drop it so clean-up code (dispose, destroy) never throws.
      this.encoder = this.pass = null;
      this.pending = this.chunkIndex = this.chunkOffset = 0;
      return;
    }
    this.closePass();
    for (let i = 0; i <= this.chunkIndex && i < this.chunks.length; i++) {
      const used = i < this.chunkIndex ? CHUNK_BYTES : this.chunkOffset;
      if (used) this.device.queue.writeBuffer(this.chunks[i], 0, this.chunkImages[i], 0, used);
    }
    this.profiler?.resolve(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    this.profiler?.submitted();
    this.encoder = null;
    this.chunkIndex = 0;
    this.chunkOffset = 0;
    this.pending = 0;
    this.submitCount++;
  }

  /** Read `size` bytes of `src` back to the CPU (submits pending work, then waits for it). */
  async read(src: GPUBuffer, offset: number, size: number): Promise<ArrayBuffer> {
    this.assertAlive('read');
    const padded = Math.ceil(size / 4) * 4;
    const staging = this.device.createBuffer({ size: Math.max(4, padded), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      this.copy(src, offset, staging, 0, padded);
      this.flush();
      try {
        await gpuWait(staging.mapAsync(GPUMapMode.READ));
      } catch (e) {
        // A lost device rejects mapAsync with a bare AbortError, usually just before `device.lost`
        // resolves: give the lost promise a moment, then report the loss instead.
        if (!this.lost) await Promise.race([this.device.lost, new Promise((r) => setTimeout(r, 100))]);
        if (this.lost) throw new DeviceLostError(this.lost.reason, this.lost.message, 'read');
        throw e;
      }
      const data = staging.getMappedRange().slice(0, size);
      this.throwErrors('read');
      return data;
    } finally {
      staging.destroy();
    }
  }

  /** Wait until the GPU has finished everything submitted so far. */
  async sync(): Promise<void> {
    this.assertAlive('sync');
    this.flush();
    await gpuWait(this.device.queue.onSubmittedWorkDone());
    this.throwErrors('sync');
  }

  /** Throws DeviceError with the device errors reported since the last one thrown (Engine queues them). */
  private throwErrors(op: string): void {
    if (this.errors.length) throw new DeviceError(this.errors.splice(0), op);
  }

  private assertAlive(op: string): void {
    if (this.lost) throw new DeviceLostError(this.lost.reason, this.lost.message, op);
  }

  private openEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private openPass(): GPUComputePassEncoder {
    return (this.pass ??= this.openEncoder().beginComputePass());
  }

  private closePass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private uniformSlot(size: number): { buffer: GPUBuffer; offset: number } {
    if (this.chunkOffset + size > CHUNK_BYTES) {
      this.chunkIndex++;
      this.chunkOffset = 0;
    }
    if (this.chunkIndex === this.chunks.length) {
      this.chunks.push(this.device.createBuffer({ size: CHUNK_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }));
      this.chunkImages.push(new ArrayBuffer(CHUNK_BYTES));
    }
    const offset = this.chunkOffset;
    this.chunkOffset += Math.ceil(size / this.slot) * this.slot;
    return { buffer: this.chunks[this.chunkIndex], offset };
  }

  destroy(): void {
    for (const c of this.chunks) c.destroy();
    this.chunks = [];
  }
}

const sleepCell = typeof SharedArrayBuffer !== 'undefined' ? new Int32Array(new SharedArrayBuffer(4)) : null;
const inNode = typeof process !== 'undefined' && !!process.versions?.node;

/**
 * Await a GPU promise without spinning a core.
 *
 * DESIGN.md §3: a plain `await` on a Dawn promise makes dawn.node re-poll through setImmediate in a
 * tight loop, taking one of the two cores away from the CPU adapter that is doing the actual work;
 * sleeping 0.25 ms between polls measured 1.2–1.5× faster matmuls on llvmpipe-GL here. In the browser
 * the promise is awaited as is. Remove when dawn.node waits on an OS event instead of polling.
 */
export async function gpuWait<T>(p: Promise<T>): Promise<T> {
  if (!inNode || !sleepCell) return p;
  let done = false;
  const q = p.finally(() => {
    done = true;
  });
  // q is awaited only after the polling loop; without a handler now, a rejection while we poll (a lost
  // device rejects mapAsync) is reported as an unhandled rejection and fails the process/test run.
  q.catch(() => {});
  while (!done) {
    Atomics.wait(sleepCell, 0, 0, 0.25);
    await new Promise<void>((r) => setImmediate(r));
  }
  return q;
}
