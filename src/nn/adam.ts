// Adam / AdamW over parameter groups, one fused dispatch per group (shaders/adam.wgsl).
//
// At construction each group's parameters move into one flat arena (their tensors become views of
// it, offsets padded to 64 floats = the 256-byte binding alignment so every parameter stays bindable
// on its own), and each parameter's `.grad` becomes a view of a matching gradient arena that backward
// accumulates into in place. A step is then: optional global-norm clipping (two reduction dispatches,
// the scale stays on the GPU), and one Adam dispatch per group — no CPU readback.

import type { Engine } from '../gpu/engine.ts';
import { Storage, Tensor, TensorError } from '../tensor/tensor.ts';
import { DTypeError, DeviceMismatchError } from '../errors.ts';
import { keep } from '../tensor/scope.ts';
import { dispatch1d } from '../tensor/ops/util.ts';
import type { NamedArray } from '../train/checkpoint.ts';

/** Optimizer state for checkpoints: the step count and every group's moments (`adam.<g>.m` / `.v`). */
export interface AdamState {
  step: number;
  arrays: NamedArray[];
}

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Weight decay: decoupled (AdamW) when `decoupled`, else added to the gradient (Adam's L2). */
  weightDecay?: number;
  decoupled?: boolean;
}

export interface ParamGroup extends Partial<AdamOptions> {
  params: Tensor[];
}

export interface OptimizerOptions extends AdamOptions {
  /** Clip the global gradient norm (over all groups) to this value; 0 or undefined: no clipping. */
  clipNorm?: number;
}

const ALIGN = 64; // floats: 256 bytes

interface Arena {
  opts: Required<AdamOptions>;
  params: Tensor[];
  size: number;
  p: Storage;
  g: Storage;
  m: Storage;
  v: Storage;
}

export class Adam {
  readonly groups: Arena[] = [];
  readonly engine: Engine;
  private t = 0;
  private partials: Storage;
  private partialCounts: number[] = [];
  /** [‖g‖, clip scale] of the last step, on the GPU. */
  readonly clipState: Tensor;
  private clipNorm: number;
  private disposed = false;

  constructor(groups: Tensor[] | ParamGroup[], opts: OptimizerOptions) {
    const list: ParamGroup[] = groups.length && groups[0] instanceof Tensor ? [{ params: groups as Tensor[] }] : (groups as ParamGroup[]);
    const all = list.flatMap((g) => g.params);
    if (!all.length) throw new TensorError('Adam: no parameters given');
    this.engine = all[0].engine;
    if (new Set(all).size !== all.length) throw new TensorError('Adam: a parameter appears twice');
    this.clipNorm = opts.clipNorm ?? 0;
    const wg = this.engine.wg1d;
    let partialTotal = 0;
    for (const g of list) {
      const o: Required<AdamOptions> = {
        lr: g.lr ?? opts.lr,
        beta1: g.beta1 ?? opts.beta1 ?? 0.9,
        beta2: g.beta2 ?? opts.beta2 ?? 0.999,
        eps: g.eps ?? opts.eps ?? 1e-8,
        weightDecay: g.weightDecay ?? opts.weightDecay ?? 0,
        decoupled: g.decoupled ?? opts.decoupled ?? false,
      };
      const arena = this.makeArena(g.params, o);
      this.groups.push(arena);
      const parts = Math.ceil(arena.size / this.chunk(arena.size, wg));
      this.partialCounts.push(parts);
      partialTotal += parts;
    }
    this.partials = Storage.alloc(this.engine, partialTotal);
    this.clipState = keep(Tensor.empty([2], 'f32', this.engine));
    this.fill(this.clipState.storage, 2, 1);
  }

  /** Elements per stage-1 workgroup: ≥ 16 per thread, and at most 65535 workgroups. */
  private chunk(n: number, wg: number): number {
    return Math.max(wg * 16, Math.ceil(n / 65535));
  }

