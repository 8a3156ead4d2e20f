// The benchmark suite that `npm run bench:browser` runs twice, in headless Chromium (bundled by
// bench/browser.ts) and in Node, so both columns of its table come from the same code: the production
// ops at the shapes of the Node kernel benchmarks (matmul.ts, infonce.ts, attention.ts, at their
// --quick sizes: SwiftShader in Chromium is a CPU adapter) and a MUFASA training run on the synthetic
// set (train.ts --quick). Rows have the fields of those benchmarks' JSON rows; what this suite does not
// measure (tfjs, lab kernel versions, peak bytes) is null.

import { initEngine } from '../src/gpu/engine.ts';
import type { Engine } from '../src/gpu/engine.ts';
import * as ops from '../src/tensor/index.ts';
import type { Tensor } from '../src/tensor/index.ts';
import { SAL } from '../src/model/sal.ts';
import { seededRandom, normalArray, xavierUniform } from '../src/nn/init.ts';
import { makeSynthetic } from '../src/data/synthetic.ts';
import { train } from '../src/train/trainer.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import type { EpochLog } from '../src/train/trainer.ts';
import { timeInterleaved, median, gflops } from './lib/timing.ts';
import { randomMatrix, matmulReference, checkMatmul, rng } from './lib/reference.ts';

export interface SuiteResult {
  adapter: string;
  adapter_kind: string;
  matmul: { bench: 'matmul'; adapter: string; rows: Record<string, unknown>[] };
  infonce: { bench: 'infonce'; adapter: string; rows: Record<string, unknown>[] };
  attention: { bench: 'attention'; adapter: string; rows: Record<string, unknown>[] };
  train: { bench: 'train'; adapter: string; rows: Record<string, unknown>[]; log: EpochLog[] };
}

export interface SuiteOptions {
  /** Fewer repetitions (a smoke run). */
  quick?: boolean;
  /** Which parts (default all). */
  only?: string[];
  /** SAL epochs of the training run (default 2). */
  epochs?: number;
}

const sync = (e: Engine) => e.stream.sync();

async function matmulBench(e: Engine, reps: { warmup: number; reps: number }): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const shape of ['256x256x256', '1024x1024x64', '1024x1682x64']) {
    const [M, N, K] = shape.split('x').map(Number);
    const av = randomMatrix(M * K, 1);
    const bv = randomMatrix(K * N, 2);
    const a = ops.tensor(av, [M, K], { engine: e });
    const b = ops.tensor(bv, [K, N], { engine: e });
    const t0 = performance.now();
    const c0 = ops.matmul(a, b);
    const got = (await c0.data()) as Float32Array;
    const firstMs = performance.now() - t0;
    c0.dispose();
    const check = checkMatmul(got, matmulReference(av, bv, M, N, K), N);
    let ms: number | null = null;
    if (check.ok) {
      const [s] = await timeInterleaved([async () => { const c = ops.matmul(a, b); await sync(e); c.dispose(); }], reps);
      ms = median(s);
    }
    a.dispose();
    b.dispose();
    const gf = ms === null ? null : gflops(2 * M * N * K, ms);
    rows.push({
      shape, adapter: e.gpu.kind, ours_ms: ms, ours_gflops: gf, tfjs_ms: null, tfjs_gflops: null, ratio: null, best_version: 'prod',
      tfjs_ok: null, tfjs_note: 'not run by the browser suite',
      versions: [{ name: 'prod', version: 'prod', constants: {}, entry: null, ms, gflops: gf, ok: check.ok, first_run_ms: firstMs, max_abs_err: check.maxAbsErr, reps: reps.reps, note: check.ok ? null : check.detail }],
    });
  }
  return rows;
}

async function infonceBench(e: Engine, reps: { warmup: number; reps: number }): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  const TAU = 0.1;
  for (const shape of ['1024x1024x128', '256x1682x64']) {
    const [N, M, d] = shape.split('x').map(Number);
    const a = ops.tensor(randomMatrix(N * d, 3), [N, d], { requiresGrad: true, engine: e });
    const c = ops.tensor(randomMatrix(M * d, 4), [M, d], { requiresGrad: true, engine: e });
    const r = rng(5);
    const posIdx = Int32Array.from({ length: N }, () => Math.floor(r() * M));
    const pos = ops.tensor(posIdx, [N], { dtype: 'i32', engine: e });
    const oh = new Float32Array(N * M);
    posIdx.forEach((p, i) => (oh[i * M + p] = 1));
    const onehot = ops.tensor(oh, [N, M], { engine: e });
    const clear = () => [a, c].forEach((t) => { t.grad?.dispose(); t.grad = null; });
    const fused = () => ops.tidy(() => { const l = ops.mean(ops.infoNCE(a, c, { temperature: TAU, positives: pos })); l.backward(); return l; });
    const unfused = () => ops.tidy(() => {
      const s = ops.affine(ops.matmul(ops.l2Normalize(a), ops.T(ops.l2Normalize(c))), 1 / TAU, 0);
      const l = ops.mean(ops.neg(ops.sum(ops.mul(ops.logSoftmax(s), onehot), 1)));
      l.backward();
      return l;
    });
    const lf = fused();
    const vf = (await lf.data())[0];
    lf.dispose();
    clear();
    const lu = unfused();
    const vu = (await lu.data())[0];
    lu.dispose();
    clear();
    const timed = (f: () => Tensor) => async () => { const l = f(); await sync(e); l.dispose(); clear(); };
    const [sf, su] = await timeInterleaved([timed(fused), timed(unfused)], reps);
    rows.push({
      shape, adapter: e.gpu.kind, fused_ms: median(sf), unfused_ms: median(su), speedup: median(su) / median(sf), fused_peak_bytes: null, unfused_peak_bytes: null,
      fused_reps: reps.reps, unfused_reps: reps.reps, loss_rel_diff: Math.abs(vf - vu) / Math.abs(vu),
    });
    [a, c, pos, onehot].forEach((t) => t.dispose());
  }
  return rows;
}

