// `npm run bench:browser -- [--json FILE] [--quick] [--only matmul,infonce,attention,train] [--epochs N]`
//
// The kernel benchmarks (matmul, infonce, attention) and a training benchmark inside headless Chromium
// (Debian's /usr/bin/chromium, WebGPU on SwiftShader; flags in test/browser/chromium.ts), then the
// same suite (bench/browser-entry.ts) in this Node process on its adapter (MUFASA_ADAPTER, default
// auto = llvmpipe-GL on the CPU machines; MUFASA_ADAPTER=swiftshader compares the same backend), and a
// table of both side by side. --json FILE writes both results and the comparison to FILE, and each
// browser benchmark in its Node benchmark's JSON shape to FILE.<name>.json.

import { initEngine } from '../src/gpu/engine.ts';
import { bundle, serve } from '../web/build.ts';
import { launchChromium, watchedPage } from '../test/browser/chromium.ts';
import { runBenchSuite } from './browser-entry.ts';
import type { SuiteResult, SuiteOptions } from './browser-entry.ts';
import { parseArgs } from './lib/args.ts';
import { markdownTable, fmtNum } from './lib/table.ts';
import type { Cell } from './lib/table.ts';
import { writeJson, machineInfo, currentLoad } from './lib/json.ts';

type Row = Record<string, unknown>;

function comparison(b: SuiteResult, n: SuiteResult): Cell[][] {
  const out: Cell[][] = [];
  const add = (bench: string, key: string, what: string, bv: unknown, nv: unknown) => {
    const x = typeof bv === 'number' ? bv : null;
    const y = typeof nv === 'number' ? nv : null;
    out.push([bench, key, what, x, y, x !== null && y ? fmtNum(x / y) + '×' : '—']);
  };
  const pair = (rows: Row[], other: Row[], id: string, fields: [string, string][], bench: string) =>
    rows.forEach((r, i) => fields.forEach(([f, label]) => add(bench, String(r[id]), label, r[f], other[i]?.[f])));
  pair(b.matmul.rows, n.matmul.rows, 'shape', [['ours_ms', 'ms']], 'matmul');
  pair(b.infonce.rows, n.infonce.rows, 'shape', [['fused_ms', 'fused ms'], ['unfused_ms', 'unfused ms']], 'infonce');
  pair(b.attention.rows, n.attention.rows, 'L', [['sparse_ms', 'SAL ms'], ['dense_ms', 'dense ms']], 'attention');
  pair(b.train.rows, n.train.rows, 'dataset', [['s_per_epoch', 's/SAL epoch'], ['pretrain_s', 'CF+MFL s'], ['wall_s', 'wall s']], 'train');
  return out;
}

async function inChromium(opts: SuiteOptions): Promise<SuiteResult> {
  const js = await bundle(new URL('./browser-entry.ts', import.meta.url).pathname);
  const server = await serve({
    '/': ['text/html', '<!doctype html><link rel="icon" href="data:,"><script type="module" src="/bench.js"></script>'],
    '/bench.js': ['text/javascript', js],
  });
  const browser = await launchChromium();
  try {
    const { page, errors } = await watchedPage(browser);
    page.on('console', (m) => m.type() !== 'error' && console.log(`[chromium]${m.text()}`));
    await page.goto(server.url);
    await page.waitForFunction('typeof globalThis.runBenchSuite === "function"', { timeout: 60_000 });
    const res = (await page.evaluate((o) => (globalThis as unknown as { runBenchSuite: typeof runBenchSuite }).runBenchSuite(o), opts as Record<string, unknown>)) as SuiteResult;
    if (errors.length) throw new Error(`errors in the page:\n${errors.join('\n')}`);
    return res;
  } finally {
    await browser.close();
    await server.close();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const opts: SuiteOptions = {
    quick: args.quick,
    only: args.extra.only ? args.extra.only.split(',') : undefined,
    epochs: args.extra.epochs ? Number(args.extra.epochs) : undefined,
  };
  const info = machineInfo();
  console.log('browser suite in Chromium (SwiftShader WebGPU)…');
  const b = await inChromium(opts);
  console.log(`  adapter: ${b.adapter}`);
  const e = await initEngine({ quiet: true });
  console.log(`the same suite in Node (adapter ${e.gpu.kind} — ${e.gpu.description})…`);
  const n = await runBenchSuite(opts);
  const rows = comparison(b, n);
  console.log(`\nbrowser: ${b.adapter}\nnode:    ${n.adapter_kind} — ${n.adapter}\n`);
  console.log(markdownTable(['bench', 'case', 'measure', 'Chromium', 'Node', 'Chromium / Node'], rows));
  if (args.json) {
    const machine = { ...info, loadavg_end: currentLoad() };
    const headers = ['bench', 'case', 'measure', 'chromium', 'node', 'ratio'];
    console.log(`wrote ${writeJson(args.json, { bench: 'browser', machine, browser: b, node: n, comparison: rows.map((r) => Object.fromEntries(r.map((c, i) => [headers[i], c]))) })}`);
    for (const name of ['matmul', 'infonce', 'attention', 'train'] as const) {
      if (!b[name].rows.length) continue;
      const file = args.json.replace(/(\.json)?$/, `.${name}.json`);
      writeJson(file, { ...b[name], adapter_kind: 'browser', adapter_description: b.adapter, runtime: 'chromium', machine });
    }
  }
  e.destroy();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
