// The orchestrator: data → CF pretraining → MFL → SAL → evaluation, all model work on the GPU; the
// CPU only builds index batches (issue #4, DESIGN §5–§6).
//
//   1. split       leave-one-out by time (last = test, second-to-last = validation): data.ts
//   2. CF          BPR-MF on the training interactions → c_i, frozen (the L_cf target): cf.ts
//   3. MFL         cascade stage 1: L_MFL on batches of items (eq. 5)
//   4. SAL         cascade stage 2: user–item InfoNCE on every prefix of the training sequences, with
//                  MFL fine-tuned (its L_MFL kept as an auxiliary term) or frozen (`schedule`)
//   5. evaluate    after every SAL epoch on validation (full catalog, seen items excluded), early
//                  stopping on NDCG@10, best weights restored for the test evaluation: evaluate.ts
//
// The config (config.ts) names the model, which build.ts builds; stages 3–4 and the loop are here.
//
// A step is encoded without waiting on the GPU: losses stay on the GPU and are read back every
// `lossReadEvery` steps.

import type { Dataset } from '../data/dataset.ts';
import { mulberry32, shuffleInPlace } from '../data/rng.ts';
import { engine } from '../gpu/engine.ts';
import { tensor } from '../tensor/ops/creation.ts';
import { reshape, concat } from '../tensor/ops/layout.ts';
import { NonFiniteError } from '../errors.ts';
import { add } from '../tensor/ops/binary.ts';
import { affine } from '../tensor/ops/unary.ts';
import { gatherRows, indexTensor } from '../tensor/ops/gather.ts';
import { tidy, keep } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Adam } from '../nn/adam.ts';
import { saveCheckpoint, loadCheckpoint } from './checkpoint.ts';
import type { NamedArray } from './checkpoint.ts';
import { Mufasa, checkMufasaConfig } from '../model/mufasa.ts';
import type { TrainCatalog, LossOptions } from '../model/sequence.ts';
import { trainBPR } from './cf.ts';
import { finalize } from './metrics.ts';
import type { PopularityGroup, GapGroup, ColdnessGroup } from './breakdown.ts';
import type { RunRanks } from '../compare/paired.ts';
import { defaultTrainConfig, windowStride } from './config.ts';
import type { TrainConfig } from './config.ts';
import { dataSplit, warmItems, catalogRows, epochBatches } from './data.ts';
import { buildModel, loadWeights, uploadModalities, contentModalities } from './build.ts';
import { evaluateCases, rankCases, splitResults } from './evaluate.ts';
import type { SplitResults } from './evaluate.ts';

export interface EpochLog {
  stage: 'cf' | 'mfl' | 'sal';
  epoch: number;
  loss: number;
  seconds: number;
  /** Wall seconds since the start of training when this epoch ended (resumed runs include the earlier part). */
  wall?: number;
  valid?: Record<string, number>;
}

export interface TrainResult {
  config: TrainConfig;
  bestEpoch: number;
  wallSeconds: number;
  valid: Record<string, number>;
  /** Test metrics: leave-one-out test items, or the zero-shot users' last 3 interactions; seen items excluded. */
  test: Record<string, number>;
  /** The same with the user's earlier items left in the ranking (RecBole's rule for sequential models). */
  testWithSeen: Record<string, number>;
  /** The test metrics per popularity group of the target item (metricsByPopularity, 4 groups); leave-one-out only (one target per user). */
  testByPopularity?: PopularityGroup[];
  /** Validation and test metrics by the time from the interaction before the target to it (metricsByGap, default edges). */
  validByGap?: GapGroup[];
  testByGap?: GapGroup[];
  /** Cold-item protocol: the test metrics of the cases whose target is a cold item, and of the rest (metricsByColdness). */
  testByColdness?: ColdnessGroup[];
  /** Every validation and test target's rank (for paired comparisons between models: src/compare/paired.ts). */
  ranks?: RunRanks;
  log: EpochLog[];
  numParameters: number;
}

