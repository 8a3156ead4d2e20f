// Matmul kernel lab (DESIGN.md §7, after llm.c's dev/cuda): numbered kernel versions in bench/matmul/,
// each checked against a float64 CPU reference before it is timed, swept over tile sizes (WGSL override
// constants) at the shapes MUFASA trains with, and compared with TensorFlow.js's WebGPU backend on the
// same Dawn device.
//
//   v1  naive, one invocation per output
//   v2  register-blocked TM×TN per invocation, no workgroup memory (v2loops: the same as loops, slow)
//   v3  v2 with vec4 loads/stores (needs K divisible by 4; scalar B/C when N is not)
//   v4  workgroup-memory tiles BM×BN×BK, TM×TN per invocation
//   prod  the production op `matmul()` from src/tensor/ops/matmul.ts, when it exists
//
// Timing is wall clock around encode + submit + `await e.stream.sync()` on every adapter: timestamp
// queries exist only on SwiftShader, and one method for all keeps the adapters comparable.
// All contenders of a shape (our variants and tfjs) are timed in rounds, one run each per round in
// rotating order, so load from other processes — the dev boxes have 2 cores and run other work —
// hits all of them alike; ours_ms is the best variant's median from those same rounds.

import { readFileSync } from 'node:fs';
import { Engine, setEngine } from '../src/gpu/engine.ts';
import { defaultLoader, setShaderSourceLoader } from '../src/gpu/kernels.ts';
import { Tensor } from '../src/tensor/tensor.ts';
import { tensor } from '../src/tensor/ops/creation.ts';
import type { BufferBinding } from '../src/gpu/stream.ts';
import type { BenchArgs } from './lib/args.ts';
import { median, timeInterleaved, gflops, sample } from './lib/timing.ts';
import { markdownTable, fmtNum } from './lib/table.ts';
import { writeJson, machineInfo, currentLoad } from './lib/json.ts';
import { randomMatrix, matmulReference, checkMatmul } from './lib/reference.ts';
import type { MatmulReference } from './lib/reference.ts';
import { loadTfjs } from './lib/tfjs.ts';
import type { TfjsHandle } from './lib/tfjs.ts';

export interface Shape {
  M: number;
  N: number;
  K: number;
}

export const DEFAULT_SHAPES = ['256x256x256', '1024x1024x64', '1024x1682x64', '1024x20000x64', '1024x1024x1024'];
/** --quick without --shapes: the two shapes that finish in seconds even for tfjs on SwiftShader. */
const QUICK_SHAPES = ['256x256x256', '1024x1024x64'];
/** Above this many FLOPs a shape is "big": only the variants marked `big` are swept there. */
const BIG_FLOPS = 1e9;
/** A variant whose single (correctness) run takes longer than this is reported but not timed. */
const MAX_RUN_MS = 4000;

export function parseShape(s: string): Shape {
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`shape '${s}': expected MxNxK, e.g. 1024x1682x64`);
  return { M: +m[1], N: +m[2], K: +m[3] };
}

const shapeName = (s: Shape) => `${s.M}x${s.N}x${s.K}`;

// ------------------------------------------------------------------------------------------ variants

interface Ctx {
  e: Engine;
  s: Shape;
  a: Tensor;
  b: Tensor;
  c: Tensor;
}

interface Variant {
  name: string;
  version: string;
  constants: Record<string, number | boolean | string>;
  /** Swept at big shapes too. */
  big: boolean;
  /** In the --quick sweep. */
  quick: boolean;
  /** Why it cannot run this shape, or null. */
  unsupported?: (s: Shape, e: Engine) => string | null;
  /** The WGSL entry point used at this shape (lab kernels). */
  entry?: (s: Shape) => string;
  /** Encode the product; returns the output tensor (ctx.c, or a new one the caller disposes). */
  encode: (ctx: Ctx) => Tensor;
}

const LAB = 'matmul-lab/';
const labDir = new URL('./matmul/', import.meta.url);
const labFiles: Record<string, string> = {
  v1: 'v1_naive',
  v2loops: 'v2_loops',
  v2: 'v2_regblock',
  v3: 'v3_regblock_vec4',
  v4: 'v4_shared',
};

function installLabLoader(): void {
  setShaderSourceLoader((name) => (name.startsWith(LAB) ? readFileSync(new URL(`${name.slice(LAB.length)}.wgsl`, labDir), 'utf8') : defaultLoader(name)));
}

type LabFile = keyof typeof labFiles;

