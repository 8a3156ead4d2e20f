// Fault tests (issue 7): a diverging run stops with NonFiniteError and leaves the last good checkpoint
// loadable (and resumable); a device lost mid-training (device.destroy() from a hook) stops the run with
// DeviceLostError, and a new engine resumes from the last checkpoint to the same result as a run that
// was never interrupted; an asynchronous device error (validation, out of memory) is thrown as DeviceError
// by the next readback or sync, and stops a training run with the last checkpoint intact. Tiny synthetic
// configs: the whole file is a few seconds on llvmpipe.
import { it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { train } from '../../src/train/trainer.ts';
import { defaultTrainConfig } from '../../src/train/config.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { Engine, engine, setEngine } from '../../src/gpu/engine.ts';
import { NonFiniteError, DeviceLostError, DeviceError } from '../../src/errors.ts';
import { tensor } from '../../src/tensor/ops/creation.ts';

/** An uncaptured validation error on `e`'s device: MAP_READ may only be combined with COPY_DST. */
function provokeDeviceError(e: Engine): void {
  e.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'mufasa-faults-'));
  dirs.push(d);
  return d;
};

const ds = makeSynthetic({ seed: 7, users: 40, items: 60 });
const cfg: TrainConfig = {
  ...defaultTrainConfig, seed: 7, epochs: 3, mflEpochs: 1, cfEpochs: 1, batchSize: 16, itemBatchSize: 32, lossReadEvery: 3, patience: 10,
  model: { ...defaultTrainConfig.model, dim: 16 },
};

function allFinite(ck: ReturnType<typeof loadCheckpoint>): boolean {
  for (const a of [...ck.weights.values(), ...(ck.optimizer?.values() ?? [])]) if (!a.data.every(Number.isFinite)) return false;
  return true;
}

it('NaN guard: a diverging run stops with NonFiniteError naming stage and step; the last checkpoint loads and resumes', async () => {
  const last = join(tmp(), 'last');
  await train(ds, { ...cfg, epochs: 1 }, { lastDir: last });
  const before = readFileSync(join(last, 'checkpoint.json'), 'utf8');

  // lr 1e30: the first Adam step sends the weights to ~1e30, the next forward overflows to Inf/NaN.
  const err = await train(ds, { ...cfg, lr: 1e30 }, { resumeFrom: last, lastDir: last }).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(NonFiniteError);
  const w = (err as NonFiniteError).where;
  expect(w.stage).toBe('sal');
  expect(Number.isNaN(w.value) || !Number.isFinite(w.value)).toBe(true);
  expect(w.step).toBeGreaterThanOrEqual(0);
  expect(w.step).toBeLessThan(cfg.lossReadEvery * 2);
  expect((err as Error).message).toMatch(/non-finite value: the user–item training loss is (NaN|-?Infinity) \(stage sal, step \d+\); training stopped \(lr 1e\+30\); the last good checkpoint \(.*last\) is intact/);

  // The last good checkpoint is untouched, finite, and training continues from it.
  expect(readFileSync(join(last, 'checkpoint.json'), 'utf8')).toBe(before);
  const ck = loadCheckpoint(last);
  expect(ck.meta.epoch).toBe(1);
  expect(allFinite(ck)).toBe(true);
  const resumed = await train(ds, { ...cfg, epochs: 2 }, { resumeFrom: last, lastDir: last });
  expect(resumed.log.filter((l) => l.stage === 'sal').map((l) => l.epoch)).toEqual([1, 2]);
  expect(resumed.log.every((l) => Number.isFinite(l.loss))).toBe(true);
}, 60_000);

it('saveCheckpoint refuses non-finite weights and keeps the previous checkpoint', () => {
  const dir = tmp();
  saveCheckpoint(dir, [{ name: 'w', shape: [2], data: Float32Array.from([1, 2]) }], null, { epoch: 1 });
  const bad = () => saveCheckpoint(dir, [{ name: 'w', shape: [2], data: Float32Array.from([1, NaN]) }], null, { epoch: 2 });
  expect(bad).toThrow(NonFiniteError);
  expect(bad).toThrow(/tensor 'w' \[2\] element 1 is NaN; checkpoint not written/);
  const ck = loadCheckpoint(dir);
  expect(ck.meta.epoch).toBe(1);
  expect(Array.from(ck.weights.get('w')!.data)).toEqual([1, 2]);
});

