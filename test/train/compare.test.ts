// `mufasa compare` (issue #5 §2) on a tiny synthetic set, 2 models × 2 seeds: files written, the table
// holds mean ± std over the seeds (checked against the per-run results.json), so does the table per
// popularity group (whose groups add up to each run's overall metrics), a rerun trains nothing, a
// rerun with a larger patience continues the runs and one with another config is refused, and the
// zero-shot protocol reports Recall@K of held-out users.
import { it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readFileSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSynthetic } from '../../src/data/synthetic.ts';
import { defaultTrainConfig } from '../../src/train/config.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { compare } from '../../src/compare/compare.ts';
import { deepMerge } from '../../src/model/presets.ts';
import { popularityHR10 } from './popularity.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const ds = makeSynthetic({ seed: 2, users: 40, items: 50, minSeqLen: 8, maxSeqLen: 16 });
// Synthetic gaps are 1–3600 s; give some targets a shared timestamp and some a long gap so the gap
// tables have several groups (validation: every second user's target shares its timestamp).
ds.timestamps.forEach((t, u) => {
  const n = t.length;
  if (u % 2 === 0) t[n - 2] = t[n - 3];
  t[n - 1] = u % 3 === 0 ? t[n - 2] : u % 3 === 1 ? t[n - 2] + 7200 : t[n - 1];
});
const base: TrainConfig = deepMerge(defaultTrainConfig, { mflEpochs: 1, cfEpochs: 1, batchSize: 16, itemBatchSize: 32, model: { dim: 8 }, sasrec: { dim: 8, inner: 16 } });

