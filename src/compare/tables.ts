// compare.md and compare.json's aggregate: the runs of each model averaged over seeds (mean ± sample
// std), the breakdown groups (popularity, time gap, cold/warm targets) averaged the same way, the
// paired differences from the first model (src/compare/paired.ts), and the markdown tables.
// src/compare/compare.ts trains the runs and calls compareMarkdown after each one.

import type { TrainConfig } from '../train/config.ts';
import { gapLabel } from '../train/breakdown.ts';
import type { PopularityGroup, GapGroup, ColdnessGroup } from '../train/breakdown.ts';
import { pairedDifference, PAIRED_COLUMNS } from './paired.ts';
import type { RunRanks, PairedDifference } from './paired.ts';

/** What one run contributes to the table (read back from its results.json). */
export interface RunRow {
  model: string;
  seed: number;
  test: Record<string, number>;
  /** Test metrics with the user's earlier items left in the ranking (RecBole's rule); absent in old results. */
  testWithSeen?: Record<string, number>;
  /** Test metrics per popularity group of the target (leave-one-out runs; absent in old results). */
  testByPopularity?: PopularityGroup[];
  /** Metrics per group of the time since the interaction before the target (absent in old results). */
  validByGap?: GapGroup[];
  testByGap?: GapGroup[];
  /** Cold-item protocol: test metrics on cold and on warm targets. */
  testByColdness?: ColdnessGroup[];
  /** Every validation and test target's rank (ranks.json; absent for runs from before it). */
  ranks?: RunRanks;
  valid: Record<string, number>;
  params: number;
  s_per_epoch: number;
  wall_to_best_s: number;
  best_epoch: number;
  epochs: number;
  wall_s: number;
}

export interface ModelRow {
  model: string;
  seeds: number[];
  /** Test metrics ('HR@10', …), the same with seen items left in the ranking ('seen:HR@10', …), validation NDCG@10 at the best epoch ('valid:NDCG@10'), and run stats. */
  mean: Record<string, number>;
  std: Record<string, number>;
  /** Mean ± std over seeds of HR@10 and NDCG@10 per popularity group, when every run has the same groups. */
  byPopularity?: MeanGroup<PopularityGroup>[];
  /** The same per group of the time since the interaction before the target (validation and test). */
  validByGap?: MeanGroup<GapGroup>[];
  testByGap?: MeanGroup<GapGroup>[];
  byColdness?: MeanGroup<ColdnessGroup>[];
  runs: RunRow[];
}

/** One model against the reference (the first model of the comparison), paired by user. */
export interface PairedRow {
  model: string;
  reference: string;
  valid: PairedDifference | null;
  test: PairedDifference | null;
}

function meanStd(xs: number[]): [number, number] {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return [mean, std];
}

const NUMERIC = ['params', 's_per_epoch', 'wall_to_best_s', 'best_epoch'] as const;

export function aggregate(runs: RunRow[], columns: string[]): ModelRow[] {
  const models = [...new Set(runs.map((r) => r.model))];
  return models.map((model) => {
    const rs = runs.filter((r) => r.model === model);
    const mean: Record<string, number> = {};
    const std: Record<string, number> = {};
    for (const c of columns) [mean[c], std[c]] = meanStd(rs.map((r) => r.test[c] ?? NaN));
    for (const c of columns) [mean[`seen:${c}`], std[`seen:${c}`]] = meanStd(rs.map((r) => r.testWithSeen?.[c] ?? NaN));
    // The early-stopping metric at the chosen epoch: a validation lead that the test does not repeat is visible here.
    [mean['valid:NDCG@10'], std['valid:NDCG@10']] = meanStd(rs.map((r) => r.valid['NDCG@10'] ?? NaN));
    for (const k of NUMERIC) [mean[k], std[k]] = meanStd(rs.map((r) => r[k]));
    return { model, seeds: rs.map((r) => r.seed), mean, std, byPopularity: groupMeans(rs.map((r) => r.testByPopularity)), validByGap: groupMeans(rs.map((r) => r.validByGap)), testByGap: groupMeans(rs.map((r) => r.testByGap)), byColdness: groupMeans(rs.map((r) => r.testByColdness)), runs: rs };
  });
}

/** A breakdown group of one run (popularity or gap): its bounds, its size and its metrics. */
type RunGroup = { users: number; metrics: Record<string, number> };
/** The same group over the seeds: bounds and size, mean ± std over the runs of GROUP_COLUMNS. */
export type MeanGroup<G extends RunGroup> = Omit<G, 'metrics'> & { mean: Record<string, number>; std: Record<string, number> };