async function attentionBench(e: Engine, reps: { warmup: number; reps: number }): Promise<Record<string, unknown>[]> {
  const B = 8;
  const d = 64;
  const rand = seededRandom(1);
  const sal = new SAL({ dim: d, blockSize: 8, topK: 4, window: 'paper' }, rand);
  const [wq, wk, wv] = [0, 1, 2].map(() => xavierUniform(d, d, rand));
  const rows: Record<string, unknown>[] = [];
  for (const L of [50, 200]) {
    const h = ops.tensor(normalArray(B * L * d, 1, rand), [B, L, d], { requiresGrad: true, engine: e });
    const lengths = new Int32Array(B).fill(L);
    const len = ops.tensor(lengths, [B], { dtype: 'i32', engine: e });
    const step = (f: () => Tensor) => async () => {
      const out = f();
      const g = ops.tidy(() => ops.tensor(new Float32Array(out.size).fill(1 / out.size), [...out.shape], { engine: e }));
      out.backward(g);
      [g, out].forEach((t) => t.dispose());
      h.grad?.dispose();
      h.grad = null;
      await sync(e);
    };
    const [s, dn] = await timeInterleaved([
      step(() => sal.forward(h, lengths)),
      step(() => ops.tidy(() => ops.causalAttention(ops.linear(h, wq), ops.linear(h, wk), ops.linear(h, wv), len))),
    ], reps);
    rows.push({ L, batch: B, adapter: e.gpu.kind, sparse_ms: median(s), dense_ms: median(dn), speedup: median(dn) / median(s) });
    [h, len].forEach((t) => t.dispose());
  }
  sal.dispose();
  [wq, wk, wv].forEach((t) => t.dispose());
  return rows;
}

async function trainBench(e: Engine, epochs: number): Promise<{ rows: Record<string, unknown>[]; log: EpochLog[] }> {
  const ds = makeSynthetic({ seed: 0 });
  const log: EpochLog[] = [];
  const cfg = { ...defaultTrainConfig, epochs, patience: epochs };
  const res = await train(ds, cfg, { onEpoch: (l) => { log.push(l); console.log(`  train [${l.stage}] epoch ${l.epoch}: ${l.seconds.toFixed(2)} s`); } });
  const sal = log.filter((l) => l.stage === 'sal');
  const secPerEpoch = sal.reduce((a, l) => a + l.seconds, 0) / Math.max(1, sal.length);
  const trainSeqs = ds.sequences.filter((s) => s.length >= 4).length;
  const pre = log.filter((l) => l.stage !== 'sal').reduce((a, l) => a + l.seconds, 0);
  const toBest = pre + sal.filter((l) => l.epoch <= res.bestEpoch).reduce((a, l) => a + l.seconds, 0);
  return {
    rows: [{
      dataset: ds.name, adapter: e.gpu.kind, sal_epochs: sal.length, s_per_epoch: secPerEpoch, s_per_1000_sequences: (secPerEpoch / trainSeqs) * 1000,
      pretrain_s: pre, best_epoch: res.bestEpoch, wall_s_to_best: toBest, wall_s: res.wallSeconds, test: res.test, valid: res.valid,
    }],
    log,
  };
}

export async function runBenchSuite(opts: SuiteOptions = {}): Promise<SuiteResult> {
  const e = await initEngine({ quiet: true });
  const reps = opts.quick ? { warmup: 1, reps: 3 } : { warmup: 2, reps: 7 };
  const on = (n: string) => !opts.only?.length || opts.only.includes(n);
  const adapter = e.gpu.description;
  const out: SuiteResult = {
    adapter,
    adapter_kind: e.gpu.kind,
    matmul: { bench: 'matmul', adapter, rows: [] },
    infonce: { bench: 'infonce', adapter, rows: [] },
    attention: { bench: 'attention', adapter, rows: [] },
    train: { bench: 'train', adapter, rows: [], log: [] },
  };
  if (on('matmul')) { console.log('  matmul…'); out.matmul.rows = await matmulBench(e, reps); }
  if (on('infonce')) { console.log('  infonce…'); out.infonce.rows = await infonceBench(e, reps); }
  if (on('attention')) { console.log('  attention…'); out.attention.rows = await attentionBench(e, reps); }
  if (on('train')) { console.log('  train…'); Object.assign(out.train, await trainBench(e, opts.epochs ?? 2)); }
  return out;
}

(globalThis as { runBenchSuite?: typeof runBenchSuite }).runBenchSuite = runBenchSuite;
