// The browser demo (index.html): the same engine, model and trainer as in Node, on navigator.gpu.
// DOM and drawing only; the run itself is web/run.ts (shared with the Puppeteer test's Node side).
// `globalThis.demo` exposes the page state for the headless tests (test/browser/).

import { initEngine, engine } from '../src/gpu/engine.ts';
import { setProfiling } from '../src/gpu/profile.ts';
import type { GpuProfiler } from '../src/gpu/profile.ts';
import type { Dataset } from '../src/data/dataset.ts';
import { loadMovieLens } from '../src/data/movielens.ts';
import type { EvalCase } from '../src/data/split.ts';
import type { StepLosses, EpochLog } from '../src/train/trainer.ts';
import { putFile, clearFiles } from './shims/node-fs.ts';
import { runDemo, defaultDemoConfig, syntheticData, itemGroups, mflInputs, trainConfig } from './run.ts';
import type { DemoConfig } from './run.ts';
import { topItems } from './inspect.ts';
import type { Snapshot } from './inspect.ts';
import { pca2 } from './pca.ts';
import { lineChart, blockHeatmap, scatter, PALETTE } from './charts.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const TERMS = ['total', 'title', 'cf', 'cons', 'fusCl', 'userItem'] as const;
const TERM_TITLE: Record<(typeof TERMS)[number], string> = {
  total: 'total loss (MFL stage: L_MFL; SAL stage: user–item + aux·L_MFL)',
  title: 'L_title', cf: 'L_cf', cons: 'L_cons', fusCl: 'L_fus-cl', userItem: 'user–item InfoNCE',
};

interface LossPoint extends StepLosses {
  stage: 'mfl' | 'sal';
  step: number;
  x: number;
}

const state = {
  status: 'starting' as 'starting' | 'idle' | 'loading' | 'training' | 'paused' | 'done' | 'error',
  adapter: '',
  hasTimestamps: false,
  error: '' as string,
  losses: [] as LossPoint[],
  epochs: [] as EpochLog[],
  steps: 0,
  stepsPerSecond: 0,
  snapshot: null as Snapshot | null,
  kernels: [] as { kernel: string; calls: number; ms: number }[],
  test: null as Record<string, number> | null,
  dataset: '' as string,
  liveTensors: 0,
};

let ds: Dataset | null = null;
let cases: EvalCase[] = [];
let groups: { group: Int32Array; names: string[] } = { group: new Int32Array(0), names: [] };
let mflSteps = 0;
let pause: { promise: Promise<void>; resolve: () => void } | null = null;
let stopper: AbortController | null = null;
let profiler: GpuProfiler | null = null;
let redrawQueued = false;

function setStatus(s: typeof state.status, text?: string): void {
  state.status = s;
  $('status').textContent = text ?? s;
  const running = s === 'training' || s === 'paused';
  $<HTMLButtonElement>('train').disabled = running || s === 'starting' || s === 'loading';
  $<HTMLButtonElement>('stop').disabled = s !== 'training';
  $<HTMLButtonElement>('resume').disabled = s !== 'paused';
  $<HTMLButtonElement>('end').disabled = !running;
}

function log(line: string): void {
  const el = $('log');
  el.textContent += line + '\n';
  el.scrollTop = el.scrollHeight;
}

function fail(e: unknown): void {
  state.error = e instanceof Error ? e.message : String(e);
  setStatus('error', `error: ${state.error}`);
  $('status').className = 'err';
  console.error(e);
}

// ---------------------------------------------------------------------------------------- config

function num(id: string): number {
  const el = $<HTMLInputElement>(id);
  const v = Number(el.value);
  if (!Number.isFinite(v)) throw new Error(`'${el.closest('label')?.textContent?.trim() ?? id}' is not a number: '${el.value}'`);
  return v;
}

function readConfig(): DemoConfig {
  return {
    ...defaultDemoConfig,
    seed: num('seed'), users: num('users'), items: num('items'), dim: num('dim'), blockSize: num('blockSize'), topK: num('topK'),
    window: num('window'), epochs: num('epochs'), mflEpochs: num('mflEpochs'), cfEpochs: num('cfEpochs'), lr: num('lr'),
    batchSize: num('batchSize'), itemBatchSize: num('itemBatchSize'), maxLen: num('maxLen'), lossReadEvery: num('lossReadEvery'),
    maxSteps: num('maxSteps'),
    weights: { title: num('wTitle'), cf: num('wCf'), cons: num('wCons'), fusCl: num('wFusCl') },
  };
}