it('2 models × 2 seeds: compare.md/json with mean ± std; a rerun skips finished runs', async () => {
  const out = mkdtempSync(join(tmpdir(), 'mufasa-compare-'));
  dirs.push(out);
  const lines: string[] = [];
  const res = await compare(ds, { models: ['sasrec', 'mufasa-dense'], seeds: 2, out, base, epochs: 2, log: (l) => lines.push(l) });
  for (const m of ['sasrec', 'mufasa-dense']) for (const s of [0, 1]) expect(existsSync(join(out, m, `seed-${s}`, 'results.json'))).toBe(true);
  const md = readFileSync(join(out, 'compare.md'), 'utf8');
  const json = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
  expect(md).toBe(res.markdown);
  expect(md).toMatch(/^\| model \| seeds \| HR@10 \| HR@20 \| NDCG@10 \| NDCG@20 \| MRR@10 \| valid NDCG@10 \| params \| s\/epoch \| wall s to best \| best epoch \|/);
  expect(json.models.map((r: { model: string }) => r.model)).toEqual(['sasrec', 'mufasa-dense']);
  for (const row of json.models) {
    const runs = [0, 1].map((s) => JSON.parse(readFileSync(join(out, row.model, `seed-${s}`, 'results.json'), 'utf8')));
    expect(runs.map((r) => r.seed)).toEqual([0, 1]);
    for (const c of ['HR@10', 'NDCG@10', 'MRR@10']) {
      const [a, b] = runs.map((r) => r.metrics.test[c] as number);
      expect(row.mean[c]).toBeCloseTo((a + b) / 2, 12);
      expect(row.std[c]).toBeCloseTo(Math.abs(a - b) / Math.SQRT2, 12); // sample std of two values
      const cell = `${row.mean[c].toFixed(4)} ± ${row.std[c].toFixed(4)}`;
      expect(md).toContain(cell);
    }
    // The validation NDCG@10 of the chosen epochs (the early-stopping metric), mean ± std as well.
    const [va, vb] = runs.map((r) => r.metrics.valid['NDCG@10'] as number);
    expect(row.mean['valid:NDCG@10']).toBeCloseTo((va + vb) / 2, 12);
    expect(md).toContain(`${row.mean['valid:NDCG@10'].toFixed(4)} ± ${row.std['valid:NDCG@10'].toFixed(4)} | ${Math.round(row.mean.params)} |`);
    expect(row.mean.params).toBeGreaterThan(0);
    expect(row.mean.s_per_epoch).toBeGreaterThan(0);
    expect(runs[0].params).toBe(runs[1].params);
  }
  // Second table: the same metrics with seen items left in the ranking (never better than with them excluded).
  expect(md).toContain("left in the ranking (RecBole's rule");
  for (const row of json.models) for (const c of ['HR@10', 'NDCG@10']) expect(row.mean[`seen:${c}`]).toBeLessThanOrEqual(row.mean[c] + 1e-12);
  // The two seeds really are different runs.
  expect(json.models[0].runs[0].test).not.toEqual(json.models[0].runs[1].test);
  // Third table: HR@10 / NDCG@10 per popularity group. Each run's groups cover every test user, and
  // their user-weighted mean is the run's overall metric; the table holds the mean ± std over seeds.
  expect(md).toContain('by how often the target item occurs in training');
  for (const row of json.models) {
    const runs = [0, 1].map((s) => JSON.parse(readFileSync(join(out, row.model, `seed-${s}`, 'results.json'), 'utf8')));
    for (const r of runs) {
      const g = r.metrics.test_by_popularity as { lo: number; hi: number; users: number; metrics: Record<string, number> }[];
      expect(g.length).toBeGreaterThan(1);
      expect(g.reduce((a, x) => a + x.users, 0)).toBe(ds.numUsers);
      for (let i = 1; i < g.length; i++) expect(g[i].lo).toBeGreaterThan(g[i - 1].hi);
      for (const c of ['HR@10', 'NDCG@10', 'MRR@10']) expect(g.reduce((a, x) => a + x.metrics[c] * x.users, 0) / ds.numUsers).toBeCloseTo(r.metrics.test[c], 12);
    }
    expect(row.byPopularity.length).toBe(runs[0].metrics.test_by_popularity.length);
    row.byPopularity.forEach((gr: { mean: Record<string, number> }, i: number) => {
      for (const c of ['HR@10', 'NDCG@10']) {
        expect(gr.mean[c]).toBeCloseTo((runs[0].metrics.test_by_popularity[i].metrics[c] + runs[1].metrics.test_by_popularity[i].metrics[c]) / 2, 12);
      }
    });
    const cell = `${row.byPopularity[0].mean['HR@10'].toFixed(4)} ± ${row.byPopularity[0].std['HR@10'].toFixed(4)} / ${row.byPopularity[0].mean['NDCG@10'].toFixed(4)} ± ${row.byPopularity[0].std['NDCG@10'].toFixed(4)}`;
    expect(md).toContain(cell);
  }
  // Fourth and fifth tables: validation and test per group of the time since the item before the
  // target. The groups of each split cover its users and average to its overall metrics.
  expect(md).toContain('by the time from the interaction before the target');
  expect(md).toContain('equal timestamps ordered by ascending item id (RecBole)');
  for (const row of json.models) {
    const runs = [0, 1].map((s) => JSON.parse(readFileSync(join(out, row.model, `seed-${s}`, 'results.json'), 'utf8')));
    for (const r of runs) {
      for (const split of ['valid', 'test']) {
        const g = r.metrics[`${split}_by_gap`] as { after: number | null; upTo: number | null; users: number; metrics: Record<string, number> }[];
        expect(g.length).toBeGreaterThan(1);
        expect(g.reduce((a, x) => a + x.users, 0)).toBe(ds.numUsers);
        for (const c of ['HR@10', 'NDCG@10', 'MRR@10']) expect(g.reduce((a, x) => a + x.metrics[c] * x.users, 0) / ds.numUsers).toBeCloseTo(r.metrics[split][c], 12);
      }
    }
    for (const [key, split] of [['validByGap', 'valid'], ['testByGap', 'test']]) {
      const groups = row[key] as { mean: Record<string, number>; std: Record<string, number> }[];
      expect(groups.length).toBe(runs[0].metrics[`${split}_by_gap`].length);
      groups.forEach((gr, i) => expect(gr.mean['HR@10']).toBeCloseTo((runs[0].metrics[`${split}_by_gap`][i].metrics['HR@10'] + runs[1].metrics[`${split}_by_gap`][i].metrics['HR@10']) / 2, 12));
      expect(md).toContain(`${groups[0].mean['HR@10'].toFixed(4)} ± ${groups[0].std['HR@10'].toFixed(4)} / ${groups[0].mean['NDCG@10'].toFixed(4)} ± ${groups[0].std['NDCG@10'].toFixed(4)}`);
    }
  }

  // Per-user ranks (ranks.json) reproduce each run's metrics, and the paired table is mufasa-dense −
  // sasrec from them: per user over the two seeds, then mean ± standard error over users.
  const caseHr = (r: number[]) => r.map((x) => (x < 10 ? 1 : 0));
  const ranksOf = (m: string, s: number) => JSON.parse(readFileSync(join(out, m, `seed-${s}`, 'ranks.json'), 'utf8'));
  for (const m of ['sasrec', 'mufasa-dense']) {
    for (const s of [0, 1]) {
      const rk = ranksOf(m, s);
      const r = JSON.parse(readFileSync(join(out, m, `seed-${s}`, 'results.json'), 'utf8'));
      for (const split of ['valid', 'test']) {
        expect(rk[split].users.length).toBe(ds.numUsers);
        expect(caseHr(rk[split].ranks).reduce((a: number, b: number) => a + b, 0) / ds.numUsers).toBeCloseTo(r.metrics[split]['HR@10'], 12);
      }
    }
  }
  const diff = Array.from({ length: ds.numUsers }, (_, u) => {
    const hr = (m: string) => [0, 1].reduce((a, s) => { const rk = ranksOf(m, s).test; return a + (rk.ranks[rk.users.indexOf(u)] < 10 ? 1 : 0); }, 0) / 2;
    return hr('mufasa-dense') - hr('sasrec');
  });
  const dm = diff.reduce((a, b) => a + b, 0) / diff.length;
  const dse = Math.sqrt(diff.reduce((a, b) => a + (b - dm) ** 2, 0) / (diff.length - 1) / diff.length);
  expect(json.paired).toHaveLength(1);
  expect(json.paired[0].model).toBe('mufasa-dense');
  expect(json.paired[0].reference).toBe('sasrec');
  expect(json.paired[0].test.mean['HR@10']).toBeCloseTo(dm, 12);
  expect(json.paired[0].test.se['HR@10']).toBeCloseTo(dse, 12);
  expect(md).toContain(`| model − sasrec | users | seeds |`);
  expect(md).toContain(`| mufasa-dense | ${ds.numUsers} | 2 | ${dm >= 0 ? '+' : ''}${dm.toFixed(4)} ± ${dse.toFixed(4)} |`);
  expect(JSON.stringify(json)).not.toContain('"ranks"'); // compare.json keeps the ranks out

  const mtime = statSync(join(out, 'sasrec', 'seed-1', 'results.json')).mtimeMs;
  const again: string[] = [];
  const res2 = await compare(ds, { models: ['sasrec', 'mufasa-dense'], seeds: 2, out, base, epochs: 2, log: (l) => again.push(l) });
  expect(again.filter((l) => l.includes('training'))).toEqual([]);
  expect(again.filter((l) => l.includes('finished before'))).toHaveLength(4);
  expect(statSync(join(out, 'sasrec', 'seed-1', 'results.json')).mtimeMs).toBe(mtime);
  expect(res2.markdown).toBe(res.markdown);
}, 120_000);

