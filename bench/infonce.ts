// Fused InfoNCE vs the unfused composition of existing ops, forward + backward, in the same engine
// (issue 3 §5): `npm run bench -- infonce [--quick] [--json FILE] [--shapes NxMxd,...]`.
//
//   fused    infoNCE(a, c, {temperature, positives}) → mean → backward
//   unfused  l2Normalize → matmul(â, T(ĉ)) → affine(1/τ) → logSoftmax → ·one-hot → sum → neg → mean
//            → backward (materialises several N×M tensors: 330 MB each at 4096×20000)
//
// Both with cosine similarity, explicit positives (the general case) and gradients for both inputs.
// Each contender is first checked against the other (loss within 1e-3 relative), then timed:
// wall clock around encode + submit + GPU sync, median, round-robin. Peak memory: the pool's
// peakBytesInUse above what was in use before the step (inputs and one-hot excluded).

import { Engine, setEngine } from '../src/gpu/engine.ts';
import * as ops from '../src/tensor/index.ts';
import type { Tensor } from '../src/tensor/index.ts';
import type { BenchArgs } from './lib/args.ts';
import { median, sample } from './lib/timing.ts';
import { markdownTable, fmtNum } from './lib/table.ts';
import { writeJson, machineInfo, currentLoad } from './lib/json.ts';
import { randomMatrix, rng } from './lib/reference.ts';

const DEFAULT_SHAPES = ['1024x1024x128', '256x1682x64', '4096x20000x64'];
const QUICK_SHAPES = ['1024x1024x128', '256x1682x64'];
const TAU = 0.1;

interface Shape {
  N: number;
  M: number;
  d: number;
}

function parseShape(s: string): Shape {
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`shape '${s}': expected NxMxd, e.g. 256x1682x64`);
  return { N: +m[1], M: +m[2], d: +m[3] };
}

export interface Row {
  shape: string;
  adapter: string;
  fused_ms: number | null;
  unfused_ms: number | null;
  /** unfused_ms / fused_ms. */
  speedup: number | null;
  fused_peak_bytes: number | null;
  unfused_peak_bytes: number | null;
  fused_reps: number;
  unfused_reps: number;
  /** |loss_fused − loss_unfused| / |loss_unfused| of the mean loss. */
  loss_rel_diff: number | null;
  note?: string;
}

interface Inputs {
  a: Tensor;
  c: Tensor;
  pos: Tensor;
  onehot: Tensor | null;
}

function fusedStep(x: Inputs): Tensor {
  return ops.tidy(() => {
    const l = ops.mean(ops.infoNCE(x.a, x.c, { temperature: TAU, positives: x.pos }));
    l.backward();
    return l;
  });
}

function unfusedStep(x: Inputs): Tensor {
  return ops.tidy(() => {
    const s = ops.affine(ops.matmul(ops.l2Normalize(x.a), ops.T(ops.l2Normalize(x.c))), 1 / TAU, 0);
    const l = ops.mean(ops.neg(ops.sum(ops.mul(ops.logSoftmax(s), x.onehot!), 1)));
    l.backward();
    return l;
  });
}

function clearGrads(x: Inputs): void {
  for (const t of [x.a, x.c]) {
    t.grad?.dispose();
    t.grad = null;
  }
}

/** One step: returns the mean loss, elapsed ms (including the GPU sync) and the step's peak bytes. */
async function step(e: Engine, x: Inputs, f: (x: Inputs) => Tensor): Promise<{ loss: number; ms: number; peak: number }> {
  await e.stream.sync();
  const base = e.pool.stats().bytesInUse;
  e.pool.resetPeak();
  let l: Tensor | null = null;
  const ms = await sample(async () => {
    l = f(x);
    await e.stream.sync();
  });
  const peak = e.pool.stats().peakBytesInUse - base;
  const loss = (await l!.data())[0];
  l!.dispose();
  clearGrads(x);
  return { loss, ms, peak };
}

const errText = (err: unknown) => ((err as Error).message ?? String(err)).split('\n')[0].slice(0, 160);