/** Fill the form (the tests use this; any field of DemoConfig). */
function setConfig(c: Partial<DemoConfig>): void {
  const { weights, ...rest } = c;
  for (const [k, v] of Object.entries(rest)) {
    const el = document.getElementById(k) as HTMLInputElement | null;
    if (!el) throw new Error(`setConfig: no field '${k}'`);
    el.value = String(v);
  }
  if (weights) {
    const ids = { title: 'wTitle', cf: 'wCf', cons: 'wCons', fusCl: 'wFusCl' } as const;
    for (const [k, v] of Object.entries(weights)) $<HTMLInputElement>(ids[k as keyof typeof ids]).value = String(v);
  }
}

// ------------------------------------------------------------------------------------------ data

const picked = new Map<string, File>();

async function loadData(c: DemoConfig): Promise<Dataset> {
  const source = (document.querySelector('input[name=source]:checked') as HTMLInputElement).value;
  if (source === 'synthetic') {
    const s = syntheticData(c);
    state.dataset = `synthetic: ${s.numUsers} users, ${s.numItems} items, ${s.options.topics} topics`;
    return s;
  }
  const need = ['u.data', 'u.item'].filter((n) => !picked.has(n));
  if (need.length) throw new Error(`MovieLens: pick ${need.join(' and ')} (have: ${[...picked.keys()].join(', ') || 'no files'})`);
  setStatus('loading', 'reading files…');
  clearFiles();
  for (const [name, f] of picked) putFile(`/picked/${name}`, new Uint8Array(await f.arrayBuffer()));
  // Without items_imdb.csv: its header only, so plot, cast and the IMDb numbers are missing modalities.
  if (!picked.has('items_imdb.csv')) putFile('/picked/items_imdb.csv', new TextEncoder().encode('movie id,Summary,Cast,Director,Rating,Runtime,No. of ratings\n'));
  const glove = [...picked.keys()].find((n) => n.endsWith('.txt') && !n.startsWith('u.'));
  const { loadWordVectors } = await import('../src/data/text.ts');
  const wordVectors = glove ? loadWordVectors(`/picked/${glove}`) : { dim: 1, index: new Map<string, number>(), vectors: new Float32Array(0), source: 'none' };
  const m = await loadMovieLens('/picked', { wordVectors });
  state.dataset = `MovieLens: ${m.numUsers} users, ${m.numItems} items${glove ? `, word vectors ${glove}` : ', no word vectors (text modalities missing)'}`;
  return m;
}

// ------------------------------------------------------------------------------------------ views

function queueRedraw(): void {
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => {
    redrawQueued = false;
    drawCurves();
  });
}

function drawCurves(): void {
  const marks = mflSteps > 0 && state.losses.some((l) => l.stage === 'sal') ? [{ x: mflSteps, label: 'SAL stage →' }] : [];
  for (const t of TERMS) {
    const pts = state.losses.filter((l) => l[t] !== undefined).map((l) => [l.x, l[t]!] as [number, number]);
    lineChart($<HTMLCanvasElement>(`c-${t}`), TERM_TITLE[t], [{ name: t, color: PALETTE[TERMS.indexOf(t)], points: pts }], { marks, xLabel: 'steps' });
  }
  const sal = state.epochs.filter((e) => e.stage === 'sal' && e.valid);
  lineChart($<HTMLCanvasElement>('c-metrics'), 'validation (full catalog)', [
    { name: 'HR@10', color: PALETTE[0], points: sal.map((e) => [e.epoch, e.valid!['HR@10']]) },
    { name: 'NDCG@10', color: PALETTE[3], points: sal.map((e) => [e.epoch, e.valid!['NDCG@10']]) },
  ], { xLabel: 'epoch' });
}

function drawKernels(): void {
  const body = $('kerneltable').querySelector('tbody')!;
  const total = state.kernels.reduce((a, k) => a + k.ms, 0);
  body.innerHTML = state.kernels
    .slice(0, 25)
    .map((k) => `<tr><td>${k.kernel}</td><td>${k.calls}</td><td>${k.ms.toFixed(2)}</td><td>${((100 * k.ms) / (total || 1)).toFixed(1)}</td></tr>`)
    .join('');
  if (state.kernels.length) $('kernelnote').textContent = `${state.kernels.reduce((a, k) => a + k.calls, 0)} dispatches, ${total.toFixed(1)} ms of GPU time in total (top 25 shown)`;
}

