// CPU popularity baseline for tests: HR@10 of ranking by training popularity, seen items excluded and
// ties broken by lower item id (the trainer's protocol, src/train/metrics.ts).
import { leaveOneOut } from '../../src/data/split.ts';
import type { Dataset } from '../../src/data/dataset.ts';

export function popularityHR10(ds: Dataset): number {
  const split = leaveOneOut(ds);
  const count = new Float64Array(ds.numItems);
  for (const s of split.train) for (const i of s) count[i]++;
  let hits = 0;
  for (const c of split.test) {
    const seen = new Set(c.seen);
    const target = c.targets[0];
    let rank = 0;
    for (let i = 0; i < ds.numItems; i++) {
      if (i === target || seen.has(i)) continue;
      if (count[i] > count[target] || (count[i] === count[target] && i < target)) rank++;
    }
    if (rank < 10) hits++;
  }
  return hits / split.test.length;
}
