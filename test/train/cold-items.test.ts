// The cold-item protocol (TrainConfig.coldItems): a fixed fraction of the items is unknown at training
// time and appears only as test targets.
// - the split: cold items leave the training sequences and every history, validation cases with a cold
//   target are dropped, test targets keep them, `seen` still lists them; the draw is seeded and fixed;
// - BPR draws negatives from the candidates only: an item that is neither a positive nor a candidate
//   keeps its initial row exactly;
// - end to end (SASRec and MUFASA): every cold item's ID-embedding row starts at 0 and is still exactly
//   0 after training (no gradient reached it through the softmax or the histories; Adam moves a row
//   with zero gradients by 0), while warm rows moved from their initial values; the MFL stage batches
//   only warm items; the results split the test into cold and warm targets that add up to the overall
//   metrics;
// - compare: the cold/warm table; popularity, which has no count for a cold item, finds none of them.
import { it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { leaveOneOut, chooseColdItems } from '../../src/data/split.ts';
import { train } from '../../src/train/trainer.ts';
import { defaultTrainConfig } from '../../src/train/config.ts';
import { dataSplit, warmItems } from '../../src/train/data.ts';
import { buildModel } from '../../src/train/build.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { trainBPR } from '../../src/train/cf.ts';
import { seededRandom, normalArray } from '../../src/nn/init.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { compare } from '../../src/compare/compare.ts';
import { deepMerge, presetOverrides } from '../../src/model/presets.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const ds = makeSynthetic({ seed: 4, users: 70, items: 90 });

it('the split: cold items only as test targets; validation on warm targets; a fixed seeded draw', () => {
  const cold = chooseColdItems(ds, 0.2);
  const used = new Set(ds.sequences.flatMap((s) => Array.from(s)));
  expect(cold.length).toBe(Math.round(0.2 * used.size));
  expect(Array.from(cold)).toEqual(Array.from(cold).sort((a, b) => a - b));
  for (const c of cold) expect(used.has(c)).toBe(true);
  expect(chooseColdItems(ds, 0.2)).toEqual(cold);
  expect(chooseColdItems(ds, 0.2, 7)).not.toEqual(cold);
  const set = new Set(cold);
  const s = leaveOneOut(ds, { maxLen: 5, cold: set });
  const plain = leaveOneOut(ds, { maxLen: 5 });
  s.train.forEach((seq, u) => expect(Array.from(seq)).toEqual(Array.from(plain.train[u]).filter((i) => !set.has(i))));
  for (const c of [...s.valid, ...s.test]) {
    expect(c.history.some((i) => set.has(i))).toBe(false);
    const full = ds.sequences[c.user];
    const at = c === s.test.find((t) => t.user === c.user) ? full.length - 1 : full.length - 2;
    // The history is the last maxLen warm items before the target (not fewer because some were cold).
    expect(Array.from(c.history)).toEqual(Array.from(full.subarray(0, at)).filter((i) => !set.has(i)).slice(-5));
    expect(Array.from(c.seen)).toEqual([...new Set(full.subarray(0, at))].sort((a, b) => a - b));
  }
  expect(s.valid.some((c) => set.has(c.targets[0]))).toBe(false);
  expect(s.valid.length).toBe(plain.valid.filter((c) => !set.has(c.targets[0])).length);
  expect(s.test.map((c) => c.targets[0])).toEqual(plain.test.map((c) => c.targets[0]));
  expect(s.test.some((c) => set.has(c.targets[0]))).toBe(true);
  // dataSplit applies it from the config, and only under leave-one-out.
  const viaCfg = dataSplit(ds, { ...defaultTrainConfig, coldItems: 0.2 });
  expect(viaCfg.cold).toEqual(cold);
  expect(viaCfg.train).toEqual(s.train.map((x) => x)); // same maxLen-independent training sequences
  expect(() => dataSplit(ds, { ...defaultTrainConfig, coldItems: 0.2, protocol: 'zeroShot' })).toThrow(/coldItems needs the leaveOneOut protocol/);
  expect(() => chooseColdItems(ds, 1)).toThrow(/must be in \(0, 1\), got 1/);
  expect(() => chooseColdItems(ds, 0.001)).toThrow(/rounds to none/);
  expect(Array.from(warmItems(6, Int32Array.from([1, 4])))).toEqual([0, 2, 3, 5]);
});

it('BPR samples negatives from the candidates only: an item neither positive nor candidate keeps its initial row', async () => {
  const numItems = 12;
  const sequences = [Int32Array.from([0, 1, 2]), Int32Array.from([2, 3, 4, 5]), Int32Array.from([1, 5, 6])];
  const candidates = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]); // 9, 10, 11: never positives, not candidates
  const dim = 4;
  const run = async (cand?: Int32Array) => {
    const r = await trainBPR({ numUsers: 3, numItems, sequences, candidates: cand }, { dim, epochs: 3, batchSize: 4, seed: 11 });
    const items = await r.itemEmb.data();
    r.userEmb.dispose();
    r.itemEmb.dispose();
    return items;
  };
  // trainBPR's initial item table: after the user table from the same seeded stream.
  const rand = seededRandom(11);
  normalArray(3 * dim, 0.1, rand);
  const init = normalArray(numItems * dim, 0.1, rand);
  const rows = (a: ArrayLike<number>, from: number, to: number) => Array.from(a).slice(from * dim, to * dim);
  const restricted = await run(candidates);
  expect(rows(restricted, 9, 12)).toEqual(rows(Float32Array.from(init), 9, 12));
  expect(rows(restricted, 0, 7)).not.toEqual(rows(Float32Array.from(init), 0, 7));
  const all = await run();
  expect(rows(all, 9, 12)).not.toEqual(rows(Float32Array.from(init), 9, 12)); // they were negatives
  await expect(trainBPR({ numUsers: 1, numItems: 4, sequences: [Int32Array.from([0, 1])], candidates: Int32Array.from([0, 1]) }, { dim, epochs: 1, seed: 1 })).rejects.toThrow(/user 0 interacted with every candidate item/);
  await expect(trainBPR({ numUsers: 1, numItems: 4, sequences: [Int32Array.from([0])], candidates: Int32Array.from([9]) }, { dim, epochs: 1, seed: 1 })).rejects.toThrow(/candidate item 9 is out of range/);
});

