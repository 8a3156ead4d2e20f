// Buffer pool: every tensor's GPU memory comes from here, so that a training step reuses last step's
// buffers instead of creating hundreds of GPUBuffers (createBuffer + the driver's zero-fill is the
// expensive part on the CPU adapters) and so that tests can prove nothing leaks.
//
// Sizes are rounded up to a bucket (powers of two and 1.5× between them: at most 33 % waste) so a
// freed buffer fits the next request of a similar size. Freed buffers are kept up to `capBytes`; past
// that the oldest free ones are destroyed.

const storageUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Smallest bucket: 256 bytes is also the storage-buffer offset alignment, so views can start anywhere a bucket does. */
const MIN_BUCKET = 256;

export function bucketSize(bytes: number): number {
  if (bytes <= MIN_BUCKET) return MIN_BUCKET;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  const mid = (p / 4) * 3; // 1.5 × the previous power of two
  return bytes <= mid ? mid : p;
}

export interface PoolStats {
  /** Bytes of buffers handed out and not yet released. */
  bytesInUse: number;
  /** Bytes of all buffers the pool owns (in use + cached free ones). */
  bytesHeld: number;
  /** Buffers handed out and not yet released. */
  buffersInUse: number;
  /** Tensors created and not yet disposed (maintained by the tensor layer). */
  liveTensors: number;
  /** Highest bytesInUse since creation or the last resetPeak(). */
  peakBytesInUse: number;
}

import { OutOfMemoryError } from '../errors.ts';
export { OutOfMemoryError };

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private freeOrder: GPUBuffer[] = [];
  private inUse = new Set<GPUBuffer>();
  private sizes = new WeakMap<GPUBuffer, number>();
  private held = 0;
  private used = 0;
  private peak = 0;
  liveTensors = 0;
  /**
   * Called before the pool destroys cached buffers. The engine submits its open command encoder here:
   * a released buffer may still be read by a dispatch encoded but not yet submitted, and WebGPU
   * rejects the submit of a command buffer that uses a destroyed buffer (seen on an H100, where the
   * unfused InfoNCE's 328 MB score buffers pushed the cache past its cap in the middle of a step).
   * Destroying after the submit is fine: the GPU keeps the memory until the submitted work is done.
   */
  beforeDestroy: (() => void) | null = null;

  constructor(
    private readonly device: GPUDevice,
    /** Cap on cached free bytes. */
    public capBytes = 1 << 30,
    /**
     * Cap on all bytes the pool holds (in use + cached): a memory budget for apps that share the GPU.
     * Past it the cache is freed and the request retried once, then OutOfMemoryError.
     */
    public limitBytes = Infinity,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = bucketSize(bytes);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.freeOrder.splice(this.freeOrder.indexOf(buf), 1);
    } else {
      buf = this.create(size);
      this.held += size;
    }
    this.inUse.add(buf);
    this.used += size;
    if (this.used > this.peak) this.peak = this.used;
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.inUse.delete(buf)) throw new Error('BufferPool.release: buffer is not in use (double free?)');
    const size = this.sizes.get(buf)!;
    this.used -= size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
    this.freeOrder.push(buf);
    this.trim(this.capBytes);
  }

  /** Destroy cached free buffers until at most `keepBytes` of them remain. */
  trim(keepBytes = 0): void {
    let cached = this.held - this.used;
    if (cached > keepBytes && this.freeOrder.length) this.beforeDestroy?.();
    while (cached > keepBytes && this.freeOrder.length) {
      const buf = this.freeOrder.shift()!;
      const size = this.sizes.get(buf)!;
      const list = this.free.get(size)!;
      list.splice(list.indexOf(buf), 1);
      buf.destroy();
      this.held -= size;
      cached -= size;
    }
  }

  stats(): PoolStats {
    return { bytesInUse: this.used, bytesHeld: this.held, buffersInUse: this.inUse.size, liveTensors: this.liveTensors, peakBytesInUse: this.peak };
  }

  /** Start a new peak measurement from what is in use now (tests assert an op's extra memory with it). */
  resetPeak(): void {
    this.peak = this.used;
  }

  /**
   * Throws if buffers or tensors are live beyond `baseline` (what was live before the code under test).
   * Used by the vitest afterEach in test/setup.ts.
   */
  checkLeaks(baseline: Pick<PoolStats, 'bytesInUse' | 'buffersInUse' | 'liveTensors'> = { bytesInUse: 0, buffersInUse: 0, liveTensors: 0 }): void {
    const s = this.stats();
    if (s.buffersInUse !== baseline.buffersInUse || s.liveTensors !== baseline.liveTensors || s.bytesInUse !== baseline.bytesInUse) {
      throw new Error(
        `GPU memory leak: ${s.liveTensors - baseline.liveTensors} tensors, ` +
          `${s.buffersInUse - baseline.buffersInUse} buffers, ${s.bytesInUse - baseline.bytesInUse} bytes still live`,
      );
    }
  }

  private create(size: number): GPUBuffer {
    const maxBuf = this.device.limits.maxBufferSize;
    if (size > maxBuf) throw new OutOfMemoryError(size, this.held, `larger than the device's maxBufferSize ${maxBuf}`);
    if (this.held + size > this.limitBytes) {
      this.trim(0);
      if (this.held + size > this.limitBytes) {
        throw new OutOfMemoryError(size, this.held, `past the pool limit of ${this.limitBytes} bytes with ${this.used} bytes in use, after freeing the cache`);
      }
    }
    // WebGPU reports allocation failure through error scopes, asynchronously; the synchronous signal we
    // get is an exception for absurd sizes. Free the cache and retry once before giving up.
    try {
      return this.createRaw(size);
    } catch (e) {
      this.trim(0);
      try {
        return this.createRaw(size);
      } catch (e2) {
        throw new OutOfMemoryError(size, this.held, (e2 as Error).message);
      }
    }
  }

  private createRaw(size: number): GPUBuffer {
    const buf = this.device.createBuffer({ size, usage: storageUsage() });
    this.sizes.set(buf, size);
    return buf;
  }
}
