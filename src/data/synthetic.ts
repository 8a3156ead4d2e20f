// Synthetic data with planted interest blocks: the embedded default data set (no download, no
// licence) and the data of fast tests. What it plants is what MUFASA is built to use (paper §3):
// items of a topic share modality signal and title words, and users stay on a topic for a run of
// items before switching, so the recent items predict the next one better than popularity does.

import type { Dataset, Modality } from './dataset.ts';
import { mulberry32, type Rng } from './rng.ts';
import { sifEmbed, type WordVectors } from './text.ts';

export interface SyntheticOptions {
  /** Everything below is drawn from this one seed (mulberry32). Default 0. */
  seed?: number;
  /** Number of users (default 200) and items (default 300). */
  users?: number;
  items?: number;
  /** Number of topics (default 8); item i belongs to topic i mod topics. */
  topics?: number;
  /** Sequence length per user, uniform in [minSeqLen, maxSeqLen] (defaults 20, 60). */
  minSeqLen?: number;
  maxSeqLen?: number;
  /** Mean run length: a user's run on one topic has geometric length with this mean (default 8). */
  runLength?: number;
  /** Each user has this many favourite topics (default 3); a switch goes to one of them with
   *  probability 0.8, otherwise to any other topic. */
  favouriteTopics?: number;
  /** Popularity skew inside a topic: item of rank r drawn ∝ 1/(r+1)^skew (default 0.8). */
  popularitySkew?: number;
  /** Modality noise: item vector = topic centre + noise · N(0, I) with N(0, I) centres (default 0.6). */
  noise?: number;
  /** Dimensions of the synthetic word vectors (title modality, default 16), the 'visual' (default 8)
   *  and 'tags' (default 6) modalities. */
  titleDim?: number;
  visualDim?: number;
  tagsDim?: number;
  /** Probability that an item's 'tags' modality is missing (default 0.2). */
  missingRate?: number;
  /** Topic words per topic (default 6) and shared filler words (default 4) of the title vocabulary. */
  wordsPerTopic?: number;
  fillerWords?: number;
}

export interface SyntheticDataset extends Dataset {
  /** Ground truth: the topic of each item. */
  itemTopic: Int32Array;
  /** The synthetic word vectors the titles were embedded with. */
  wordVectors: WordVectors;
  options: Required<SyntheticOptions>;
}

export const SYNTHETIC_DEFAULTS: Required<SyntheticOptions> = {
  seed: 0, users: 200, items: 300, topics: 8, minSeqLen: 20, maxSeqLen: 60, runLength: 8,
  favouriteTopics: 3, popularitySkew: 0.8, noise: 0.6, titleDim: 16, visualDim: 8, tagsDim: 6,
  missingRate: 0.2, wordsPerTopic: 6, fillerWords: 4,
};

function gauss(rng: Rng, n: number, scale = 1): Float64Array {
  const v = new Float64Array(n);
  for (let k = 0; k < n; k++) v[k] = scale * rng.normal();
  return v;
}