function labVariant(
  version: LabFile,
  constants: Record<string, number | boolean>,
  perWg: (c: Record<string, number | boolean>) => [number, number],
  opts: { big?: boolean; quick?: boolean; label?: string; unsupported?: Variant['unsupported'] } = {},
): Variant {
  const [tileN, tileM] = perWg(constants);
  const wg = +constants.WGX * +constants.WGY;
  const name = `${version} ${opts.label ?? ''}`.trim();
  return {
    name,
    version,
    constants,
    big: opts.big ?? false,
    quick: opts.quick ?? false,
    unsupported: (s, e) => {
      if (wg > e.device.limits.maxComputeInvocationsPerWorkgroup) return `workgroup of ${wg} > maxComputeInvocationsPerWorkgroup ${e.device.limits.maxComputeInvocationsPerWorkgroup}`;
      return opts.unsupported?.(s, e) ?? null;
    },
    entry: (s) => (version === 'v3' && s.N % 4 !== 0 ? 'main_sb' : 'main'),
    encode: ({ e, s, a, b, c }) => {
      // v3 reads B / writes C as vec4 only when rows start on a vec4 boundary (N % 4 == 0).
      const scalarB = version === 'v3' && s.N % 4 !== 0;
      const k = e.kernels.get(LAB + labFiles[version], scalarB ? 'main_sb' : 'main', constants);
      const bufs: Record<string, BufferBinding> = scalarB ? { a: a.binding(), bs: b.binding(), cs: c.binding() } : { a: a.binding(), b: b.binding(), c: c.binding() };
      e.stream.dispatch(k, bufs, { M: s.M, N: s.N, K: s.K }, [Math.ceil(s.N / tileN), Math.ceil(s.M / tileM)]);
      return c;
    },
  };
}

const regTile = (c: Record<string, number | boolean>): [number, number] => [+c.WGX * +c.TN, +c.WGY * +c.TM];
const vec4A = (s: Shape) => (s.K % 4 ? `vec4 loads of A need K divisible by 4 (K % 4 = ${s.K % 4})` : null);

function labVariants(): Variant[] {
  const v: Variant[] = [];
  const naive = (wgx: number, wgy: number, o: { big?: boolean; quick?: boolean } = {}) =>
    v.push(labVariant('v1', { WGX: wgx, WGY: wgy }, (c) => [+c.WGX, +c.WGY], { ...o, label: `wg${wgx}x${wgy}` }));
  naive(16, 16, { big: true, quick: true });

  const reg = (ver: 'v2' | 'v2loops' | 'v3', tm: number, tn: number, wgx: number, wgy: number, il: boolean, o: { big?: boolean; quick?: boolean } = {}) =>
    v.push(
      labVariant(ver, { WGX: wgx, WGY: wgy, TM: tm, TN: tn, INTERLEAVE: il }, regTile, {
        ...o,
        label: `${tm}x${tn} wg${wgx}x${wgy}${il ? ' il' : ''}`,
        unsupported: ver === 'v3' ? vec4A : undefined,
      }),
    );
  // v2loops is the same kernel as v2 8x8 written as loops over arrays: kept to show why v2 is not.
  reg('v2loops', 8, 8, 8, 8, true);
  reg('v2', 4, 4, 8, 8, true);
  reg('v2', 4, 8, 8, 8, true);
  reg('v2', 8, 4, 8, 8, true);
  reg('v2', 8, 8, 8, 8, true, { big: true, quick: true });
  reg('v2', 8, 8, 8, 8, false);
  reg('v2', 8, 8, 16, 16, true);
  reg('v3', 4, 8, 8, 8, true);
  reg('v3', 8, 4, 8, 8, true);
  reg('v3', 8, 8, 8, 8, true, { big: true, quick: true });
  reg('v3', 8, 8, 8, 8, false);
  reg('v3', 8, 8, 16, 16, true, { big: true });

  const tiled = (tm: number, tn: number, wgx: number, wgy: number, bk: number, o: { big?: boolean; quick?: boolean } = {}) =>
    v.push(
      labVariant('v4', { WGX: wgx, WGY: wgy, TM: tm, TN: tn, BK: bk }, regTile, {
        ...o,
        label: `${wgy * tm}x${wgx * tn}x${bk} (${tm}x${tn} wg${wgx}x${wgy})`,
        unsupported: (_s, e) => {
          const bytes = (wgy * tm + wgx * tn) * bk * 4;
          const max = e.device.limits.maxComputeWorkgroupStorageSize;
          return bytes > max ? `${bytes} B of workgroup memory > ${max}` : null;
        },
      }),
    );
  tiled(4, 4, 8, 8, 8);
  tiled(8, 8, 8, 8, 8, { quick: true });
  tiled(8, 8, 8, 8, 16, { big: true });
  return v;
}