for (const [model, idName] of [['sasrec', 'sasrec.item'], ['mufasa', 'item.id']] as const) {
  it(`${model}: cold items' ID rows are 0 before and after training; the results split cold and warm targets`, async () => {
    const small = deepMerge(defaultTrainConfig, { seed: 2, epochs: 2, mflEpochs: 1, cfEpochs: 2, batchSize: 16, itemBatchSize: 16, coldItems: 0.2, model: { dim: 8 }, sasrec: { dim: 8, inner: 16 } });
    const cfg: TrainConfig = deepMerge(small, presetOverrides(model));
    const dir = mkdtempSync(join(tmpdir(), 'mufasa-cold-'));
    dirs.push(dir);
    const mflSteps = new Set<number>();
    const res = await train(ds, cfg, { checkpointDir: join(dir, 'best'), onStep: async (stage, _i, total) => void (stage === 'mfl' && mflSteps.add(total)) });
    const fresh = buildModel(ds, cfg);
    const initRows = await fresh.parameters().find((p) => p.name === idName)!.data();
    fresh.dispose();
    const trained = loadCheckpoint(join(dir, 'best')).weights.get(idName)!.data;
    const d = 8;
    const cold = chooseColdItems(ds, 0.2);
    const row = (a: ArrayLike<number>, i: number) => Array.from(a).slice(i * d, (i + 1) * d);
    for (const c of cold) expect(row(trained, c), `cold item ${c}`).toEqual(new Array(d).fill(0));
    const warm = warmItems(ds.numItems, cold);
    // The MFL stage's item batches cover the warm items only (16 per batch).
    expect([...mflSteps]).toEqual(model === 'mufasa' ? [Math.ceil((warm.length - 1) / 16)] : []);
    expect(warm.filter((w) => row(trained, w).join() !== row(initRows, w).join()).length).toBeGreaterThan(warm.length / 2);
    // Cold and warm targets partition the test cases; their user-weighted means are the overall metrics.
    const g = res.testByColdness!;
    expect(g.map((x) => x.targets)).toEqual(['cold', 'warm']);
    const n = g[0].users + g[1].users;
    expect(n).toBe(res.ranks!.test.users.length);
    for (const k of ['HR@10', 'NDCG@10', 'MRR@10']) expect((g[0].metrics[k] * g[0].users + g[1].metrics[k] * g[1].users) / n).toBeCloseTo(res.test[k], 12);
  }, 60_000);
}

it('compare with coldItems: the cold/warm table; popularity finds no cold target', async () => {
  const out = mkdtempSync(join(tmpdir(), 'mufasa-cold-cmp-'));
  dirs.push(out);
  const res = await compare(ds, { models: ['popularity'], seeds: 1, out, base: { ...defaultTrainConfig, coldItems: 0.2 } });
  const g = res.rows[0].byColdness!;
  expect(g.map((x) => x.targets)).toEqual(['cold', 'warm']);
  expect(g[0].mean['HR@10']).toBe(0);
  expect(g[1].mean['HR@10']).toBeGreaterThan(0);
  expect(res.markdown).toContain('Cold-item protocol (coldItems 0.2)');
  expect(res.markdown).toContain(`| popularity | 0.0000 ± 0.0000 / 0.0000 ± 0.0000 |`);
});