  private makeArena(params: Tensor[], opts: Required<AdamOptions>): Arena {
    const e = this.engine;
    let size = 0;
    const offsets = params.map((p) => {
      p.assertAlive('Adam');
      if (p.engine !== e) throw new DeviceMismatchError('Adam', `${p} lives on another device (engine) than the optimizer's first parameter`);
      if (p.dtype !== 'f32') throw new DTypeError('Adam', 'f32', p.dtype, `${p}`);
      if (!p.requiresGrad) throw new TensorError(`Adam: ${p}${p.name ? ` (${p.name})` : ''} does not require grad`);
      if (p.node) throw new TensorError(`Adam: ${p} is not a leaf (it was computed from other tensors)`);
      const off = size;
      size += Math.ceil(Math.max(p.size, 1) / ALIGN) * ALIGN;
      return off;
    });
    const arena: Arena = {
      opts,
      params,
      size,
      p: Storage.alloc(e, size),
      g: Storage.alloc(e, size),
      m: Storage.alloc(e, size),
      v: Storage.alloc(e, size),
    };
    for (const s of [arena.p, arena.g, arena.m, arena.v]) this.fill(s, size, 0);
    params.forEach((p, i) => {
      // Move the parameter's values into the arena and make the tensor a view of it.
      const src = p.binding('Adam');
      e.stream.copy(src.buffer, src.offset!, arena.p.buffer, offsets[i] * 4, p.size * 4);
      p.storage.release();
      p.storage = arena.p.retain();
      p.offset = offsets[i];
      if (p.grad) p.grad.dispose();
      const grad = keep(new Tensor(arena.g.retain(), p.shape, 'f32', undefined, offsets[i]));
      p.grad = grad;
      p.gradIsAccumulator = true;
    });
    return arena;
  }

  private fill(s: Storage, n: number, value: number): void {
    dispatch1d(this.engine, 'elementwise', 'fill', {}, { dst: { buffer: s.buffer, offset: 0, size: n * 4 } }, { n, value }, n);
  }

  /** Zero every gradient accumulator (one dispatch per group). */
  zeroGrad(): void {
    this.assertAlive();
    for (const a of this.groups) this.fill(a.g, a.size, 0);
  }

  /** One optimizer step from the accumulated gradients. Encodes only; nothing waits on the GPU. */
  step(): void {
    this.assertAlive();
    this.t++;
    const e = this.engine;
    const wg = e.wg1d;
    const scale = { buffer: this.clipState.storage.buffer, offset: 0, size: 8 };
    if (this.clipNorm > 0) {
      const k1 = e.kernels.get('adam', 'sumsq_partial', { WG: wg });
      let at = 0;
      this.groups.forEach((a, gi) => {
        const chunk = this.chunk(a.size, wg);
        e.stream.dispatch(k1, { grads: { buffer: a.g.buffer, offset: 0, size: a.size * 4 }, partials: { buffer: this.partials.buffer, offset: 0, size: this.partials.bytes } }, { n: a.size, chunk, out_offset: at }, [this.partialCounts[gi]]);
        at += this.partialCounts[gi];
      });
      const k2 = e.kernels.get('adam', 'clip_scale', { WG: wg });
      e.stream.dispatch(k2, { parts: { buffer: this.partials.buffer, offset: 0, size: at * 4 }, clip: scale }, { count: at, max_norm: this.clipNorm }, [1]);
    }
    for (const a of this.groups) {
      const o = a.opts;
      dispatch1d(
        e,
        'adam',
        'adam_step',
        {},
        {
          p: { buffer: a.p.buffer, offset: 0, size: a.size * 4 },
          g: { buffer: a.g.buffer, offset: 0, size: a.size * 4 },
          m: { buffer: a.m.buffer, offset: 0, size: a.size * 4 },
          v: { buffer: a.v.buffer, offset: 0, size: a.size * 4 },
          scale,
        },
        {
          n: a.size,
          lr: o.lr,
          beta1: o.beta1,
          beta2: o.beta2,
          eps: o.eps,
          wd: o.weightDecay,
          bc1: 1 - o.beta1 ** this.t,
          bc2: 1 - o.beta2 ** this.t,
          decoupled: o.decoupled ? 1 : 0,
        },
        a.size,
      );
    }
  }