export function makeSynthetic(opts: SyntheticOptions = {}): SyntheticDataset {
  const o: Required<SyntheticOptions> = { ...SYNTHETIC_DEFAULTS, ...opts };
  if (o.topics < 2 || o.items < o.topics) throw new Error(`makeSynthetic: need topics ≥ 2 and items ≥ topics (got ${o.topics}, ${o.items})`);
  if (o.minSeqLen < 1 || o.maxSeqLen < o.minSeqLen) throw new Error(`makeSynthetic: need 1 ≤ minSeqLen ≤ maxSeqLen (got ${o.minSeqLen}, ${o.maxSeqLen})`);
  if (o.runLength < 1) throw new Error(`makeSynthetic: runLength must be ≥ 1 (got ${o.runLength})`);
  const rng = mulberry32(o.seed);
  const T = o.topics, N = o.items;
  const itemTopic = new Int32Array(N);
  for (let i = 0; i < N; i++) itemTopic[i] = i % T;

  // Title vocabulary: topic words near their topic's centre, filler words anywhere (SIF down-weights them).
  const words: string[] = [];
  const wvec: Float64Array[] = [];
  const titleCentres = Array.from({ length: T }, () => gauss(rng, o.titleDim));
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < o.wordsPerTopic; k++) {
      words.push(`t${t}w${k}`);
      const c = titleCentres[t], n = gauss(rng, o.titleDim, 0.4);
      wvec.push(c.map((x, j) => x + n[j]));
    }
  }
  const fillers = ['the', 'of', 'and', 'a', 'in', 'on', 'to', 'at'].slice(0, o.fillerWords);
  for (const f of fillers) { words.push(f); wvec.push(gauss(rng, o.titleDim)); }
  const wv: WordVectors = {
    dim: o.titleDim,
    index: new Map(words.map((w, i) => [w, i])),
    vectors: new Float32Array(words.length * o.titleDim),
    source: 'synthetic',
  };
  wvec.forEach((v, i) => wv.vectors.set(v, i * o.titleDim));

  const titles: string[] = [];
  for (let i = 0; i < N; i++) {
    const t = itemTopic[i];
    const k = 2 + rng.int(2);
    const picked = new Set<number>();
    while (picked.size < Math.min(k, o.wordsPerTopic)) picked.add(rng.int(o.wordsPerTopic));
    const ws = [...picked].map((w) => `T${t}w${w}`);
    if (fillers.length && rng.next() < 0.5) ws.splice(rng.int(ws.length + 1), 0, fillers[rng.int(fillers.length)]);
    titles.push(ws.join(' '));
  }

  const dense = (name: string, dim: number, missing: number): Modality => {
    const centres = Array.from({ length: T }, () => gauss(rng, dim));
    const values = new Float32Array(N * dim);
    const present = new Uint8Array(N);
    for (let i = 0; i < N; i++) {
      if (missing > 0 && rng.next() < missing) continue;
      present[i] = 1;
      const c = centres[itemTopic[i]];
      for (let k = 0; k < dim; k++) values[i * dim + k] = c[k] + o.noise * rng.normal();
    }
    return { name, dim, values, present };
  };
  const title = sifEmbed(titles, wv);
  const modalities: Modality[] = [
    { name: 'title', dim: title.dim, values: title.values, present: title.present },
    dense('visual', o.visualDim, 0),
    dense('tags', o.tagsDim, o.missingRate),
  ];

  // Items of a topic in popularity order, with cumulative weights for sampling.
  const byTopic: number[][] = Array.from({ length: T }, () => []);
  for (let i = 0; i < N; i++) byTopic[itemTopic[i]].push(i);
  const cum = byTopic.map((its) => {
    let s = 0;
    return its.map((_, r) => (s += 1 / (r + 1) ** o.popularitySkew));
  });
  const draw = (t: number): number => {
    const c = cum[t];
    const x = rng.next() * c[c.length - 1];
    let lo = 0;
    while (c[lo] < x) lo++;
    return byTopic[t][lo];
  };

  const sequences: Int32Array[] = [];
  const timestamps: Float64Array[] = [];
  const pStop = 1 / o.runLength;
  for (let u = 0; u < o.users; u++) {
    const favs: number[] = [];
    while (favs.length < Math.min(o.favouriteTopics, T)) {
      const t = rng.int(T);
      if (!favs.includes(t)) favs.push(t);
    }
    const len = o.minSeqLen + rng.int(o.maxSeqLen - o.minSeqLen + 1);
    const seq = new Int32Array(len);
    const ts = new Float64Array(len);
    const seen = new Set<number>();
    let topic = favs[rng.int(favs.length)];
    let time = 1_000_000_000 + rng.int(1_000_000);
    for (let j = 0; j < len; j++) {
      if (j > 0 && rng.next() < pStop) {
        const pool = rng.next() < 0.8 && favs.length > 1 ? favs : Array.from({ length: T }, (_, t) => t);
        let next = topic;
        while (next === topic) next = pool[rng.int(pool.length)];
        topic = next;
      }
      let it = draw(topic);
      for (let tries = 0; tries < 10 && seen.has(it); tries++) it = draw(topic);
      seen.add(it);
      seq[j] = it;
      time += 1 + rng.int(3600);
      ts[j] = time;
    }
    sequences.push(seq);
    timestamps.push(ts);
  }

  return {
    name: `synthetic(seed=${o.seed})`,
    numUsers: o.users,
    numItems: N,
    userIds: Array.from({ length: o.users }, (_, u) => String(u)),
    itemIds: Array.from({ length: N }, (_, i) => String(i)),
    sequences,
    timestamps,
    items: { titles, modalities },
    itemTopic,
    wordVectors: wv,
    options: o,
  };
}