// ------------------------------------------------------------------------------------------- results

export interface VersionResult {
  name: string;
  version: string;
  /** Override constants (lab kernels) or the op's kernel configuration (prod). */
  constants: Record<string, number | boolean | string>;
  entry?: string;
  ms: number | null;
  gflops: number | null;
  ok: boolean | null;
  /** Time of the first run (pipeline compile + run + sync, no readback). */
  first_run_ms?: number;
  reps?: number;
  max_abs_err?: number;
  note?: string;
}

export interface Row {
  shape: string;
  adapter: string;
  ours_ms: number | null;
  ours_gflops: number | null;
  tfjs_ms: number | null;
  tfjs_gflops: number | null;
  /** ours_gflops / tfjs_gflops, both from the same interleaved rounds. */
  ratio: number | null;
  best_version: string | null;
  tfjs_ok: boolean | null;
  tfjs_note?: string;
  versions: VersionResult[];
}

// ---------------------------------------------------------------------------------------------- run

export async function run(args: BenchArgs): Promise<void> {
  const started = performance.now();
  const quick = args.quick;
  const o: RunOpts = quick
    ? { warmup: 2, minReps: 3, maxReps: 5, budgetMs: 1500, quick }
    : { warmup: 4, minReps: 5, maxReps: 15, budgetMs: 6000, quick };
  const only = args.extra.versions ? args.extra.versions.split(',') : null;
  const skipTfjs = args.extra['no-tfjs'] === 'true';
  const shapeNames = args.shapes.length ? args.shapes : quick ? QUICK_SHAPES : DEFAULT_SHAPES;
  const shapes = shapeNames.map(parseShape);

  installLabLoader();
  const e = await Engine.create({ quiet: true });
  setEngine(e);
  const adapter = `${e.gpu.kind} — ${e.gpu.description}`;
  const machine = machineInfo();
  console.log(`# matmul kernel lab`);
  console.log(`adapter: ${adapter} (MUFASA_ADAPTER=${process.env.MUFASA_ADAPTER ?? 'unset: auto'})`);
  console.log(`timing: wall clock around submit + GPU sync on every adapter (timestamp queries: ${e.gpu.hasTimestamps ? 'available but unused' : 'not available'}); median of ${o.minReps}–${o.maxReps} runs after ${o.warmup} untimed runs (fewer for runs over 1 s), all contenders of a shape timed round-robin`);
  console.log(`load average at start: ${machine.loadavg_start.join(' ')} on ${machine.cpus} CPUs (other processes skew these numbers)`);

  const variants = [...labVariants(), ...(await prodVariants(e))].filter((v) => !only || only.some((o) => v.name.startsWith(o)));

  // tfjs on our device.
  let tfjs: TfjsHandle | null = null;
  let tfjsError: string | null = skipTfjs ? 'skipped (--no-tfjs)' : null;
  if (!skipTfjs) {
    try {
      tfjs = await loadTfjs(e);
      console.log(`tfjs: @tensorflow/tfjs-backend-webgpu ${tfjs.version} in Node on this same GPUDevice`);
    } catch (err) {
      tfjsError = `tfjs-backend-webgpu could not start on this adapter: ${(err as Error).message.split('\n')[0]}`;
      console.log(tfjsError);
    }
  }

  const dispatchUs = await measureDispatch(e, quick ? 200 : 1000, o.minReps);
  console.log(`per-dispatch overhead: ${dispatchUs.toFixed(1)} µs (N tiny dispatches in one submit, minus one)\n`);

  const rows: Row[] = [];
  for (const s of shapes) {
    rows.push(await runShape(e, s, variants, tfjs, tfjsError, o, adapter));
    if (e.deviceErrors.length) {
      console.log(`device errors: ${e.deviceErrors.splice(0).join('; ')}`);
    }
  }

  console.log('\n## summary\n');
  console.log(summaryTable(rows, e.gpu.kind));
  const elapsed = (performance.now() - started) / 1000;
  console.log(`\n${rows.length} shapes in ${elapsed.toFixed(0)} s; load average at end: ${currentLoad().join(' ')}`);

  if (args.json) {
    const path = writeJson(args.json, {
      bench: 'matmul',
      adapter,
      adapter_kind: e.gpu.kind,
      adapter_description: e.gpu.description,
      timing: 'wall clock around encode + submit + GPU sync (queue.onSubmittedWorkDone), every adapter; median',
      warmup: o.warmup,
      min_reps: o.minReps,
      max_reps: o.maxReps,
      quick,
      dispatch_us: dispatchUs,
      tfjs: tfjs ? { package: '@tensorflow/tfjs-backend-webgpu', version: tfjs.version, where: 'node, same GPUDevice' } : { error: tfjsError },
      machine: { ...machine, loadavg_end: currentLoad() },
      elapsed_s: +elapsed.toFixed(1),
      rows,
    });
    console.log(`wrote ${path}`);
  }
  e.destroy();
}

