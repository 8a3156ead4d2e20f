// Tensors: a shape and strides over a reference-counted GPU buffer (Storage). Views (reshape,
// transpose, slice) share the storage; kernels read contiguous, 256-byte-aligned data, and
// `contiguous()` materialises a view when a kernel needs it.

import { engine as defaultEngine } from '../gpu/engine.ts';
import type { Engine } from '../gpu/engine.ts';
import type { BufferBinding } from '../gpu/stream.ts';
import { trackInScope } from './scope.ts';
import { backward as runBackward } from './tape.ts';
import type { GradNode, BackwardOptions } from './tape.ts';
import { TensorError, ShapeError, DisposedTensorError } from '../errors.ts';

export type DType = 'f32' | 'i32';

// The error classes live in src/errors.ts (the one list users catch from); re-exported here for the ops.
export { TensorError, ShapeError } from '../errors.ts';

/** A GPU buffer shared by a tensor and its views; returned to the pool when the last one lets go. */
export class Storage {
  private refs = 1;
  constructor(readonly engine: Engine, readonly buffer: GPUBuffer, readonly bytes: number) {}

  retain(): this {
    if (this.refs <= 0) throw new TensorError('internal: retain of freed storage');
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs === 0) this.engine.pool.release(this.buffer);
    else if (this.refs < 0) throw new TensorError('internal: storage released twice');
  }

  static alloc(engine: Engine, elements: number): Storage {
    const bytes = Math.max(4, elements * 4);
    return new Storage(engine, engine.pool.acquire(bytes), bytes);
  }
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: readonly number[], op: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(op, `bad shape [${shape.join(', ')}]: dimensions must be non-negative integers`);
  }
}

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  readonly engine: Engine;
  readonly strides: readonly number[];
  requiresGrad = false;
  grad: Tensor | null = null;
  /** Set on leaves whose `.grad` is a pre-allocated accumulator (optimizer arenas): backward adds in place. */
  gradIsAccumulator = false;
  node: GradNode | null = null;
  name?: string;
  private disposed_ = false;

  constructor(
    public storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
    strides?: readonly number[],
    /** Element offset into the storage. */
    public offset = 0,
    /** Internal tensors (tensors saved for backward) are not counted as live nor tracked by scopes. */
    readonly internal = false,
  ) {
    this.engine = storage.engine;
    this.strides = strides ?? contiguousStrides(shape);
    if (!internal) {
      this.engine.pool.liveTensors++;
      trackInScope(this);
    }
  }

  /** A new contiguous tensor with fresh (uninitialised) storage. */
  static empty(shape: readonly number[], dtype: DType = 'f32', engine: Engine = defaultEngine()): Tensor {
    checkShape(shape, 'empty');
    return new Tensor(Storage.alloc(engine, sizeOf(shape)), [...shape], dtype);
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.disposed_;
  }

  isContiguous(): boolean {
    const c = contiguousStrides(this.shape);
    for (let i = 0; i < this.shape.length; i++) if (this.shape[i] !== 1 && this.strides[i] !== c[i]) return false;
    return true;
  }

  assertAlive(op: string): void {
    if (this.disposed_) throw new DisposedTensorError(op, `tensor #${this.id}${this.name ? ` (${this.name})` : ''} [${this.shape.join(', ')}]`);
  }

  /** The buffer range a kernel binds: requires a contiguous tensor whose offset meets the 256-byte alignment. */
  binding(op = 'kernel'): BufferBinding {
    this.assertAlive(op);
    if (!this.isContiguous()) throw new TensorError(`${op}: internal: binding a non-contiguous view; call contiguous() first`);
    const offset = this.offset * 4;
    if (offset % this.engine.device.limits.minStorageBufferOffsetAlignment !== 0) {
      throw new TensorError(`${op}: internal: view offset ${this.offset} is not 256-byte aligned; call contiguous() first`);
    }
    const size = Math.max(4, this.size * 4);
    const max = this.engine.device.limits.maxStorageBufferBindingSize;
    if (size > max) {
      throw new TensorError(`${op}: tensor [${this.shape.join(', ')}] is ${size} bytes, more than this adapter binds at once (maxStorageBufferBindingSize ${max})`);
    }
    return { buffer: this.storage.buffer, offset, size };
  }

  /** True if `binding()` would succeed. */
  isBindable(): boolean {
    return this.isContiguous() && (this.offset * 4) % this.engine.device.limits.minStorageBufferOffsetAlignment === 0;
  }

  /** A view over the same storage (no copy). */
  view(shape: readonly number[], strides: readonly number[], offset: number, internal = false): Tensor {
    this.assertAlive('view');
    const t = new Tensor(this.storage.retain(), shape, this.dtype, strides, offset, internal);
    return t;
  }

  /** Read the values back (waits for the GPU). */
  async data(): Promise<Float32Array | Int32Array> {
    this.assertAlive('data');
    const { contiguous } = await import('./ops/layout.ts');
    const c = this.isBindable() ? this : contiguous(this);
    try {
      const b = c.binding('data');
      const raw = await this.engine.stream.read(b.buffer, b.offset!, this.size * 4);
      return this.dtype === 'f32' ? new Float32Array(raw) : new Int32Array(raw);
    } finally {
      if (c !== this) c.dispose();
    }
  }

  async array(): Promise<number[]> {
    return Array.from(await this.data());
  }

  /** Release this tensor's GPU memory (its storage returns to the pool when no view uses it). */
  dispose(): void {
    if (this.disposed_) return;
    this.disposed_ = true;
    if (!this.internal) this.engine.pool.liveTensors--;
    this.storage.release();
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
    if (this.node) {
      this.node.outputReleased();
      this.node = null;
    }
  }

  /** Backpropagate from this tensor (see tape.ts `backward`). */
  backward(grad?: Tensor, opts?: BackwardOptions): void {
    runBackward(this, grad, opts);
  }

  toString(): string {
    return `Tensor#${this.id}[${this.shape.join(', ')}] ${this.dtype}${this.requiresGrad ? ' requiresGrad' : ''}`;
  }
}