async function runShape(e: Engine, s: Shape, adapter: string, quick: boolean): Promise<Row> {
  const name = `${s.N}x${s.M}x${s.d}`;
  const row: Row = { shape: name, adapter, fused_ms: null, unfused_ms: null, speedup: null, fused_peak_bytes: null, unfused_peak_bytes: null, fused_reps: 0, unfused_reps: 0, loss_rel_diff: null };
  const r = rng(s.N * 31 + s.M);
  const posData = Int32Array.from({ length: s.N }, () => Math.floor(r() * s.M));
  const x: Inputs = {
    a: ops.tensor(randomMatrix(s.N * s.d, 1), [s.N, s.d], { requiresGrad: true }),
    c: ops.tensor(randomMatrix(s.M * s.d, 2), [s.M, s.d], { requiresGrad: true }),
    pos: ops.tensor(posData, [s.N], { dtype: 'i32' }),
    onehot: null,
  };
  const notes: string[] = [];
  // Time budget per contender: a few reps, fewer when one step is slow.
  const budgetMs = quick ? 3000 : 20000;
  const maxReps = quick ? 3 : 7;

  const fusedSamples: number[] = [];
  let fusedLoss = NaN;
  try {
    const first = await step(e, x, fusedStep); // untimed: pipeline compilation
    fusedLoss = first.loss;
    row.fused_peak_bytes = first.peak;
    let spent = 0;
    while (fusedSamples.length < maxReps && (spent < budgetMs || fusedSamples.length === 0)) {
      const st = await step(e, x, fusedStep);
      fusedSamples.push(st.ms);
      spent += st.ms;
    }
  } catch (err) {
    notes.push(`fused failed: ${errText(err)}`);
    clearGrads(x);
  }

  const unfusedSamples: number[] = [];
  let unfusedLoss = NaN;
  try {
    const oh = new Float32Array(s.N * s.M);
    for (let i = 0; i < s.N; i++) oh[i * s.M + posData[i]] = 1;
    x.onehot = ops.tensor(oh, [s.N, s.M]);
    const first = await step(e, x, unfusedStep);
    if (e.deviceErrors.length) throw new Error(e.deviceErrors.splice(0).join('; '));
    unfusedLoss = first.loss;
    row.unfused_peak_bytes = first.peak;
    let spent = 0;
    while (unfusedSamples.length < maxReps && (spent < budgetMs || unfusedSamples.length === 0)) {
      const st = await step(e, x, unfusedStep);
      unfusedSamples.push(st.ms);
      spent += st.ms;
    }
  } catch (err) {
    notes.push(`unfused OOM/skipped: ${errText(err)}`);
    clearGrads(x);
  }
  if (e.deviceErrors.length) notes.push(`device errors: ${e.deviceErrors.splice(0).join('; ').slice(0, 200)}`);

  if (fusedSamples.length) row.fused_ms = median(fusedSamples);
  if (unfusedSamples.length) row.unfused_ms = median(unfusedSamples);
  row.fused_reps = fusedSamples.length;
  row.unfused_reps = unfusedSamples.length;
  if (row.fused_ms && row.unfused_ms) row.speedup = row.unfused_ms / row.fused_ms;
  if (Number.isFinite(fusedLoss) && Number.isFinite(unfusedLoss)) {
    row.loss_rel_diff = Math.abs(fusedLoss - unfusedLoss) / Math.abs(unfusedLoss);
    if (row.loss_rel_diff > 1e-3) notes.push(`LOSS MISMATCH: fused ${fusedLoss}, unfused ${unfusedLoss}`);
  }
  if (notes.length) row.note = notes.join('; ');
  for (const t of [x.a, x.c, x.pos, x.onehot]) t?.dispose();
  console.log(`${name}: fused ${fmtNum(row.fused_ms)} ms (${row.fused_reps} reps, peak ${mb(row.fused_peak_bytes)}), unfused ${fmtNum(row.unfused_ms)} ms (${row.unfused_reps} reps, peak ${mb(row.unfused_peak_bytes)})${row.note ? ` — ${row.note}` : ''}`);
  return row;
}

const mb = (b: number | null) => (b === null ? '—' : `${(b / 2 ** 20).toFixed(1)} MiB`);

export async function run(args: BenchArgs): Promise<void> {
  const started = performance.now();
  const quick = args.quick;
  const shapes = (args.shapes.length ? args.shapes : quick ? QUICK_SHAPES : DEFAULT_SHAPES).map(parseShape);
  const e = await Engine.create({ quiet: true });
  setEngine(e);
  const adapter = `${e.gpu.kind} — ${e.gpu.description}`;
  const machine = machineInfo();
  console.log('# fused InfoNCE vs unfused composition (forward + backward, cosine, τ = 0.1, explicit positives)');
  console.log(`adapter: ${adapter} (MUFASA_ADAPTER=${process.env.MUFASA_ADAPTER ?? 'unset: auto'})`);
  console.log(`timing: wall clock around one step (forward + mean + backward) + GPU sync; median of up to ${quick ? 3 : 7} reps after one untimed run`);
  console.log(`load average at start: ${machine.loadavg_start.join(' ')} on ${machine.cpus} CPUs\n`);

  const rows: Row[] = [];
  for (const s of shapes) rows.push(await runShape(e, s, adapter, quick));

  console.log('\n' + markdownTable(
    ['shape (N×M×d)', 'fused ms', 'unfused ms', 'speedup', 'fused peak MiB', 'unfused peak MiB', 'note'],
    rows.map((r) => [r.shape, r.fused_ms, r.unfused_ms, r.speedup, r.fused_peak_bytes === null ? null : r.fused_peak_bytes / 2 ** 20, r.unfused_peak_bytes === null ? null : r.unfused_peak_bytes / 2 ** 20, r.note ?? '']),
  ));
  const elapsed = (performance.now() - started) / 1000;
  console.log(`\n${rows.length} shapes in ${elapsed.toFixed(0)} s; load average at end: ${currentLoad().join(' ')}`);
  if (args.json) {
    const path = writeJson(args.json, {
      bench: 'infonce',
      adapter,
      adapter_kind: e.gpu.kind,
      adapter_description: e.gpu.description,
      timing: 'wall clock around forward + mean + backward + GPU sync; median',
      quick,
      machine: { ...machine, loadavg_end: currentLoad() },
      elapsed_s: +elapsed.toFixed(1),
      rows,
    });
    console.log(`wrote ${path}`);
  }
  e.destroy();
}