  get stepCount(): number {
    return this.t;
  }

  /**
   * The moments of every group, read back from the GPU (whole arenas, padding included: it is zero and
   * stays zero, and the arena layout is fixed by the parameter list, so a fresh optimizer over the same
   * parameters accepts it). With the step count this is all a resumed run needs to continue bit-exactly.
   */
  async exportState(): Promise<AdamState> {
    this.assertAlive();
    const arrays: NamedArray[] = [];
    for (const [gi, a] of this.groups.entries()) {
      for (const k of ['m', 'v'] as const) {
        const t = new Tensor(a[k].retain(), [a.size], 'f32');
        try {
          arrays.push({ name: `adam.${gi}.${k}`, shape: [a.size], data: (await t.data()) as Float32Array });
        } finally {
          t.dispose();
        }
      }
    }
    return { step: this.t, arrays };
  }

  /** Write back a state from exportState (same parameter list: every group's size must match). */
  importState(s: AdamState): void {
    this.assertAlive();
    if (!Number.isSafeInteger(s.step) || s.step < 0) throw new TensorError(`Adam.importState: bad step count ${s.step}`);
    const byName = new Map(s.arrays.map((a) => [a.name, a]));
    const expected = new Set(this.groups.flatMap((_, gi) => [`adam.${gi}.m`, `adam.${gi}.v`]));
    for (const n of byName.keys()) if (!expected.has(n)) throw new TensorError(`Adam.importState: unexpected array '${n}' (the optimizer has ${this.groups.length} group(s))`);
    const writes: [Storage, Float32Array][] = [];
    for (const [gi, a] of this.groups.entries()) {
      for (const k of ['m', 'v'] as const) {
        const arr = byName.get(`adam.${gi}.${k}`);
        if (!arr) throw new TensorError(`Adam.importState: missing 'adam.${gi}.${k}'`);
        if (!(arr.data instanceof Float32Array) || arr.data.length !== a.size) {
          throw new TensorError(`Adam.importState: 'adam.${gi}.${k}' has ${arr.data.length} values, group ${gi} needs ${a.size} f32 (another model or config?)`);
        }
        writes.push([a[k], arr.data]);
      }
    }
    for (const [st, d] of writes) this.engine.stream.write(st.buffer, 0, d);
    this.t = s.step;
  }

  /** Set the learning rate of every group (schedules). */
  setLearningRate(lr: number): void {
    for (const a of this.groups) a.opts.lr = lr;
  }

  /** The global gradient norm measured by the last clipped step (reads back: not for the hot loop). */
  async lastGradNorm(): Promise<number> {
    if (this.clipNorm <= 0) throw new TensorError('Adam.lastGradNorm: clipping is off, the norm is not computed');
    return (await this.clipState.data())[0];
  }

  private assertAlive(): void {
    if (this.disposed) throw new TensorError('Adam: optimizer was disposed');
  }

  /** Free the optimizer state (moments, gradient arenas). Parameters keep their arena storage. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const a of this.groups) {
      for (const p of a.params) {
        if (p.gradIsAccumulator && p.grad) {
          p.grad.dispose();
          p.grad = null;
          p.gradIsAccumulator = false;
        }
      }
      a.p.release();
      a.g.release();
      a.m.release();
      a.v.release();
    }
    this.partials.release();
    this.clipState.dispose();
  }
}

/** AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019). */
export class AdamW extends Adam {
  constructor(groups: Tensor[] | ParamGroup[], opts: OptimizerOptions) {
    super(groups, { weightDecay: 0.01, ...opts, decoupled: true });
  }
}