export interface TrainHooks {
  onEpoch?: (e: EpochLog) => void;
  /** Before every optimizer step of the MFL and SAL stages; awaited, so a caller can pause training here (the demo's Stop/Resume). */
  onStep?: (stage: string, step: number, stepsPerEpoch: number) => void | Promise<void>;
  /**
   * Each step's loss terms (`step` counts the stage's steps from 0), delivered with the periodic loss
   * readback (every `lossReadEvery` steps and at epoch ends); reading the terms costs a few more small
   * read-backs, so they are kept on the GPU only when this hook is set.
   */
  onLosses?: (stage: 'mfl' | 'sal', step: number, losses: StepLosses) => void;
  /** Checked between steps: once aborted the run skips the remaining steps and epochs (an unfinished epoch is neither evaluated nor checkpointed), then restores the best weights and evaluates as usual. */
  signal?: AbortSignal;
  /** MUFASA models only (SASRec runs skip it). After each SAL epoch's validation (`final`: after the test evaluation) with the live model and its item vectors z [I, d]; read only, do not dispose. */
  onEvaluated?: (info: { epoch: number; final: boolean; model: Mufasa; z: Tensor }) => void | Promise<void>;
  /** Save the best model here (atomically, on every validation improvement). */
  checkpointDir?: string;
  /** Recorded in the checkpoint so `eval`/`embed` can reload the same data. */
  dataSource?: Record<string, unknown>;
  /**
   * Save a resumable "last" checkpoint here after the MFL stage and after every SAL epoch: weights,
   * Adam moments and step count, the CF item embeddings (tensor `cf.itemEmb`, so a resume skips BPR),
   * the best weights so far (`best.<param>`), and in the sidecar the stage, epoch, MFL-order RNG state,
   * the loss-seed counter, early-stopping state and the log. Independent of `checkpointDir` (best model).
   */
  lastDir?: string;
  /**
   * Continue from a `lastDir` checkpoint: everything above is restored and training goes on at the
   * next epoch; a run of E epochs equals k epochs + a resume for the rest, bit for bit on one adapter.
   * `cfg` should be the checkpoint's config (the CLI loads it from the sidecar), except that the
   * stopping fields may change: whether the run has stopped is decided again from `cfg` (validation
   * evaluations since the best ≥ patience, or wall time ≥ timeBudget), so a larger patience, epoch cap
   * or time budget continues a finished run exactly as if it had been trained with them from the start.
   */
  resumeFrom?: string;
}

/** One step's loss terms (undefined: the term is off or has no input in this step). */
export interface StepLosses {
  total: number;
  title?: number;
  cf?: number;
  cons?: number;
  fusCl?: number;
  userItem?: number;
}

/** Sidecar fields of a resumable checkpoint (see TrainHooks.lastDir). */
interface ResumeState {
  kind: 'last';
  stage: 'mfl' | 'sal';
  /** SAL epochs completed (0 after the MFL stage). */
  epoch: number;
  stopped: boolean;
  orderState: number;
  stepSeed: number;
  best: number;
  bestEpoch: number;
  sinceBest: number;
  validMetrics: Record<string, number>;
  log: EpochLog[];
  wallSeconds: number;
  hasCf: boolean;
  hasBest: boolean;
}

const CF_NAME = 'cf.itemEmb';
const BEST_PREFIX = 'best.';

/** Sets rows `rows` of the 2-D parameter `t` to 0 (one read-back and one upload, at build time). */
async function zeroRows(t: Tensor, rows: Int32Array): Promise<void> {
  const d = t.shape[1];
  const data = Float32Array.from(await t.data());
  for (const r of rows) data.fill(0, r * d, (r + 1) * d);
  const b = t.binding('zeroRows');
  t.engine.stream.write(b.buffer, b.offset!, data);
}