async function prodVariants(e: Engine): Promise<Variant[]> {
  // The production op is written in parallel with this lab; include it once it exists.
  let mod: { matmul?: (a: Tensor, b: Tensor) => Tensor; matmulConfig?: (e: Engine) => object };
  try {
    mod = (await import('../src/tensor/ops/matmul.ts' as string)) as typeof mod;
  } catch (err) {
    console.log(`prod: not included (src/tensor/ops/matmul.ts did not load: ${(err as Error).message.split('\n')[0]})`);
    return [];
  }
  const matmul = mod.matmul;
  if (typeof matmul !== 'function') {
    console.log('prod: not included (src/tensor/ops/matmul.ts exports no matmul)');
    return [];
  }
  const cfg = mod.matmulConfig?.(e);
  return [
    {
      name: 'prod matmul()',
      version: 'prod',
      constants: cfg ? { ...(cfg as Record<string, number | boolean | string>) } : {},
      big: true,
      quick: true,
      encode: ({ a, b }) => matmul(a, b),
    },
  ];
}

async function measureDispatch(e: Engine, n: number, reps: number): Promise<number> {
  // The naive kernel on a 1×1×1 problem: one workgroup, essentially no work, so the time per extra
  // dispatch is encoding + bind group + the adapter's launch cost.
  const one = tensor([1], [1, 1], { engine: e });
  const out = Tensor.empty([1, 1], 'f32', e);
  const k = e.kernels.get(LAB + labFiles.v1, 'main', { WGX: 1, WGY: 1 });
  const go = (count: number) => async () => {
    for (let i = 0; i < count; i++) e.stream.dispatch(k, { a: one.binding(), b: one.binding(), c: out.binding() }, { M: 1, N: 1, K: 1 }, [1, 1]);
    await e.stream.sync();
  };
  const [tn, t1] = await timeInterleaved([go(n), go(1)], { warmup: 2, reps: Math.max(reps, 5) });
  one.dispose();
  out.dispose();
  return ((median(tn) - median(t1)) / (n - 1)) * 1000;
}

interface RunOpts {
  /** Total untimed runs per contender, the correctness run and the probe run included. */
  warmup: number;
  minReps: number;
  maxReps: number;
  /** Timed rounds stop adding up once a round of all contenders × reps would exceed this (ms). */
  budgetMs: number;
  quick: boolean;
}

/** Something to time at one shape: one of our variants or tfjs. */
interface Contender {
  label: string;
  run: () => Promise<void>;
  /** Duration of the untimed probe run (ms). */
  probeMs: number;
  samples: number[];
}