function title(i: number): string {
  return ds?.items.titles[i] ?? `item ${i}`;
}

function drawSal(): void {
  const snap = state.snapshot;
  if (!snap || !ds) return;
  const user = Math.max(0, Math.min(ds.numUsers - 1, Math.round(num('user'))));
  const r = cases.findIndex((c) => c.user === user);
  const recs = $('recs');
  const hist = $('history');
  if (r < 0) {
    $('salinfo').textContent = `user ${user} has fewer than 3 interactions: no held-out item`;
    return;
  }
  const c = cases[r];
  const ex = snap.explain[r];
  const h = Array.from(c.history);
  const bs = num('blockSize');
  const top = topItems(snap, r, c.seen, 10);
  const target = c.targets[0];
  recs.innerHTML = top.map((t) => `<li class="${t.item === target ? 'hit' : ''}">${escape(title(t.item))} <small>(#${t.item}, ${t.score.toFixed(2)})</small></li>`).join('');
  hist.innerHTML = h.slice(-10).reverse().map((i) => `<li>${escape(title(i))} <small>(#${i})</small></li>`).join('');
  const hit = top.some((t) => t.item === target);
  $('salinfo').textContent = `${snap.final ? 'final model' : `after SAL epoch ${snap.epoch}`}: ${h.length} items in the history, held-out next item "${title(target)}" ${hit ? 'is in' : 'is not in'} the top-10` +
    (ex ? `; window W = ${ex.window}, top-${ex.selected.length} blocks ${JSON.stringify(ex.selected.filter((s) => s >= 0))}` : '; no SAL view for this user tower');
  if (!ex) return;
  const nb = Math.ceil(h.length / bs);
  const canvas = $<HTMLCanvasElement>('heatmap');
  canvas.style.height = `${8 + nb * 20}px`;
  blockHeatmap(
    canvas,
    Array.from({ length: nb }, (_, b) => {
      const items = h.slice(b * bs, (b + 1) * bs);
      const rank = ex.selected.indexOf(b);
      return { items: items.map(String), weight: ex.blockWeights[b] ?? 0, selected: rank >= 0, rank, inWindow: items.map((_, k) => b * bs + k >= h.length - ex.window) };
    }),
  );
}

function escape(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}

function drawPcaAfter(): void {
  if (!state.snapshot) return;
  const s = state.snapshot;
  scatter($<HTMLCanvasElement>('pcaAfter'), `after MFL: fused item vectors z (${s.final ? 'final' : `SAL epoch ${s.epoch}`}, d = ${s.dim})`, s.pcaAfter, groups.group, groups.names);
}

// ----------------------------------------------------------------------------------------- train