it('popularity matches the CPU count and has a popularity breakdown; zero-shot reports Recall@K and skips BPR', async () => {
  const out = mkdtempSync(join(tmpdir(), 'mufasa-compare-'));
  dirs.push(out);
  const loo = await compare(ds, { models: ['popularity'], seeds: 1, out: join(out, 'loo'), base });
  expect(loo.rows[0].mean['HR@10']).toBeCloseTo(popularityHR10(ds), 12);
  // The baselines have the popularity breakdown too: popularity finds nothing outside the most popular group.
  const groups = loo.rows[0].byPopularity!;
  expect(groups.length).toBeGreaterThan(1);
  expect(groups[0].mean['HR@10']).toBe(0);
  expect(loo.markdown).toContain('by how often');
  // recentInteractions: the split starts from each user's last 6 interactions (cut here by hand).
  const cutDs = { ...ds, sequences: ds.sequences.map((q) => q.slice(Math.max(0, q.length - 6))), timestamps: ds.timestamps.map((q) => q.slice(Math.max(0, q.length - 6))) };
  expect(popularityHR10(cutDs)).not.toBeCloseTo(popularityHR10(ds), 6); // the cut changes the counts
  const cut = await compare(ds, { models: ['popularity'], seeds: 1, out: join(out, 'recent'), base: { ...base, recentInteractions: 6 } });
  expect(cut.rows[0].mean['HR@10']).toBeCloseTo(popularityHR10(cutDs), 12);
  expect(cut.markdown).toContain("each user's last 6 interactions only (recentInteractions)");
  expect(loo.markdown).not.toContain('recentInteractions');
  const zs = await compare(ds, { models: ['popularity', 'bpr', 'mufasa-no-sal', 'content-knn'], seeds: 1, out: join(out, 'zs'), base, epochs: 1, zeroShot: true });
  expect(zs.columns).toEqual(['Recall@5', 'Recall@10', 'Recall@20', 'Recall@50', 'Recall@100']);
  expect(zs.skipped.map((s) => s.model)).toEqual(['bpr']);
  expect(zs.rows.map((r) => r.model)).toEqual(['popularity', 'mufasa-no-sal', 'content-knn']);
  // 50 items: Recall@50 … @100 rank the whole catalog minus seen items, so every target is found.
  for (const r of zs.rows) {
    expect(r.mean['Recall@100']).toBeCloseTo(1, 12);
    expect(r.mean['Recall@5']).toBeLessThanOrEqual(r.mean['Recall@10']);
  }
  const run = JSON.parse(readFileSync(join(out, 'zs', 'mufasa-no-sal', 'seed-0', 'results.json'), 'utf8'));
  expect(run.protocol).toBe('zeroShot');
  expect(run.metrics.test_by_popularity).toBeUndefined(); // 3 targets per user: no popularity groups
  // Gap groups (of the first target) do work with 3 targets: they cover the held-out users and average to Recall@10.
  const gaps = run.metrics.test_by_gap as { users: number; metrics: Record<string, number> }[];
  const held = gaps.reduce((a, x) => a + x.users, 0);
  expect(held).toBeGreaterThan(0);
  expect(gaps.reduce((a, x) => a + x.metrics['Recall@10'] * x.users, 0) / held).toBeCloseTo(run.metrics.test['Recall@10'], 12);
  expect(zs.markdown).not.toContain('by how often');
  expect(readFileSync(join(out, 'zs', 'compare.md'), 'utf8')).toContain('zero-shot');
}, 60_000);