async function runShape(e: Engine, s: Shape, variants: Variant[], tfjs: TfjsHandle | null, tfjsError: string | null, o: RunOpts, adapter: string): Promise<Row> {
  const name = shapeName(s);
  const flops = 2 * s.M * s.N * s.K;
  const big = flops > BIG_FLOPS;
  console.log(`## ${name} (${(flops / 1e9).toFixed(2)} GFLOP${big ? ', big: reduced sweep' : ''})`);
  const aData = randomMatrix(s.M * s.K, 1);
  const bData = randomMatrix(s.K * s.N, 2);
  const ref = matmulReference(aData, bData, s.M, s.N, s.K);
  const a = tensor(aData, [s.M, s.K], { engine: e });
  const b = tensor(bData, [s.K, s.N], { engine: e });
  const c = Tensor.empty([s.M, s.N], 'f32', e);
  const ctx: Ctx = { e, s, a, b, c };
  const row: Row = {
    shape: name,
    adapter,
    ours_ms: null,
    ours_gflops: null,
    tfjs_ms: null,
    tfjs_gflops: null,
    ratio: null,
    best_version: null,
    tfjs_ok: null,
    versions: [],
  };
  const contenders: Contender[] = [];
  const ours = new Map<Contender, VersionResult>();
  const tm = tfjs?.prepareMatmul(aData, bData, s.M, s.N, s.K) ?? null;
  try {
    // 1. Correctness, then one untimed probe run, for every variant.
    for (const v of variants) {
      if (o.quick && !v.quick) continue;
      if (big && !v.big) continue;
      const { result, runner, probeMs } = await checkVariant(ctx, v, ref);
      row.versions.push(result);
      if (runner) {
        const ct: Contender = { label: v.name, run: runner, probeMs, samples: [] };
        contenders.push(ct);
        ours.set(ct, result);
      }
      if (result.ok === false || result.note) console.log(`  ${v.name.padEnd(26)} ${result.ok === false ? 'FAILED' : 'not timed'}  (${result.note})`);
    }
    let tfjsCt: Contender | null = null;
    if (!tm) row.tfjs_note = tfjsError ?? 'not run';
    else {
      try {
        const t0 = performance.now();
        const got = await tm.result();
        const firstMs = performance.now() - t0;
        const chk = checkMatmul(got, ref, s.N);
        row.tfjs_ok = chk.ok;
        if (!chk.ok) {
          row.tfjs_note = `tfjs FAILED the check: ${chk.detail}`;
        } else {
          // As for ours: a first run of over a second (tfjs on SwiftShader at big shapes) is warm-up enough.
          const probeMs = firstMs > 1000 ? firstMs : await sample(() => tm.run());
          tfjsCt = { label: 'tfjs', run: () => tm.run(), probeMs, samples: [] };
          contenders.push(tfjsCt);
        }
      } catch (err) {
        row.tfjs_ok = false;
        row.tfjs_note = `tfjs error: ${(err as Error).message.split('\n')[0]}`;
      }
      if (row.tfjs_note) console.log(`  tfjs: ${row.tfjs_note}`);
    }

    // 2. Remaining warm-ups (skipped for contenders that take seconds per run), then timed rounds over
    //    all contenders in rotating order: load from other processes lands on every contender alike,
    //    and tfjs is interleaved with ours.
    for (const ct of contenders) for (let i = 2; i < o.warmup && ct.probeMs < 1000; i++) await ct.run();
    const roundMs = contenders.reduce((t, ct) => t + ct.probeMs, 0);
    const rounds = Math.max(o.minReps, Math.min(o.maxReps, Math.floor(o.budgetMs / Math.max(roundMs, 1))));
    for (let r = 0; r < rounds; r++) {
      for (let j = 0; j < contenders.length; j++) {
        const ct = contenders[(j + r) % contenders.length];
        ct.samples.push(await sample(ct.run));
      }
    }

    // 3. Medians, best of ours, ratio.
    for (const [ct, res] of ours) {
      res.ms = median(ct.samples);
      res.gflops = gflops(flops, res.ms);
      res.reps = ct.samples.length;
    }
    for (const res of row.versions) {
      if (res.ms !== null) console.log(`  ${res.name.padEnd(26)} ${fmtNum(res.ms).padStart(8)} ms  ${fmtNum(res.gflops).padStart(6)} GFLOP/s`);
    }
    const best = [...ours.values()].sort((x, y) => x.ms! - y.ms!)[0];
    if (best) {
      row.best_version = best.name;
      row.ours_ms = best.ms;
      row.ours_gflops = best.gflops;
    }
    if (tfjsCt) {
      row.tfjs_ms = median(tfjsCt.samples);
      row.tfjs_gflops = gflops(flops, row.tfjs_ms);
      row.tfjs_note = `${ref.idx.length} entries checked; ${tfjsCt.samples.length} reps`;
      if (row.ours_gflops !== null) row.ratio = row.ours_gflops / row.tfjs_gflops;
      console.log(`  ${'tfjs-webgpu'.padEnd(26)} ${fmtNum(row.tfjs_ms).padStart(8)} ms  ${fmtNum(row.tfjs_gflops).padStart(6)} GFLOP/s`);
      console.log(`  best: ${row.best_version ?? '—'}, ours/tfjs = ${fmtNum(row.ratio)}× (${rounds} interleaved rounds)`);
    }
    return row;
  } finally {
    tm?.dispose();
    a.dispose();
    b.dispose();
    c.dispose();
  }
}