async function trainClicked(): Promise<void> {
  let c: DemoConfig;
  try {
    c = readConfig();
    ds = await loadData(c);
  } catch (e) {
    fail(e);
    return;
  }
  $('status').className = '';
  $('datainfo').textContent = state.dataset;
  Object.assign(state, { losses: [], epochs: [], steps: 0, snapshot: null, kernels: [], test: null, error: '' });
  mflSteps = 0;
  $('log').textContent = '';
  groups = itemGroups(ds);
  const before = mflInputs(ds, trainConfig(c));
  scatter($<HTMLCanvasElement>('pcaBefore'), `before MFL: the items' input modalities (${before.dim} values, concatenated)`, pca2(before.x, ds.numItems, before.dim), groups.group, groups.names);
  const e = engine();
  profiler = $<HTMLInputElement>('profile').checked ? setProfiling(e, true) : setProfiling(e, false);
  profiler?.reset();
  $('kernelnote').textContent = profiler ? 'collecting…' : e.gpu.hasTimestamps ? 'off (tick the box above and train again)' : 'this adapter has no timestamp queries';
  stopper = new AbortController();
  setStatus('training', 'training…');
  let last = performance.now();
  let ema = 0;
  try {
    const run = await runDemo(ds, c, {
      signal: stopper.signal,
      onLosses: (stage, step, l) => {
        if (stage === 'mfl') mflSteps = Math.max(mflSteps, step + 1);
        state.losses.push({ ...l, stage, step, x: stage === 'mfl' ? step : mflSteps + step });
        queueRedraw();
      },
      onEpoch: (l) => {
        state.epochs.push(l);
        log(`[${l.stage}] epoch ${l.epoch}: loss ${l.loss.toFixed(4)}, ${l.seconds.toFixed(1)} s` + (l.valid ? `, valid HR@10 ${l.valid['HR@10'].toFixed(4)} NDCG@10 ${l.valid['NDCG@10'].toFixed(4)}` : ''));
        queueRedraw();
      },
      onStep: async (stage, global, i, per) => {
        if (pause) {
          setStatus('paused', `paused before step ${global} — Resume continues, End run evaluates now`);
          await pause.promise;
          if (stopper?.signal.aborted) return;
          setStatus('training', 'training…');
          last = performance.now();
        }
        const now = performance.now();
        if (global > 0) {
          // Average the step *time*: steps that only encode are fast and every lossReadEvery-th one
          // waits for the GPU, so an average of per-step rates would overstate the throughput.
          const dt = Math.max(1e-3, now - last);
          ema = ema ? 0.95 * ema + 0.05 * dt : dt;
          state.stepsPerSecond = 1000 / ema;
        }
        last = now;
        state.steps = global;
        $('rate').textContent = `${state.stepsPerSecond.toFixed(2)} steps/s`;
        $('status').textContent = `training: ${stage.toUpperCase()} stage, step ${i + 1}/${per} (step ${global + 1} in all)`;
        if (global % 10 === 0) $('memory').textContent = `${(e.pool.stats().bytesInUse / 2 ** 20).toFixed(1)} MiB on the GPU`;
      },
      onSnapshot: async (snap, cs) => {
        state.snapshot = snap;
        cases = cs;
        drawSal();
        drawPcaAfter();
        if (profiler) {
          state.kernels = await profiler.table();
          drawKernels();
        }
      },
    });
    state.steps = run.steps;
    state.test = run.result.test;
    log(`done: ${run.steps} steps; best SAL epoch ${run.result.bestEpoch}; test HR@10 ${run.result.test['HR@10'].toFixed(4)}, NDCG@10 ${run.result.test['NDCG@10'].toFixed(4)} (${run.result.wallSeconds.toFixed(1)} s)`);
    if (profiler) {
      state.kernels = await profiler.table();
      drawKernels();
    }
    setProfiling(e, false);
    profiler = null;
    drawCurves();
    state.liveTensors = e.pool.stats().liveTensors;
    setStatus('done', `done: ${run.steps} steps, test HR@10 ${run.result.test['HR@10'].toFixed(3)}`);
  } catch (err) {
    setProfiling(e, false);
    fail(err);
  } finally {
    pause = null;
    stopper = null;
  }
}

function stopClicked(): void {
  if (pause) return;
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  pause = { promise, resolve };
  $<HTMLButtonElement>('stop').disabled = true;
  $('status').textContent = 'stopping after the current step…';
}

function resumeClicked(): void {
  const p = pause;
  pause = null;
  p?.resolve();
}

function endClicked(): void {
  stopper?.abort();
  resumeClicked();
  $('status').textContent = 'ending: evaluating what the run has…';
}

// ------------------------------------------------------------------------------------------- boot

async function boot(): Promise<void> {
  setStatus('starting', 'starting WebGPU…');
  $('train').addEventListener('click', () => void trainClicked());
  $('stop').addEventListener('click', stopClicked);
  $('resume').addEventListener('click', resumeClicked);
  $('end').addEventListener('click', endClicked);
  $('user').addEventListener('input', () => drawSal());
  $('files').addEventListener('change', () => {
    picked.clear();
    for (const f of Array.from($<HTMLInputElement>('files').files ?? [])) picked.set(f.name, f);
    (document.querySelector('input[name=source][value=movielens]') as HTMLInputElement).checked = true;
    $('datainfo').textContent = `picked: ${[...picked.keys()].join(', ')}`;
  });
  drawCurves();
  if (!('gpu' in navigator)) throw new Error('this browser has no WebGPU (navigator.gpu); try a recent Chrome, Edge or Firefox Nightly, or enable WebGPU');
  const e = await initEngine({ quiet: true });
  state.adapter = `${e.gpu.description}`;
  state.hasTimestamps = e.gpu.hasTimestamps;
  $('adapter').textContent = `WebGPU adapter: ${e.gpu.description} · timestamp queries: ${e.gpu.hasTimestamps ? 'yes' : 'no'} · max buffer ${(e.device.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`;
  setStatus('idle', 'ready: press Train');
}

(globalThis as { demo?: unknown }).demo = { state, setConfig, readConfig, loadData };
boot().catch(fail);