export async function train(ds: Dataset, cfg: TrainConfig = defaultTrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  let t0 = performance.now();
  const e = engine();
  const resume = hooks.resumeFrom ? loadCheckpoint(hooks.resumeFrom) : null;
  const rs = resume ? (resume.meta as unknown as ResumeState) : null;
  if (resume && rs?.kind !== 'last') throw new Error(`${hooks.resumeFrom}: not a resumable checkpoint (it has no training state; use the run's 'last' directory)`);
  if (resume && !resume.optimizer) throw new Error(`${hooks.resumeFrom}: the checkpoint has no optimizer state`);
  const resumeFile = hooks.resumeFrom ? `${hooks.resumeFrom}/${String(resume?.meta.files)}/model.safetensors` : '';
  if (rs) t0 -= rs.wallSeconds * 1000;
  const log: EpochLog[] = rs ? rs.log.map((l) => ({ ...l })) : [];
  const emit = (l: EpochLog) => {
    log.push(l);
    hooks.onEpoch?.(l);
  };
  const split = dataSplit(ds, cfg);
  const trainSeqs = split.train;
  // The items known at training time: all, or all but the cold ones (TrainConfig.coldItems).
  const warm = split.cold ? warmItems(ds.numItems, split.cold) : null;
  // Bad values fail here, not after CF pretraining and the MFL stage.
  windowStride(cfg);
  if (cfg.arch !== 'sasrec') checkMufasaConfig(cfg.model, contentModalities(ds, cfg.excludeModalities).length);
  // Everything allocated below is freed here, also when a stage throws (divergence, device loss).
  const cleanup: (() => void)[] = [];
  const pending: Tensor[] = [];
  cleanup.push(() => pending.splice(0).forEach((t) => t.dispose()));
  // hooks.onLosses: each pending step's loss terms, kept out of the step's tidy scope until read back.
  type Terms = Partial<Record<Exclude<keyof StepLosses, 'total'>, Tensor>>;
  const pendingTerms: { stage: 'mfl' | 'sal'; step: number; terms: Terms; total: Tensor }[] = [];
  cleanup.push(() => pendingTerms.splice(0).forEach((p) => Object.values(p.terms).forEach((t) => t.dispose())));
  let recording: Terms | null = null;
  const record = (name: keyof Terms, t: Tensor | null) => {
    if (recording && t) recording[name] = keep(t);
  };
  const stepCount = { mfl: 0, sal: 0 };
  let stage: 'mfl' | 'sal' = 'mfl';
  const aborted = () => hooks.signal?.aborted ?? false;
  try {
    return await stages();
  } finally {
    for (const f of cleanup.reverse()) f();
  }

  async function stages(): Promise<TrainResult> {
    // 2. CF pretraining on training interactions only.
    let cf: Tensor | null = null;
    if (rs?.hasCf) {
      const w = resume!.weights.get(CF_NAME);
      if (!w || w.shape.length !== 2 || w.shape[0] !== ds.numItems) throw new Error(`${resumeFile}: '${CF_NAME}' missing or not [${ds.numItems}, d]`);
      cf = keep(tensor(w.data as Float32Array, w.shape));
      cleanup.push(() => cf?.dispose());
    } else if (!rs && cfg.arch !== 'sasrec' && (cfg.model.itemTower ?? 'mfl') === 'mfl' && cfg.cfEpochs > 0 && cfg.model.mfl.weights.cf > 0) {
      const tc = performance.now();
      const bpr = await trainBPR({ numUsers: trainSeqs.length, numItems: ds.numItems, sequences: trainSeqs, candidates: warm ?? undefined }, { dim: cfg.model.dim, epochs: cfg.cfEpochs, seed: cfg.seed });
      bpr.userEmb.dispose();
      cf = keep(bpr.itemEmb);
      cleanup.push(() => cf?.dispose());
      emit({ stage: 'cf', epoch: cfg.cfEpochs, loss: bpr.losses[bpr.losses.length - 1], seconds: (performance.now() - tc) / 1000, wall: (performance.now() - t0) / 1000 });
    }

    const modalities = uploadModalities(ds, cfg.excludeModalities);
    const titleMod = ds.items.modalities.find((m) => m.name === 'title') ?? null;
    const titles = titleMod ? keep(tensor(titleMod.values, [ds.numItems, titleMod.dim])) : null;
    const titledItems = titleMod ? Array.from({ length: ds.numItems }, (_, i) => i).filter((i) => titleMod.present[i]) : [];
    const titledSet = new Set(titledItems);
    const model = buildModel(ds, cfg);
    const allItems = keep(indexTensor(Array.from({ length: ds.numItems }, (_, i) => i), [ds.numItems], ds.numItems));
    const catalog: TrainCatalog | undefined = warm ? { items: keep(indexTensor(Array.from(warm), [warm.length], ds.numItems)), rowOf: catalogRows(ds.numItems, warm) } : undefined;
    if (catalog) cleanup.push(() => catalog.items.dispose());
    const opt = new Adam(model.parameters(), { lr: cfg.lr, weightDecay: cfg.weightDecay, decoupled: true, clipNorm: cfg.clipNorm });
    cleanup.push(
      () => modalities.forEach((m) => (m.values.dispose(), m.present.dispose())),
      () => titles?.dispose(),
      () => model.dispose(),
      () => allItems.dispose(),
      () => opt.dispose(),
    );
    const order = mulberry32(cfg.seed + 2);
    let stepSeed = cfg.seed * 100003;
    if (rs) {
      loadWeights(model, resume!.weights, resumeFile);
      opt.importState({ step: Number(resume!.meta.optimizerStep), arrays: [...resume!.optimizer!.values()] });
      order.setState(rs.orderState);
      stepSeed = rs.stepSeed;
    }
    // Cold-item protocol: an unknown item has no ID information, so its ID row is 0 rather than random
    // (no gradient reaches it, so it stays 0 and a cold item's vector is its content alone); a resume
    // loads the zeros with the weights.
    if (warm && !rs && model.idTable) await zeroRows(model.idTable, split.cold!);

    /** Save the resumable state (hooks.lastDir); reads the weights and moments back. */
    const saveLast = async (st: Omit<ResumeState, 'kind' | 'orderState' | 'stepSeed' | 'log' | 'wallSeconds' | 'hasCf' | 'hasBest'>, bestW: Float32Array[] | null): Promise<void> => {
      if (!hooks.lastDir) return;
      const ps = model.parameters();
      const weights: NamedArray[] = [];
      for (const p of ps) weights.push({ name: p.name!, shape: [...p.shape], data: (await p.data()) as Float32Array });
      if (cf) weights.push({ name: CF_NAME, shape: [...cf.shape], data: (await cf.data()) as Float32Array });
      if (bestW) ps.forEach((p, i) => weights.push({ name: BEST_PREFIX + p.name!, shape: [...p.shape], data: bestW[i] }));
      const os = await opt.exportState();
      const meta: ResumeState & Record<string, unknown> = {
        kind: 'last',
        ...st,
        orderState: order.state(),
        stepSeed,
        log,
        wallSeconds: (performance.now() - t0) / 1000,
        hasCf: cf !== null,
        hasBest: bestW !== null,
        optimizerStep: os.step,
        config: cfg,
        data: hooks.dataSource ?? null,
        dataset: ds.name,
        numItems: ds.numItems,
      };
      saveCheckpoint(hooks.lastDir, weights, os.arrays, meta);
    };

    /** L_MFL on a batch of item ids (CPU array). */
    const mfl = model.fusion;
    const mflLoss = (ids: number[]): Tensor => {
      if (!mfl) throw new Error('internal: mflLoss on a model without MFL');
      const idx = indexTensor(ids, [ids.length], ds.numItems);
      const z = mfl.forward(modalities, idx);
      const titledRows = ids.map((id, r) => (titledSet.has(id) ? r : -1)).filter((r) => r >= 0);
      const ls = mfl.losses(z, {
        titles: titles && titledRows.length >= 2 ? gatherRows(titles, idx) : null,
        titled:
          titledRows.length >= 2 && titledRows.length < ids.length
            ? { rows: indexTensor(titledRows, [titledRows.length], ids.length), ids: tensor(Int32Array.from(titledRows, (r) => ids[r]), [titledRows.length], { dtype: 'i32' }) }
            : null,
        cf: cf ? gatherRows(cf, idx) : null,
        itemIds: tensor(Int32Array.from(ids), [ids.length], { dtype: 'i32' }),
        seed: stepSeed++,
      });
      record('title', ls.title);
      record('cf', ls.cf);
      record('cons', ls.cons);
      record('fusCl', ls.fusCl);
      return ls.total;
    };

    /** hooks.onLosses: read the recorded terms of the pending steps (before their totals are disposed). */
    const readTerms = async (): Promise<void> => {
      for (const p of pendingTerms.splice(0)) {
        const out: StepLosses = { total: (await p.total.data())[0] };
        for (const [k, t] of Object.entries(p.terms) as [keyof Terms, Tensor][]) {
          out[k] = (await t.data())[0];
          t.dispose();
        }
        hooks.onLosses!(p.stage, p.step, out);
      }
    };

    const readLosses = async (ls: Tensor[]): Promise<number> => {
      await readTerms();
      if (!ls.length) return 0;
      // NaN/Inf guard (issue 7): the window's losses are gathered on the GPU and read back in one round
      // trip (one l.data() each cost a submit-and-wait per step). Checkpoints are written only after
      // such a check, and saveCheckpoint refuses non-finite weights, so the last good one stays intact.
      const all = tidy(() => noGrad(() => concat(ls.map((l) => reshape(l, [1])), 0)));
      let vs: Float32Array | Int32Array;
      try {
        vs = await all.data();
      } finally {
        all.dispose();
        ls.forEach((l) => l.dispose());
      }
      let s = 0;
      for (let i = 0; i < vs.length; i++) {
        if (!Number.isFinite(vs[i])) {
          throw new NonFiniteError({
            quantity: `the ${stage === 'mfl' ? 'L_MFL' : 'user–item'} training loss`,
            value: vs[i],
            stage,
            step: stepCount[stage] - vs.length + i,
            hint: `training stopped (lr ${cfg.lr}); the last good checkpoint${hooks.lastDir ? ` (${hooks.lastDir})` : ''} is intact`,
          });
        }
        s += vs[i];
      }
      return s;
    };

    /** One optimizer step on `loss()`; returns the sum of the losses read back now (every lossReadEvery steps). */
    const optimizerStep = async (loss: () => Tensor): Promise<number> => {
      opt.zeroGrad();
      const terms: Terms | null = (recording = hooks.onLosses ? {} : null);
      let l: Tensor;
      try {
        l = tidy(loss);
      } catch (err) {
        Object.values(terms ?? {}).forEach((t) => t.dispose());
        throw err;
      } finally {
        recording = null;
      }
      if (terms) pendingTerms.push({ stage, step: stepCount[stage], terms, total: l });
      stepCount[stage]++;
      l.backward();
      opt.step();
      pending.push(l);
      return pending.length >= cfg.lossReadEvery ? readLosses(pending.splice(0)) : 0;
    };

    // 3. MFL stage: epochs over the item catalog.
    for (let ep = 1; !rs && mfl && ep <= cfg.mflEpochs && !aborted(); ep++) {
      const te = performance.now();
      const ids = warm ? Array.from(warm) : Array.from({ length: ds.numItems }, (_, i) => i);
      shuffleInPlace(ids, order);
      let sum = 0;
      let n = 0;
      for (let s = 0; s + 2 <= ids.length; s += cfg.itemBatchSize) {
        await hooks.onStep?.('mfl', n, Math.ceil((ids.length - 1) / cfg.itemBatchSize));
        if (aborted()) break;
        sum += await optimizerStep(() => mflLoss(ids.slice(s, s + cfg.itemBatchSize)));
        n++;
      }
      sum += await readLosses(pending.splice(0));
      emit({ stage: 'mfl', epoch: ep, loss: sum / Math.max(1, n), seconds: (performance.now() - te) / 1000, wall: (performance.now() - t0) / 1000 });
    }

    // 4. SAL stage with early stopping on validation NDCG@10.
    let best = -1;
    let bestEpoch = 0;
    let bestWeights: Float32Array[] | null = null;
    let sinceBest = 0;
    const params = model.parameters();
    let validMetrics: Record<string, number> = {};
    let firstEpoch = 1;
    let stopped = false;
    if (rs) {
      ({ best, bestEpoch, sinceBest, validMetrics } = rs);
      // A stopped run is tested again with the resumed config (TrainHooks.resumeFrom), by the two tests
      // the loop applies after every epoch; unchanged config: the saved decision. A running one stays
      // running (its sidecar's wallSeconds is taken after the budget test, so it may read a little over).
      stopped = rs.stopped && (sinceBest >= cfg.patience || (cfg.timeBudget > 0 && rs.wallSeconds >= cfg.timeBudget));
      firstEpoch = rs.epoch + 1;
      if (rs.hasBest) {
        bestWeights = params.map((p) => {
          const w = resume!.weights.get(BEST_PREFIX + p.name!);
          if (!w || w.data.length !== p.size) throw new Error(`${resumeFile}: '${BEST_PREFIX}${p.name}' missing or of the wrong size`);
          return w.data as Float32Array;
        });
      }
    } else if (!aborted()) {
      await saveLast({ stage: 'mfl', epoch: 0, stopped: false, best, bestEpoch, sinceBest, validMetrics }, null);
    }
    stage = 'sal';
    for (let ep = firstEpoch; !stopped && ep <= cfg.epochs && !aborted(); ep++) {
      const te = performance.now();
      let sum = 0;
      let n = 0;
      const batches = epochBatches(trainSeqs, ds.numItems, cfg, ep);
      for (const [bi, sb] of batches.entries()) {
        await hooks.onStep?.('sal', bi, batches.length);
        if (aborted()) break;
        // Dropout seeds come from the same counter as L_MFL's (resumes restore it); only stochastic models draw one.
        const lossOpts: LossOptions = { ...(model.stochastic ? { seed: stepSeed++ } : {}), catalog };
        sum += await optimizerStep(() => {
          if (cfg.schedule === 'frozen' && mfl) {
            const z = noGrad(() => model.itemVectors(modalities, allItems));
            const u = model.userItemLoss(z, sb, lossOpts);
            record('userItem', u);
            return u;
          }
          const z = model.itemVectors(modalities, allItems, lossOpts.seed === undefined ? null : { seed: lossOpts.seed });
          const ui = model.userItemLoss(z, sb, lossOpts);
          record('userItem', ui);
          if (cfg.mflAuxWeight <= 0 || !mfl) return ui;
          const batchItems = [...new Set(Array.from(sb.items).filter((x) => x < ds.numItems))];
          return add(ui, affine(mflLoss(batchItems), cfg.mflAuxWeight, 0));
        });
        n++;
      }
      sum += await readLosses(pending.splice(0));
      if (aborted()) break; // an unfinished epoch: no validation, no checkpoint
      const z = tidy(() => noGrad(() => model.itemVectors(modalities, allItems)));
      try {
        validMetrics = finalize(await evaluateCases(model, z, split.valid, cfg.maxLen));
        if (model instanceof Mufasa) await hooks.onEvaluated?.({ epoch: ep, final: false, model, z });
      } finally {
        z.dispose();
      }
      emit({ stage: 'sal', epoch: ep, loss: sum / Math.max(1, n), seconds: (performance.now() - te) / 1000, wall: (performance.now() - t0) / 1000, valid: validMetrics });
      const score = validMetrics['NDCG@10'];
      if (score > best) {
        best = score;
        bestEpoch = ep;
        sinceBest = 0;
        bestWeights = [];
        for (const p of params) bestWeights.push((await p.data()) as Float32Array);
        if (hooks.checkpointDir) {
          saveCheckpoint(
            hooks.checkpointDir,
            params.map((p, i) => ({ name: p.name!, shape: [...p.shape], data: bestWeights![i] })),
            null,
            { config: cfg, epoch: ep, metric: 'NDCG@10', valid: validMetrics, data: hooks.dataSource ?? null, dataset: ds.name, numItems: ds.numItems },
          );
        }
      } else if (++sinceBest >= cfg.patience) {
        stopped = true;
      }
      if (cfg.timeBudget > 0 && (performance.now() - t0) / 1000 >= cfg.timeBudget) stopped = true;
      await saveLast({ stage: 'sal', epoch: ep, stopped, best, bestEpoch, sinceBest, validMetrics }, bestWeights);
    }

    // 5. Restore the best weights, then test.
    if (bestWeights) {
      params.forEach((p, i) => {
        const b = p.binding('restore');
        e.stream.write(b.buffer, b.offset!, bestWeights![i]);
      });
    }
    const z = tidy(() => noGrad(() => model.itemVectors(modalities, allItems)));
    let results: SplitResults;
    let testWithSeen: Record<string, number>;
    try {
      results = splitResults(await rankCases(model, z, split.valid, cfg.maxLen), await rankCases(model, z, split.test, cfg.maxLen), split, ds.numItems, cfg);
      testWithSeen = finalize(await evaluateCases(model, z, split.test, cfg.maxLen, 256, false));
      if (model instanceof Mufasa) await hooks.onEvaluated?.({ epoch: bestEpoch, final: true, model, z });
    } finally {
      z.dispose();
    }
    return { config: cfg, bestEpoch, wallSeconds: (performance.now() - t0) / 1000, ...results, testWithSeen, log, numParameters: params.reduce((a, p) => a + p.size, 0) };
  }
}
