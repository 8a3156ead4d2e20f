// Wall-clock timing of GPU work: every repetition ends in a GPU sync, so a sample is submit + execute +
// wait. Timestamp queries exist only on SwiftShader (not on the GL compatibility adapter), so wall clock
// is used on every adapter to keep numbers comparable; it includes ~0.1 ms of submit/wait round trip
// (DESIGN.md §3), negligible next to the millisecond-scale kernels timed here.

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One timed sample: run `work` (which must end with its own GPU sync) and return elapsed ms. */
export async function sample(work: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

export interface RepOptions {
  warmup: number;
  reps: number;
}

/**
 * Time several contenders round-robin (a, b, a, b, …) so machine noise — other processes on this
 * 2-core box — lands on all of them alike. Returns one sample list per contender.
 */
export async function timeInterleaved(works: ReadonlyArray<() => Promise<void>>, o: RepOptions): Promise<number[][]> {
  for (let i = 0; i < o.warmup; i++) for (const w of works) await w();
  const out = works.map(() => [] as number[]);
  for (let i = 0; i < o.reps; i++) for (let j = 0; j < works.length; j++) out[j].push(await sample(works[j]));
  return out;
}

export function gflops(flops: number, ms: number): number {
  return flops / (ms * 1e6);
}