const GROUP_COLUMNS = ['HR@10', 'NDCG@10'];

/** The bounds and size of a group, as a key: groups with equal keys are the same group. */
const groupKey = ({ metrics: _m, mean: _a, std: _s, ...bounds }: Record<string, unknown>) => JSON.stringify(bounds);

function sameGroups(a: readonly object[], b: readonly object[]): boolean {
  return a.length === b.length && a.every((g, i) => groupKey(g as Record<string, unknown>) === groupKey(b[i] as Record<string, unknown>));
}

/** Per group, mean ± std over the runs of HR@10 and NDCG@10; undefined unless every run has the same groups. */
function groupMeans<G extends RunGroup>(lists: (readonly G[] | undefined)[]): MeanGroup<G>[] | undefined {
  const groups = lists[0];
  if (!groups || lists.some((l) => !l || !sameGroups(l, groups))) return undefined;
  return groups.map((g, i) => {
    const { metrics: _, ...bounds } = g;
    const mean: Record<string, number> = {};
    const std: Record<string, number> = {};
    for (const c of GROUP_COLUMNS) [mean[c], std[c]] = meanStd(lists.map((l) => l![i].metrics[c]));
    return { ...bounds, mean, std };
  });
}

/** HR@10 / NDCG@10 per group (columns), one row per model that has the groups; '' when none has. */
function groupTable<G extends RunGroup>(rows: ModelRow[], groupsOf: (r: ModelRow) => MeanGroup<G>[] | undefined, label: (g: MeanGroup<G>) => string): string {
  const withGroups = rows.filter((r) => groupsOf(r));
  if (!withGroups.length) return '';
  const groups = groupsOf(withGroups[0])!;
  const lines = [`| model | ${groups.map((g) => `${label(g)} (${g.users} users)`).join(' | ')} |`, `|---|${groups.map(() => '---:').join('|')}|`];
  for (const r of withGroups) {
    // Groups depend only on the data and split, so every model has the same ones; say so if not.
    const own = groupsOf(r)!;
    const cells = sameGroups(own, groups) ? own.map((g) => GROUP_COLUMNS.map((c) => `${g.mean[c].toFixed(4)} ± ${g.std[c].toFixed(4)}`).join(' / ')) : groups.map(() => 'other groups (see compare.json)');
    lines.push(`| ${r.model} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** HR@10 / NDCG@10 per popularity group of the target (columns, rarest first). */
export function popularityTable(rows: ModelRow[]): string {
  return groupTable<PopularityGroup>(rows, (r) => r.byPopularity, (g) => `${g.lo}–${g.hi}`);
}

/** Cold-item protocol: HR@10 / NDCG@10 on cold and on warm test targets. */
export function coldnessTable(rows: ModelRow[]): string {
  return groupTable<ColdnessGroup>(rows, (r) => r.byColdness, (g) => `${g.targets} targets`);
}

/** HR@10 / NDCG@10 per group of the time since the interaction before the target, of one split. */
export function gapTable(rows: ModelRow[], split: 'valid' | 'test'): string {
  return groupTable<GapGroup>(rows, (r) => (split === 'valid' ? r.validByGap : r.testByGap), gapLabel);
}

/** Every model after the first against the first, paired by user (pairedDifference), validation and test. */
export function pairedRows(runs: RunRow[]): PairedRow[] {
  const models = [...new Set(runs.map((r) => r.model))];
  const bySeed = (m: string) => new Map(runs.filter((r) => r.model === m).map((r) => [r.seed, r.ranks]));
  const ref = models[0];
  return models.slice(1).map((model) => ({
    model,
    reference: ref,
    valid: pairedDifference(bySeed(model), bySeed(ref), 'valid'),
    test: pairedDifference(bySeed(model), bySeed(ref), 'test'),
  }));
}

/** model − reference: test and validation HR@10 / NDCG@10 (mean ± standard error over users); '' without rows. */
export function pairedTable(paired: PairedRow[]): string {
  if (!paired.length) return '';
  const cell = (d: PairedDifference | null, c: string) => (d ? `${d.mean[c] >= 0 ? '+' : ''}${d.mean[c].toFixed(4)} ± ${d.se[c].toFixed(4)}` : 'no ranks');
  const cols = [...PAIRED_COLUMNS.map((c) => `test ${c}`), ...PAIRED_COLUMNS.map((c) => `valid ${c}`)];
  const lines = [`| model − ${paired[0].reference} | users | seeds | ${cols.join(' | ')} |`, `|---|---:|---:|${cols.map(() => '---:').join('|')}|`];
  for (const p of paired) {
    const cells = [...PAIRED_COLUMNS.map((c) => cell(p.test, c)), ...PAIRED_COLUMNS.map((c) => cell(p.valid, c))];
    lines.push(`| ${p.model} | ${p.test?.users ?? '–'} | ${p.test?.seeds.length ?? '–'} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The metrics with the user's earlier items left in the ranking, one row per model. */
export function seenTable(rows: ModelRow[], columns: string[]): string {
  const lines = [`| model | ${columns.join(' | ')} |`, `|---|${columns.map(() => '---:').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.model} | ${columns.map((c) => `${r.mean[`seen:${c}`].toFixed(4)} ± ${r.std[`seen:${c}`].toFixed(4)}`).join(' | ')} |`);
  return lines.join('\n');
}

export function markdownTable(rows: ModelRow[], columns: string[]): string {
  const head = ['model', 'seeds', ...columns, 'valid NDCG@10', 'params', 's/epoch', 'wall s to best', 'best epoch'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    const cells = [
      r.model,
      String(r.seeds.length),
      ...columns.map((c) => `${r.mean[c].toFixed(4)} ± ${r.std[c].toFixed(4)}`),
      `${r.mean['valid:NDCG@10'].toFixed(4)} ± ${r.std['valid:NDCG@10'].toFixed(4)}`,
      String(Math.round(r.mean.params)),
      r.mean.s_per_epoch.toFixed(2),
      `${r.mean.wall_to_best_s.toFixed(1)} ± ${r.std.wall_to_best_s.toFixed(1)}`,
      r.mean.best_epoch.toFixed(1),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The whole compare.md: the main table, the protocol, then the paired, seen-items, cold/warm, popularity and gap tables that apply. */
export function compareMarkdown(o: { dataset: string; protocol: 'leaveOneOut' | 'zeroShot'; columns: string[]; rows: ModelRow[]; paired: PairedRow[]; skipped: { model: string; reason: string }[]; base: TrainConfig }): string {
  const { rows, paired, columns } = o;
  const note =
    `${o.dataset}, ${o.protocol === 'zeroShot' ? 'zero-shot (held-out users, last 3 interactions as targets)' : 'leave-one-out'}; test metrics, mean ± std over seeds; ` +
    'full-catalog ranking, items seen before the target excluded; early stopping on validation NDCG@10; ' +
    `interactions with equal timestamps ordered ${o.base.tieOrder === 'shuffled' ? 'by a seeded shuffle (tieOrder shuffled)' : 'by ascending item id (RecBole)'}` +
    (o.base.recentInteractions ? `; each user's last ${o.base.recentInteractions} interactions only (recentInteractions).` : '.');
  const skip = o.skipped.map((s) => `\n- ${s.model}: ${s.reason}`).join('');
  const pairedMd = pairedTable(paired);
  const byPop = popularityTable(rows);
  const byCold = coldnessTable(rows);
  const gapValid = gapTable(rows, 'valid');
  const gapTest = gapTable(rows, 'test');
  return (
    `${markdownTable(rows, columns)}\n\n${note}${skip}\n\n` +
    (pairedMd
      ? `Differences from ${paired[0].reference}, paired by user (the first model of --models is the reference): each user's HR@10 / NDCG@10 averaged over the seeds, the difference averaged over users, ± one standard error over users. It says whether a gap is larger than chance on these users; the std above is the spread of single runs.\n\n${pairedMd}\n\n`
      : '') +
    `Test metrics with the items seen before the target left in the ranking (RecBole's rule for sequential models):\n\n${seenTable(rows, columns)}\n` +
    (byCold ? `\nCold-item protocol (coldItems ${o.base.coldItems}): test HR@10 / NDCG@10 on targets the models never trained on (cold) and on the others (warm):\n\n${byCold}\n` : '') +
    (byPop ? `\nTest HR@10 / NDCG@10 by how often the target item occurs in training (groups of users, rarest first; \`mufasa eval --by-popularity\`):\n\n${byPop}\n` : '') +
    (gapTest
      ? `\nHR@10 / NDCG@10 by the time from the interaction before the target to the target, in the data's timestamp units (\`mufasa eval --by-gap\`). ` +
        'A target that shares its timestamp with the item before it is placed after that item by the item-id tie rule, not by time.\n\n' +
        `Validation:\n\n${gapValid}\n\nTest:\n\n${gapTest}\n`
      : '')
  );
}
