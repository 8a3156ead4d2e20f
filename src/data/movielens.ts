// MovieLens-100K (GroupLens files plus the IMDb enrichment in items_imdb.csv; see
// ../shared/data/README.md). u.data is tab-separated without a header, u.item is pipe-separated
// Latin-1 (é in titles would break as UTF-8), items_imdb.csv is quoted UTF-8 CSV. Every rating is an
// implicit interaction (DESIGN §6). Modalities (DESIGN §5): title, plot, cast (cast + director) as SIF
// text vectors, genre (19 flags of u.item), numeric (year, runtime, IMDb rating, log(1 + #ratings)).

import { join } from 'node:path';
import { DataFormatError, groupSequences, type Dataset, type Modality } from './dataset.ts';
import { InteractionBuilder, column, parseNumber, parseTable, readLatin1, readUtf8 } from './interactions.ts';
import { multiHot, standardised } from './features.ts';
import { resolveWordVectors, sifEmbed, stripTitleYear, type SifOptions, type WordVectors } from './text.ts';

export const ML100K_GENRES = [
  'unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western',
];

export interface MovieLensOptions {
  /** GloVe-format file path, loaded vectors, or 'wink' (the optional npm package; the default). */
  wordVectors?: string | WordVectors;
  sif?: SifOptions;
  name?: string;
}

/** '930K' → 930000, '1.5M' → 1.5e6, '' → NaN (missing). */
export function parseCount(s: string, file: string, line: number, col: string): number {
  const t = s.trim();
  if (t === '') return NaN;
  const m = /^(\d+(?:\.\d+)?)([KkMm]?)$/.exec(t.replace(/,/g, ''));
  if (!m) throw new DataFormatError(file, line, `'${s}' is not a count (e.g. 930, 930K, 1.5M)`, col);
  return Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]) ? 1e3 : 1e6);
}

function optionalNumber(s: string, file: string, line: number, col: string): number {
  return s.trim() === '' ? NaN : parseNumber(s, file, line, col);
}

export async function loadMovieLens(dir: string, opts: MovieLensOptions = {}): Promise<Dataset> {
  // u.item first: it defines the catalogue that u.data and items_imdb.csv must refer to.
  const itemFile = join(dir, 'u.item');
  const itemLines = readLatin1(itemFile).split('\n');
  const itemIds: string[] = [];
  const titles: string[] = [];
  const years: number[] = [];
  const genres: string[][] = [];
  const itemIndex = new Map<string, number>();
  const itemLine: number[] = [];
  itemLines.forEach((raw, ln) => {
    const l = raw.replace(/\r$/, '');
    if (l === '') return;
    const f = l.split('|');
    if (f.length !== 5 + ML100K_GENRES.length) {
      throw new DataFormatError(itemFile, ln + 1, `expected ${5 + ML100K_GENRES.length} '|'-separated fields, found ${f.length}`);
    }
    const id = f[0].trim();
    if (itemIndex.has(id)) throw new DataFormatError(itemFile, ln + 1, `duplicate item id '${id}' (first on line ${itemLine[itemIndex.get(id)!]})`);
    itemIndex.set(id, itemIds.length);
    itemLine.push(ln + 1);
    itemIds.push(id);
    titles.push(f[1]);
    const y = /(\d{4})\s*$/.exec(f[2]);
    years.push(y ? Number(y[1]) : NaN);
    const g: string[] = [];
    ML100K_GENRES.forEach((name, k) => {
      const flag = f[5 + k].trim();
      if (flag !== '0' && flag !== '1') throw new DataFormatError(itemFile, ln + 1, `genre flag '${flag}' is not 0 or 1`, name);
      if (flag === '1') g.push(name);
    });
    genres.push(g);
  });
  if (itemIds.length === 0) throw new DataFormatError(itemFile, 1, 'empty file');

  const dataFile = join(dir, 'u.data');
  const b = new InteractionBuilder(itemIndex, itemFile);
  const dataText = readUtf8(dataFile);
  let start = 0;
  let ln = 0;
  while (start < dataText.length) {
    let end = dataText.indexOf('\n', start);
    if (end < 0) end = dataText.length;
    ln++;
    const l = dataText.slice(start, end).replace(/\r$/, '');
    start = end + 1;
    if (l === '') continue;
    const f = l.split('\t');
    if (f.length !== 4) throw new DataFormatError(dataFile, ln, `expected 4 tab-separated fields (user item rating timestamp), found ${f.length}`);
    const t = parseNumber(f[3], dataFile, ln, 'timestamp');
    b.add(f[0].trim(), f[1].trim(), t, dataFile, ln, 'item');
  }
  if (b.count === 0) throw new DataFormatError(dataFile, 1, 'empty file');
  const byNumber = (x: string, y: string) => Number(x) - Number(y) || (x < y ? -1 : x > y ? 1 : 0);
  const { userIds, raw } = b.finish(byNumber);
  const { sequences, timestamps } = groupSequences(raw, userIds.length, itemIds);

  const n = itemIds.length;
  const imdbFile = join(dir, 'items_imdb.csv');
  const tab = parseTable(readUtf8(imdbFile), imdbFile, ',');
  const cId = column(tab, 'movie id');
  const cols = ['Summary', 'Cast', 'Director', 'Rating', 'Runtime', 'No. of ratings'].map((c) => column(tab, c));
  const summary: (string | null)[] = new Array(n).fill(null);
  const castText: (string | null)[] = new Array(n).fill(null);
  const runtime = new Float64Array(n).fill(NaN);
  const rating = new Float64Array(n).fill(NaN);
  const logCount = new Float64Array(n).fill(NaN);
  const seenRow = new Int32Array(n);
  for (const r of tab.rows) {
    const id = r.fields[cId].trim();
    const i = itemIndex.get(id);
    if (i === undefined) throw new DataFormatError(imdbFile, r.line, `unknown item id '${id}' (not in ${itemFile})`, 'movie id');
    if (seenRow[i]) throw new DataFormatError(imdbFile, r.line, `duplicate item id '${id}' (first on line ${seenRow[i]})`, 'movie id');
    seenRow[i] = r.line;
    const [s, c, d, ra, ru, nr] = cols.map((k) => r.fields[k].trim());
    summary[i] = s || null;
    const cd = [c.replace(/\|/g, ' '), d.replace(/\|/g, ' ')].join(' ').trim();
    castText[i] = cd || null;
    rating[i] = optionalNumber(ra, imdbFile, r.line, 'Rating');
    runtime[i] = optionalNumber(ru, imdbFile, r.line, 'Runtime');
    const cnt = parseCount(nr, imdbFile, r.line, 'No. of ratings');
    logCount[i] = Number.isNaN(cnt) ? NaN : Math.log1p(cnt);
  }

  const wv = await resolveWordVectors(opts.wordVectors);
  const text = (name: string, texts: (string | null)[]): Modality => ({ name, ...sifEmbed(texts, wv, opts.sif) });
  const modalities: Modality[] = [
    text('title', titles.map(stripTitleYear)),
    text('plot', summary),
    text('cast', castText),
    multiHot('genre', genres, ML100K_GENRES),
    standardised('numeric', [Float64Array.from(years), runtime, rating, logCount]),
  ].map(({ name, dim, values, present }) => ({ name, dim, values, present }));

  return {
    name: opts.name ?? 'ml-100k',
    numUsers: userIds.length,
    numItems: n,
    userIds,
    itemIds,
    sequences,
    timestamps,
    items: { titles, modalities },
  };
}
