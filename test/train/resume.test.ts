// Checkpoint resume (issue #4 §3): k epochs with a "last" checkpoint + a resume for the rest must give
// the same SAL loss curve and test metrics as one uninterrupted run. Exact equality: on one adapter the
// kernels are deterministic, so any difference is unsaved state (RNG, seed counter, moments, step count).
import { it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { train } from '../../src/train/trainer.ts';
import { defaultTrainConfig, smallerStopping } from '../../src/train/config.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

it('1 epoch + resume for 2 equals 3 uninterrupted epochs (losses and test metrics, exactly)', async () => {
  const ds = makeSynthetic({ seed: 5, users: 60, items: 80 });
  const cfg: TrainConfig = { ...defaultTrainConfig, seed: 5, epochs: 3, mflEpochs: 1, cfEpochs: 2, batchSize: 16, itemBatchSize: 32, lossReadEvery: 3, model: { ...defaultTrainConfig.model, dim: 16 } };
  const straight = await train(ds, cfg);

  const dir = mkdtempSync(join(tmpdir(), 'mufasa-resume-'));
  dirs.push(dir);
  const last = join(dir, 'last');
  const first = await train(ds, { ...cfg, epochs: 1 }, { lastDir: last, checkpointDir: join(dir, 'best') });
  const ck = loadCheckpoint(last);
  expect(ck.meta.stage).toBe('sal');
  expect(ck.meta.epoch).toBe(1);
  expect(ck.weights.has('cf.itemEmb')).toBe(true);
  expect(first.log.filter((l) => l.stage === 'sal').map((l) => l.loss)).toEqual(straight.log.filter((l) => l.stage === 'sal').slice(0, 1).map((l) => l.loss));

  const resumed = await train(ds, cfg, { resumeFrom: last, lastDir: last, checkpointDir: join(dir, 'best') });
  const sal = (r: typeof straight) => r.log.filter((l) => l.stage === 'sal').map((l) => [l.epoch, l.loss, l.valid]);
  expect(sal(resumed)).toEqual(sal(straight));
  expect(resumed.log.filter((l) => l.stage !== 'sal').map((l) => l.loss)).toEqual(straight.log.filter((l) => l.stage !== 'sal').map((l) => l.loss));
  expect(resumed.bestEpoch).toBe(straight.bestEpoch);
  expect(resumed.valid).toEqual(straight.valid);
  expect(resumed.test).toEqual(straight.test);
  expect(loadCheckpoint(last).meta.epoch).toBe(3);
  expect(existsSync(join(dir, 'best', 'checkpoint.json'))).toBe(true);
}, 60_000);

it('refuses a best-model checkpoint (no training state) as a resume source', async () => {
  const ds = makeSynthetic({ seed: 5, users: 30, items: 40 });
  const dir = mkdtempSync(join(tmpdir(), 'mufasa-resume-'));
  dirs.push(dir);
  const cfg: TrainConfig = { ...defaultTrainConfig, seed: 1, epochs: 1, mflEpochs: 0, cfEpochs: 0, batchSize: 16, model: { ...defaultTrainConfig.model, dim: 8 } };
  await train(ds, cfg, { checkpointDir: join(dir, 'best') });
  await expect(train(ds, cfg, { resumeFrom: join(dir, 'best') })).rejects.toThrow(/not a resumable checkpoint/);
}, 30_000);

// Early stopping is decided again on resume from the resumed config, so `--patience`/`--epochs` can
// extend a finished run: the continuation must be the run that had the larger patience all along.
it('a run stopped by patience 1 (or by its time budget), resumed with patience 4 (or no budget), equals a run trained with patience 4 (exactly); resumed unchanged, it stays stopped', async () => {
  const ds = makeSynthetic({ seed: 5, users: 60, items: 80 });
  const cfg: TrainConfig = { ...defaultTrainConfig, seed: 3, epochs: 8, mflEpochs: 1, cfEpochs: 2, batchSize: 16, itemBatchSize: 32, lossReadEvery: 3, lr: 0.01, model: { ...defaultTrainConfig.model, dim: 16 } };
  const dir = mkdtempSync(join(tmpdir(), 'mufasa-resume-'));
  dirs.push(dir);
  const last = join(dir, 'last');
  const hooks = { lastDir: last, checkpointDir: join(dir, 'best') };
  const short = await train(ds, { ...cfg, patience: 1 }, hooks);
  const sal = (r: typeof short) => r.log.filter((l) => l.stage === 'sal').map((l) => [l.epoch, l.loss, l.valid]);
  const stoppedAt = sal(short).length;
  expect(stoppedAt).toBeLessThan(cfg.epochs); // the fixture must stop early, or this test checks nothing
  expect(loadCheckpoint(last).meta.stopped).toBe(true);

  const same = await train(ds, { ...cfg, patience: 1 }, { ...hooks, resumeFrom: last });
  expect(sal(same)).toEqual(sal(short));
  expect(same.test).toEqual(short.test);

  const long = await train(ds, { ...cfg, patience: 4 });
  expect(sal(long).length).toBeGreaterThan(stoppedAt);
  const extended = await train(ds, { ...cfg, patience: 4 }, { ...hooks, resumeFrom: last });
  expect(sal(extended)).toEqual(sal(long));
  expect(extended.bestEpoch).toBe(long.bestEpoch);
  expect(extended.test).toEqual(long.test);
  expect(loadCheckpoint(last).meta.epoch).toBe(sal(long).length);

  // The same with a time budget that every epoch passes: stopped after epoch 1, whatever the patience.
  const timed = join(dir, 'timed');
  const tHooks = { lastDir: timed, checkpointDir: join(dir, 'best-timed') };
  const budget = await train(ds, { ...cfg, patience: 4, timeBudget: 1e-6 }, tHooks);
  expect(sal(budget)).toEqual(sal(long).slice(0, 1));
  const stillTimed = await train(ds, { ...cfg, patience: 4, timeBudget: 1e-6 }, { ...tHooks, resumeFrom: timed });
  expect(sal(stillTimed)).toEqual(sal(budget));
  const unbudgeted = await train(ds, { ...cfg, patience: 4 }, { ...tHooks, resumeFrom: timed });
  expect(sal(unbudgeted)).toEqual(sal(long));
  expect(unbudgeted.test).toEqual(long.test);
}, 120_000);

it('smallerStopping names the stopping fields a resume lowers (timeBudget 0 = no budget = the largest)', () => {
  const c: TrainConfig = { ...defaultTrainConfig, epochs: 40, patience: 5, timeBudget: 0 };
  expect(smallerStopping(c, c)).toEqual([]);
  expect(smallerStopping(c, { ...c, epochs: 70, patience: 10 })).toEqual([]);
  expect(smallerStopping(c, { ...c, epochs: 30, patience: 4 })).toEqual(['epochs', 'patience']);
  expect(smallerStopping(c, { ...c, timeBudget: 600 })).toEqual(['timeBudget']);
  expect(smallerStopping({ ...c, timeBudget: 600 }, c)).toEqual([]);
  expect(smallerStopping({ ...c, timeBudget: 600 }, { ...c, timeBudget: 300 })).toEqual(['timeBudget']);
});
