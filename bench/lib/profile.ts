// Per-kernel profile of one step: record every stream operation (dispatch, CPU write, copy) the step
// issues, then replay them in the same order, syncing after each dispatch and timing it. Replaying the
// writes and copies too keeps pool buffers that the step reuses holding what they held at that point,
// so data-dependent kernels (selective attention's block lists, the inverse index) see the same data.
// Wall-clock per dispatch includes a submit-and-wait round trip (~0.1 ms, DESIGN.md §3), so sums run
// above the step's own time by about 0.1 ms × dispatches.

import type { Engine } from '../../src/gpu/engine.ts';
import type { Kernel } from '../../src/gpu/kernels.ts';
import type { Stream } from '../../src/gpu/stream.ts';

type Op =
  | { kind: 'dispatch'; args: Parameters<Stream['dispatch']> }
  | { kind: 'write'; dst: GPUBuffer; offset: number; data: Uint8Array }
  | { kind: 'copy'; args: Parameters<Stream['copy']> };

export interface KernelTime {
  /** shader:entry (override constants left out, except MODE). */
  kernel: string;
  calls: number;
  ms: number;
}

/** Runs `step` once while recording, replays it `reps` times, and returns the best time per kernel summed over its calls. */
export async function profileStep(e: Engine, step: () => Promise<void>, reps = 2): Promise<KernelTime[]> {
  const s = e.stream;
  const ops: Op[] = [];
  const orig = { dispatch: s.dispatch, write: s.write, copy: s.copy };
  s.dispatch = function (...args) {
    ops.push({ kind: 'dispatch', args: [...args] as Parameters<Stream['dispatch']> });
    return orig.dispatch.apply(this, args);
  };
  s.write = function (dst, dstOffset, data) {
    ops.push({ kind: 'write', dst, offset: dstOffset, data: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });
    return orig.write.call(this, dst, dstOffset, data);
  };
  s.copy = function (...args) {
    ops.push({ kind: 'copy', args: [...args] as Parameters<Stream['copy']> });
    return orig.copy.apply(this, args);
  };
  try {
    await step();
  } finally {
    Object.assign(s, orig);
    delete (s as Partial<Stream>).dispatch;
    delete (s as Partial<Stream>).write;
    delete (s as Partial<Stream>).copy;
  }
  const best = new Map<number, number>();
  for (let r = 0; r < reps; r++) {
    await s.sync();
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (op.kind === 'write') s.write(op.dst, op.offset, op.data);
      else if (op.kind === 'copy') s.copy(...op.args);
      else {
        const t0 = performance.now();
        s.dispatch(...op.args);
        await s.sync();
        const ms = performance.now() - t0;
        best.set(i, Math.min(best.get(i) ?? Infinity, ms));
      }
    }
  }
  const byKernel = new Map<string, KernelTime>();
  for (const [i, ms] of best) {
    const k = ops[i] as { args: [Kernel, ...unknown[]] };
    const [shader, entry, consts = ''] = k.args[0].key.split(':');
    const mode = /(?:^|,)MODE=(\d+)/.exec(consts);
    const name = `${shader}:${entry}${mode ? ` MODE=${mode[1]}` : ''}`;
    const row = byKernel.get(name) ?? { kernel: name, calls: 0, ms: 0 };
    row.calls++;
    row.ms += ms;
    byKernel.set(name, row);
  }
  return [...byKernel.values()].sort((a, b) => b.ms - a.ms);
}
