// Benchmark entry point: `npm run bench -- [name ...] [--quick] [--json FILE] [--shapes A,B]`.
// Each benchmark is a module exporting `run(args)`; add one by adding a line to BENCHES. With no name,
// every benchmark runs (with --json FILE, each writes FILE with its name inserted before the extension).

import { parseArgs } from './lib/args.ts';
import type { BenchArgs } from './lib/args.ts';

type Bench = { run: (args: BenchArgs) => Promise<void> };

const BENCHES: Record<string, { about: string; load: () => Promise<Bench> }> = {
  matmul: { about: 'matmul kernel lab: v1–v4 sweep vs tfjs-webgpu', load: () => import('./matmul.ts') },
  infonce: { about: 'fused InfoNCE vs the unfused composition, forward+backward', load: () => import('./infonce.ts') },
  train: { about: 'MUFASA training: s/epoch, s per 1000 sequences, wall time to best validation NDCG@10', load: () => import('./train.ts') },
  attention: { about: 'SAL (window + block + selective + gate) vs dense causal attention, forward+backward', load: () => import('./attention.ts') },
};

const USAGE = `usage: npm run bench -- [${Object.keys(BENCHES).join('|')}] [--quick] [--json FILE] [--shapes MxNxK,...]
  --quick        fewer repetitions and sweep points (a smoke run, < 1 min)
  --json FILE    write the results as JSON (bench/results/ is gitignored)
  --shapes LIST  only these shapes (comma-separated MxNxK)
  matmul only:   --versions v2,v3 (name prefixes)   --no-tfjs
  adapter:       MUFASA_ADAPTER=gl|swiftshader (default: auto)
benchmarks:
${Object.entries(BENCHES).map(([n, b]) => `  ${n.padEnd(12)} ${b.about}`).join('\n')}`;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.extra.help) {
    console.log(USAGE);
    return;
  }
  const unknown = args.names.filter((n) => !(n in BENCHES));
  if (unknown.length) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const names = args.names.length ? args.names : Object.keys(BENCHES);
  for (const name of names) {
    const json = args.json && names.length > 1 ? args.json.replace(/(\.json)?$/, `.${name}.json`) : args.json;
    const bench = await BENCHES[name].load();
    await bench.run({ ...args, names: [name], json });
  }
}

main().then(
  // Dawn keeps the process alive while a device exists; the benchmarks have destroyed theirs.
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