it('device loss: destroy() mid-training stops the run with DeviceLostError; a new engine resumes to the uninterrupted result', async () => {
  const home = engine();
  const straight = await train(ds, cfg);
  const last = join(tmp(), 'last');
  const lost = await Engine.create({ exclusive: true, quiet: true });
  let resumedOn: Engine | null = null;
  try {
    setEngine(lost);
    const err = await train(ds, cfg, {
      lastDir: last,
      onEpoch: (l) => {
        if (l.stage === 'sal' && l.epoch === 2) lost.device.destroy(); // before epoch 2's checkpoint
      },
    }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceLostError);
    expect((err as Error).message).toMatch(/the GPU device was lost \(destroyed.*\); create a new engine and resume from the last checkpoint/);
    expect(lost.lost).toBe(true);
    // Every later op says so too, instead of silently doing nothing.
    expect(() => tensor([1, 2, 3])).toThrow(DeviceLostError);
    expect(loadCheckpoint(last).meta.epoch).toBe(1);

    resumedOn = await Engine.create({ exclusive: true, quiet: true });
    setEngine(resumedOn);
    const resumed = await train(ds, cfg, { resumeFrom: last, lastDir: last });
    const sal = (r: typeof straight) => r.log.filter((l) => l.stage === 'sal').map((l) => [l.epoch, l.loss]);
    expect(sal(resumed)).toEqual(sal(straight));
    expect(resumed.test).toEqual(straight.test);
    expect(loadCheckpoint(last).meta.epoch).toBe(3);
    resumedOn.pool.checkLeaks();
  } finally {
    setEngine(home);
    resumedOn?.destroy();
  }
}, 90_000);

it('device errors: the next sync and the next readback throw DeviceError with the message, once; the engine works on', async () => {
  const e = engine();
  try {
    provokeDeviceError(e);
    const err = await e.stream.sync().then(() => null, (x: unknown) => x);
    expect(err).toBeInstanceOf(DeviceError);
    expect((err as DeviceError).op).toBe('sync');
    expect((err as DeviceError).messages.length).toBe(1);
    expect((err as Error).message).toMatch(/^sync: the GPU device reported an error, so work submitted with it did not run and results read since are not valid: .*usage/i);
    await e.stream.sync(); // reported once, not again

    const t = tensor([1, 2, 3]);
    provokeDeviceError(e);
    provokeDeviceError(e);
    const err2 = await t.data().then(() => null, (x: unknown) => x);
    expect(err2).toBeInstanceOf(DeviceError);
    expect((err2 as Error).message).toMatch(/^read: the GPU device reported 2 errors, so work submitted with them did not run/);
    expect(Array.from(await t.data())).toEqual([1, 2, 3]);
    t.dispose();
  } finally {
    e.deviceErrors.splice(0); // provoked on purpose (the after-each check fails a test on any)
  }
});

it('device errors: one during training stops the run with DeviceError at the next loss readback; the last checkpoint is intact', async () => {
  const e = engine();
  const last = join(tmp(), 'last');
  try {
    const err = await train(ds, cfg, {
      lastDir: last,
      onEpoch: (l) => {
        if (l.stage === 'sal' && l.epoch === 2) provokeDeviceError(e); // before epoch 2's checkpoint
      },
    }).then(() => null, (x: unknown) => x);
    expect(err).toBeInstanceOf(DeviceError);
    expect((err as Error).message).toMatch(/^read: the GPU device reported an error/);
    expect(loadCheckpoint(last).meta.epoch).toBe(1);
  } finally {
    e.deviceErrors.splice(0);
  }
}, 60_000);
