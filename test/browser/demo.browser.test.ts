// The demo page (index.html + web/) in headless Chromium (SwiftShader WebGPU): 20 training steps on a
// tiny synthetic set through the page's own controls, against the same run (web/run.ts, same seed and
// config) in this Node process. Also: MovieLens files picked through the page's file input load with
// the Node loaders running in the page.
import { it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import type { Browser, ElementHandle, Page } from 'puppeteer';
import { serveDemo } from '../../web/build.ts';
import type { Served } from '../../web/build.ts';
import { runDemo, defaultDemoConfig, syntheticData } from '../../web/run.ts';
import type { DemoConfig } from '../../web/run.ts';
import type { StepLosses } from '../../src/train/trainer.ts';
import { launchChromium, watchedPage } from './chromium.ts';

const ARTIFACTS = new URL('../../artifacts/', import.meta.url).pathname;
const ML100K = new URL('../../../shared/data/ml-100k/', import.meta.url).pathname;

// 40 users × 60 items, d 16: 4 MFL steps (60 items in batches of 16), then 16 SAL steps (5 per epoch,
// 3 validations on the way); every step's losses read back.
const TINY: DemoConfig = { ...defaultDemoConfig, users: 40, items: 60, dim: 16, mflEpochs: 1, itemBatchSize: 16, batchSize: 8, epochs: 4, cfEpochs: 2, lossReadEvery: 1, maxSteps: 20, maxLen: 40 };

type Point = StepLosses & { stage: 'mfl' | 'sal'; step: number };

let server: Served;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await serveDemo();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function openDemo(): Promise<{ page: Page; errors: string[] }> {
  const w = await watchedPage(browser);
  await w.page.goto(server.url);
  await w.page.waitForFunction('globalThis.demo && globalThis.demo.state.status !== "starting"', { timeout: 30_000 });
  return w;
}

const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;

it('trains 20 steps in Chromium with the losses of the Node engine, and draws the views', async () => {
  const { page, errors } = await openDemo();
  expect(await page.evaluate('globalThis.demo.state.status')).toBe('idle');
  await page.evaluate((c) => (globalThis as unknown as { demo: { setConfig(c: unknown): void } }).demo.setConfig(c), TINY as unknown as Record<string, unknown>);
  await page.click('#train');
  // Stop (pause) mid-run: no step runs while paused; Resume goes on with the same run.
  await page.waitForFunction('globalThis.demo.state.steps >= 8', { timeout: 120_000, polling: 100 });
  await page.click('#stop');
  await page.waitForFunction('globalThis.demo.state.status === "paused"', { timeout: 60_000, polling: 100 });
  const pausedAt = await page.evaluate('globalThis.demo.state.steps');
  await new Promise((r) => setTimeout(r, 1000));
  expect(await page.evaluate('globalThis.demo.state.steps')).toBe(pausedAt);
  expect(await page.evaluate('globalThis.demo.state.status')).toBe('paused');
  await page.click('#resume');
  await page.waitForFunction('["done", "error"].includes(globalThis.demo.state.status)', { timeout: 120_000, polling: 250 });
  const st = (await page.evaluate('globalThis.demo.state')) as {
    status: string; error: string; adapter: string; hasTimestamps: boolean; steps: number; losses: Point[];
    kernels: { kernel: string; calls: number; ms: number }[]; snapshot: { explain: unknown[]; pcaAfter: Record<string, number> } | null; liveTensors: number;
  };
  expect(st.error).toBe('');
  expect(st.status).toBe('done');
  await page.screenshot({ path: `${ARTIFACTS}demo-after-training.png`, fullPage: true });

  // The same run in Node (default adapter: llvmpipe-GL here; Chromium runs SwiftShader).
  const node: Point[] = [];
  const run = await runDemo(syntheticData(TINY), TINY, { onLosses: (stage, step, l) => node.push({ ...l, stage, step }) });
  expect(run.steps).toBe(20);
  expect(st.steps).toBe(20);
  expect(st.losses.length).toBe(20);
  expect(node.length).toBe(20);

  // (b) Step by step, every term. Different adapters sum in different orders (f32), and 20 Adam steps
  // carry those differences forward; measured: max relative difference 1.5e-5 between SwiftShader in
  // Chromium and llvmpipe-GL in Node. 1e-3 still catches any semantic difference (another seed, batch
  // or term changes the losses by ≥ 1e-2).
  let worst = 0;
  node.forEach((n, i) => {
    const b = st.losses[i];
    expect([b.stage, b.step]).toEqual([n.stage, n.step]);
    for (const k of ['total', 'title', 'cf', 'cons', 'fusCl', 'userItem'] as const) {
      expect(b[k] === undefined).toBe(n[k] === undefined);
      if (n[k] === undefined) continue;
      expect(Number.isFinite(b[k])).toBe(true);
      const rel = Math.abs(b[k]! - n[k]!) / Math.max(1e-6, Math.abs(n[k]!));
      worst = Math.max(worst, rel);
      expect(rel, `step ${i} (${n.stage} ${n.step}) ${k}: browser ${b[k]} vs node ${n[k]}`).toBeLessThan(1e-3);
    }
  });
  console.log(`demo: 20 steps in ${st.adapter}; max relative loss difference to Node ${worst.toExponential(2)}`);

  // (a) The losses go down: SAL stage (16 steps), first four vs last four.
  const sal = st.losses.filter((l) => l.stage === 'sal');
  expect(sal.length).toBe(16);
  for (const k of ['userItem', 'total'] as const) expect(mean(sal.slice(-4).map((l) => l[k]!))).toBeLessThan(0.9 * mean(sal.slice(0, 4).map((l) => l[k]!)));

  // The views got their data: a snapshot with SAL explanations, a PCA, a kernel table (SwiftShader has
  // timestamp queries), and the page's engine is back to zero live tensors.
  expect(st.snapshot).not.toBeNull();
  expect(st.snapshot!.explain.length).toBeGreaterThan(0);
  expect(Object.keys(st.snapshot!.pcaAfter).length).toBe(2 * TINY.items);
  if (st.hasTimestamps) {
    expect(st.kernels.length).toBeGreaterThan(10);
    expect(st.kernels.some((k) => k.kernel.startsWith('matmul:') && k.ms > 0)).toBe(true);
  }
  expect(st.liveTensors).toBe(0);
  // (c) and (d)
  expect(errors).toEqual([]);
  expect(statSync(`${ARTIFACTS}demo-after-training.png`).size).toBeGreaterThan(10_000);
  await page.close();
});

it.skipIf(!existsSync(`${ML100K}u.data`))('loads MovieLens-100K files picked in the page with the Node loaders', async () => {
  const { page, errors } = await openDemo();
  const input = (await page.$('#files')) as ElementHandle<HTMLInputElement> | null;
  await input!.uploadFile(`${ML100K}u.data`, `${ML100K}u.item`, `${ML100K}items_imdb.csv`);
  const got = (await page.evaluate(`(async () => {
    const d = await globalThis.demo.loadData(globalThis.demo.readConfig());
    const m = (n) => d.items.modalities.find((x) => x.name === n);
    const present = (n) => m(n).present.reduce((a, x) => a + x, 0);
    return { users: d.numUsers, items: d.numItems, interactions: d.sequences.reduce((a, s) => a + s.length, 0), title: d.items.titles[0],
      genre: present('genre'), plot: present('plot'), titleVec: present('title'), info: globalThis.demo.state.dataset };
  })()`)) as Record<string, number | string>;
  // ML-100K: 943 users, 1682 items, 100,000 ratings (../shared/data/README.md); no word vectors were
  // picked, so the text modalities are missing (present = 0), the genre flags are there for every item.
  expect(got).toMatchObject({ users: 943, items: 1682, interactions: 100000, title: 'Toy Story (1995)', genre: 1682, titleVec: 0, plot: 0 });
  expect(errors).toEqual([]);
  await page.close();
});
