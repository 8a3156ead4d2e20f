// Attention benchmark (issue #3 §5): the whole SAL layer (window + block + selective branches and the
// gate, src/model/sal.ts) against dense causal self-attention as SASRec uses it (Q/K/V projections +
// the engine's causalAttention), forward + backward, on every position of every sequence.
// Batch 64, d = 64, bs = 8, k = 4, L = 50, 200, 800. Targets (benchmark goals): sparse ≥ 3× faster at
// L = 200 and ≥ 6× at L = 800, and sparse cost from L = 200 to 800 grows ≤ 5×.
// `--profile [sal|dense]` first prints a per-kernel table of one step of each, or of one (bench/lib/profile.ts).

import { initEngine } from '../src/gpu/engine.ts';
import type { Engine } from '../src/gpu/engine.ts';
import { tensor, tidy, linear, causalAttention } from '../src/tensor/index.ts';
import type { Tensor } from '../src/tensor/index.ts';
import { SAL } from '../src/model/sal.ts';
import { seededRandom, normalArray, xavierUniform } from '../src/nn/init.ts';
import type { BenchArgs } from './lib/args.ts';
import { timeInterleaved, median } from './lib/timing.ts';
import { markdownTable, fmtNum } from './lib/table.ts';
import { writeJson, machineInfo, currentLoad } from './lib/json.ts';
import { profileStep } from './lib/profile.ts';
import { denseMacs, salMacs, denseAttentionMacs, salAttentionMacs } from './lib/attention-macs.ts';

interface Row {
  L: number;
  batch: number;
  adapter: string;
  sparse_ms: number;
  dense_ms: number;
  speedup: number;
  /** dense / SAL multiply–adds (bench/lib/attention-macs.ts): the speed-up at equal efficiency. */
  mac_ratio: number;
  /** The same with every projection free (key visits alone): the most any SAL implementation can gain. */
  attention_mac_ratio: number;
}

/**
 * Forward + backward of `f` on a fresh input gradient, ending in a GPU sync. The layer's parameter
 * gradients are dropped after each step, as an optimizer's zeroGrad does: left to accumulate, every
 * later step would add a chained `add` per parameter that training never runs.
 */
function step(e: Engine, h: Tensor, params: Tensor[], f: () => Tensor): () => Promise<void> {
  return async () => {
    const out = f();
    const g = tidy(() => tensor(new Float32Array(out.size).fill(1 / out.size), [...out.shape], { engine: e }));
    out.backward(g);
    g.dispose();
    out.dispose();
    for (const t of [h, ...params]) {
      t.grad?.dispose();
      t.grad = null;
    }
    await e.stream.sync();
  };
}

export async function run(args: BenchArgs): Promise<void> {
  const e = await initEngine();
  const B = args.quick ? 8 : 64;
  const d = 64;
  const Ls = (args.quick ? [50, 200] : [50, 200, 800]).filter((L) => !args.shapes.length || args.shapes.includes(String(L)));
  const reps = args.quick ? { warmup: 1, reps: 2 } : { warmup: 1, reps: 3 };
  console.log(`attention: adapter ${e.gpu.kind} — ${e.gpu.description}; batch ${B}, d ${d}, bs 8, k 4, W by the paper's rule`);
  const info = machineInfo();
  const rand = seededRandom(1);
  const sal = new SAL({ dim: d, blockSize: 8, topK: 4, window: 'paper' }, rand);
  const wq = xavierUniform(d, d, rand);
  const wk = xavierUniform(d, d, rand);
  const wv = xavierUniform(d, d, rand);
  const rows: Row[] = [];
  for (const L of Ls) {
    const h = tensor(normalArray(B * L * d, 1, rand), [B, L, d], { requiresGrad: true, engine: e });
    const lengths = new Int32Array(B).fill(L);
    const len = tensor(lengths, [B], { dtype: 'i32', engine: e });
    const sparse = step(e, h, sal.parameters(), () => sal.forward(h, lengths));
    const dense = step(e, h, [wq, wk, wv], () => tidy(() => causalAttention(linear(h, wq), linear(h, wk), linear(h, wv), len)));
    if (args.extra.profile) {
      // --profile: per-kernel times of one step of each (replayed, synced after every dispatch).
      for (const [name, f] of [['SAL', sparse], ['dense', dense]] as const) {
        if (args.extra.profile !== 'true' && args.extra.profile.toLowerCase() !== name.toLowerCase()) continue;
        await f();
        const prof = await profileStep(e, f);
        const total = prof.reduce((a, r) => a + r.ms, 0);
        console.log(`\n${name} L=${L}: ${prof.reduce((a, r) => a + r.calls, 0)} dispatches, ${fmtNum(total)} ms summed\n` +
          markdownTable(['kernel', 'calls', 'ms', '%'], prof.map((r) => [r.kernel, r.calls, r.ms, (100 * r.ms) / total])));
      }
    }
    const [s, dn] = await timeInterleaved([sparse, dense], reps);
    const shape = { L, d, blockSize: 8, topK: 4, window: L > 30 ? 8 : 4 };
    const row: Row = {
      L,
      batch: B,
      adapter: e.gpu.kind,
      sparse_ms: median(s),
      dense_ms: median(dn),
      speedup: median(dn) / median(s),
      mac_ratio: denseMacs(shape) / salMacs(shape),
      attention_mac_ratio: denseAttentionMacs(shape) / salAttentionMacs(shape),
    };
    rows.push(row);
    console.log(`  L=${L}: sparse ${fmtNum(row.sparse_ms)} ms, dense ${fmtNum(row.dense_ms)} ms (${fmtNum(row.speedup)}×)`);
    h.dispose();
    len.dispose();
  }
  sal.dispose();
  [wq, wk, wv].forEach((t) => t.dispose());
  console.log(
    '\n' +
      markdownTable(
        ['L', 'batch', 'adapter', 'SAL fwd+bwd ms', 'dense causal fwd+bwd ms', 'dense / SAL', 'dense / SAL multiply–adds', 'same, projections free'],
        rows.map((r) => [r.L, r.batch, r.adapter, fmtNum(r.sparse_ms), fmtNum(r.dense_ms), fmtNum(r.speedup) + '×', fmtNum(r.mac_ratio) + '×', fmtNum(r.attention_mac_ratio) + '×']),
      ),
  );
  const at = (L: number) => rows.find((r) => r.L === L);
  if (at(200) && at(800)) console.log(`SAL cost growth L=200 → 800: ${fmtNum(at(800)!.sparse_ms / at(200)!.sparse_ms)}× (target ≤ 5×)`);
  console.log('Last column: the speed-up bound of any SAL implementation (key visits alone), against the targets 3× at L = 200 and 6× at L = 800.');
  if (args.json) console.log(`wrote ${writeJson(args.json, { bench: 'attention', adapter: e.gpu.description, machine: { ...info, loadavg_end: currentLoad() }, rows })}`);
  e.destroy();
}