it('a rerun with a larger patience continues the finished runs (same result as training with it from the start); another config is refused before anything trains', async () => {
  const out = mkdtempSync(join(tmpdir(), 'mufasa-compare-'));
  dirs.push(out);
  const opts = { models: ['popularity', 'sasrec'], seeds: 1, base: { ...base, lr: 0.01 }, epochs: 8 };
  const short = await compare(ds, { ...opts, out: join(out, 'a'), patience: 1 });
  const shortRun = JSON.parse(readFileSync(join(out, 'a', 'sasrec', 'seed-0', 'results.json'), 'utf8'));
  expect(shortRun.epochs).toBeLessThan(8); // the fixture must stop early, or this test checks nothing
  const lines: string[] = [];
  const extended = await compare(ds, { ...opts, out: join(out, 'a'), patience: 3, log: (l) => lines.push(l) });
  expect(lines.filter((l) => l.includes('continuing'))).toEqual([
    '[popularity seed 0] finished before with patience 1 → 3: continuing',
    '[sasrec seed 0] finished before with patience 1 → 3: continuing',
  ]);
  const fresh = await compare(ds, { ...opts, out: join(out, 'b'), patience: 3 });
  const run = (d: string) => JSON.parse(readFileSync(join(out, d, 'sasrec', 'seed-0', 'results.json'), 'utf8'));
  expect(run('a').epochs).toBeGreaterThan(shortRun.epochs);
  expect(run('a').config.patience).toBe(3);
  for (const k of ['epochs', 'best_epoch']) expect(run('a')[k]).toBe(run('b')[k]);
  expect(run('a').metrics.valid).toEqual(run('b').metrics.valid);
  expect(run('a').metrics.test).toEqual(run('b').metrics.test);
  extended.rows.forEach((r, i) => {
    for (const c of ['HR@10', 'HR@20', 'NDCG@10', 'NDCG@20', 'MRR@10', 'best_epoch']) expect(r.mean[c]).toBe(fresh.rows[i].mean[c]);
  });
  expect(short.rows[1].mean['HR@10']).toBe(shortRun.metrics.test['HR@10']);

  // A changed learning rate is not an extension: refused, naming the run and the field, and nothing trains.
  const mtime = statSync(join(out, 'a', 'sasrec', 'seed-0', 'results.json')).mtimeMs;
  const trained: string[] = [];
  await expect(compare(ds, { ...opts, base: { ...base, lr: 0.02 }, out: join(out, 'a'), patience: 3, log: (l) => trained.push(l) })).rejects.toThrow(/popularity[/\\]seed-0: trained with another config \(lr 0\.01 → 0\.02\)/);
  expect(trained.filter((l) => l.includes('training'))).toEqual([]);
  // Nor is a smaller patience: the runs went on past it.
  await expect(compare(ds, { ...opts, out: join(out, 'a'), patience: 2, log: (l) => trained.push(l) })).rejects.toThrow(/trained with another config \(patience 3 → 2\)/);
  expect(trained.filter((l) => l.includes('training'))).toEqual([]);
  expect(statSync(join(out, 'a', 'sasrec', 'seed-0', 'results.json')).mtimeMs).toBe(mtime);
}, 120_000);
