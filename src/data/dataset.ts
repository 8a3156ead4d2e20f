// The in-memory data set every later stage (CF pretraining, MFL, SAL, evaluation) reads. Plain typed
// arrays, no GPU objects: loaders run once on the CPU and the trainer uploads what it needs (DESIGN §5).
// Dense ids are what the model indexes with; original ids are kept only for output files.

/**
 * One item modality: a frozen vector per item plus a presence mask. A missing field is `present = 0`
 * with a zero row in `values`; the row must never be read as data (DESIGN §5: "missing modality →
 * mask, not zeros pretending to be data").
 */
export interface Modality {
  name: string;
  dim: number;
  /** [numItems, dim], row-major. */
  values: Float32Array;
  /** [numItems]: 1 = present, 0 = missing. */
  present: Uint8Array;
}

export interface Dataset {
  name: string;
  /** Dense user ids are 0..numUsers-1, dense item ids 0..numItems-1. Item 0 is a real item: the
   *  padding id is numItems and belongs to the batcher (batches.ts), not to the data set. */
  numUsers: number;
  numItems: number;
  /** Original ids, index = dense id. */
  userIds: string[];
  itemIds: string[];
  /** Per user: dense item ids in time order; ties in time broken by ascending original item id
   *  (numeric when both ids are integers), which is what RecBole's stable sort gives (DESIGN §6). */
  sequences: Int32Array[];
  /** Aligned with `sequences`. */
  timestamps: Float64Array[];
  /** Per item: the display title and the modalities. The SIF title vectors (the anchors t_i of the
   *  paper) are the modality named 'title' (see `titleAnchors`). */
  items: { titles: string[]; modalities: Modality[] };
}

/** An input error, always naming the file and the (1-based) line, and the column when one applies (src/errors.ts). */
export { DataFormatError } from '../errors.ts';

export function modality(ds: Dataset, name: string): Modality {
  const m = ds.items.modalities.find((x) => x.name === name);
  if (!m) {
    const have = ds.items.modalities.map((x) => x.name).join(', ');
    throw new Error(`data set '${ds.name}' has no modality '${name}' (it has: ${have})`);
  }
  return m;
}

/** The title anchors t_i: the SIF title modality. */
export function titleAnchors(ds: Dataset): Modality {
  return modality(ds, 'title');
}

export function numInteractions(ds: Dataset): number {
  let n = 0;
  for (const s of ds.sequences) n += s.length;
  return n;
}

/** Order of original ids: numeric when both are integers (ML-100K's '9' < '10'), else code units. */
export function compareIds(a: string, b: string): number {
  const intRe = /^-?\d+$/;
  if (intRe.test(a) && intRe.test(b)) {
    const d = Number(a) - Number(b);
    if (d !== 0 || (Number.isSafeInteger(Number(a)) && Number.isSafeInteger(Number(b)))) return d;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One raw interaction, already mapped to dense ids. */
export interface RawInteractions {
  user: Int32Array;
  item: Int32Array;
  time: Float64Array;
  count: number;
}

/**
 * Groups interactions per user and sorts each user's by (timestamp, original item id). A stable sort
 * on time over rows pre-ordered by item id is the RecBole behaviour; sorting on the pair gives the
 * same order without depending on the file's row order.
 */
export function groupSequences(
  raw: RawInteractions,
  numUsers: number,
  itemIds: string[],
): { sequences: Int32Array[]; timestamps: Float64Array[] } {
  const counts = new Int32Array(numUsers);
  for (let k = 0; k < raw.count; k++) counts[raw.user[k]]++;
  const rows: number[][] = Array.from({ length: numUsers }, () => []);
  for (let k = 0; k < raw.count; k++) rows[raw.user[k]].push(k);
  // Rank of each item under compareIds, so the per-user sort compares integers.
  const order = itemIds.map((_, i) => i).sort((a, b) => compareIds(itemIds[a], itemIds[b]));
  const rank = new Int32Array(itemIds.length);
  order.forEach((it, r) => (rank[it] = r));
  const sequences: Int32Array[] = [];
  const timestamps: Float64Array[] = [];
  for (let u = 0; u < numUsers; u++) {
    const r = rows[u];
    r.sort((a, b) => raw.time[a] - raw.time[b] || rank[raw.item[a]] - rank[raw.item[b]]);
    const s = new Int32Array(r.length);
    const t = new Float64Array(r.length);
    r.forEach((k, j) => {
      s[j] = raw.item[k];
      t[j] = raw.time[k];
    });
    sequences.push(s);
    timestamps.push(t);
  }
  return { sequences, timestamps };
}