async function checkVariant(ctx: Ctx, v: Variant, ref: MatmulReference): Promise<{ result: VersionResult; runner: (() => Promise<void>) | null; probeMs: number }> {
  const { e, s } = ctx;
  const base: VersionResult = { name: v.name, version: v.version, constants: v.constants, ms: null, gflops: null, ok: null };
  if (v.entry) base.entry = v.entry(s);
  const fail = (result: VersionResult) => ({ result, runner: null, probeMs: 0 });
  const why = v.unsupported?.(s, e);
  if (why) return fail({ ...base, note: `n/a: ${why}` });

  const runner = async () => {
    const out = v.encode(ctx);
    await e.stream.sync();
    if (out !== ctx.c) out.dispose();
  };
  // Correctness first: one run, read back, compare. C is filled with NaN so a kernel that skips
  // outputs fails.
  let firstMs: number;
  let got: Float32Array;
  try {
    e.stream.write(ctx.c.storage.buffer, 0, new Float32Array(s.M * s.N).fill(NaN));
    const t0 = performance.now();
    const out = v.encode(ctx);
    await e.stream.sync();
    firstMs = performance.now() - t0;
    got = (await out.data()) as Float32Array;
    if (out !== ctx.c) out.dispose();
  } catch (err) {
    return fail({ ...base, ok: false, note: `error: ${(err as Error).message.split('\n')[0]}` });
  }
  const errs = e.deviceErrors.splice(0);
  if (errs.length) return fail({ ...base, ok: false, note: `device error: ${errs[0].split('\n')[0]}` });
  const chk = checkMatmul(got, ref, s.N);
  if (!chk.ok) return fail({ ...base, ok: false, first_run_ms: firstMs, max_abs_err: chk.maxAbsErr, note: chk.detail });

  // One more untimed run: its time (without compilation) sizes the warm-up and the number of rounds.
  // A kernel whose first run already blew the budget is not run again (naive at big shapes: ~17 s).
  const result: VersionResult = { ...base, ok: true, first_run_ms: +firstMs.toFixed(1), max_abs_err: chk.maxAbsErr };
  const tooSlow = (ms: number) => fail({ ...result, note: `not timed: one run took ${(ms / 1000).toFixed(1)} s (> ${MAX_RUN_MS / 1000} s budget)` });
  if (firstMs > 2 * MAX_RUN_MS) return tooSlow(firstMs);
  // Runs of over a second: the first run (compile included) is estimate enough, and warm-up enough,
  // unless compile time may have pushed it over the budget.
  const probeMs = firstMs > 1000 && firstMs <= MAX_RUN_MS ? firstMs : await sample(runner);
  if (probeMs > MAX_RUN_MS) return tooSlow(probeMs);
  return { result, runner, probeMs };
}

function summaryTable(rows: Row[], kind: string): string {
  const head = ['shape', 'adapter', 'best version', 'ours ms', 'ours GFLOP/s', 'tfjs ms', 'tfjs GFLOP/s', 'ours/tfjs', 'note'];
  const body = rows.map((r) => [r.shape, kind, r.best_version ?? 'none passed', r.ours_ms, r.ours_gflops, r.tfjs_ms, r.tfjs_gflops, r.ratio, r.tfjs_ok === true ? '' : r.tfjs_note ?? '']);
  // Every version at every shape: "median ms (GFLOP/s)"; FAILED = wrong result, n/a = cannot run the
  // shape, slow = correct but over the per-run budget, blank = not in the sweep at that shape.
  const names = [...new Set(rows.flatMap((r) => r.versions.map((v) => v.name)))];
  const cell = (v: VersionResult | undefined): string => {
    if (!v) return '';
    if (v.ok === false) return 'FAILED';
    if (v.ok === null) return 'n/a';
    if (v.ms === null) return 'slow';
    return `${fmtNum(v.ms)} (${fmtNum(v.gflops)})`;
  };
  const pivot = names.map((n) => [n, ...rows.map((r) => cell(r.versions.find((v) => v.name === n)))]);
  pivot.push(['tfjs-webgpu', ...rows.map((r) => (r.tfjs_ms !== null ? `${fmtNum(r.tfjs_ms)} (${fmtNum(r.tfjs_gflops)})` : r.tfjs_ok === false ? 'FAILED' : 'null'))]);
  return `${markdownTable(head, body)}\n\n### every version: median ms (GFLOP/s)\n\n${markdownTable(['version', ...rows.map((r) => r.shape)], pivot)}`;
}
