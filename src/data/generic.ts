// The generic input format (documented in README.md and below): any data set a user has, as two
// delimited text files with headers. Strict: every error names the file and line, and a load either
// returns a whole Dataset or throws (nothing partial).

import { DataFormatError, compareIds, groupSequences, type Dataset, type Modality } from './dataset.ts';
import { InteractionBuilder, column, parseNumber, parseTable, readUtf8 } from './interactions.ts';
import { multiHot, splitCategories, standardised } from './features.ts';
import { resolveWordVectors, sifEmbed, type SifOptions, type WordVectors } from './text.ts';

export interface GenericOptions {
  /** Columns of the items file that hold text: each becomes a SIF modality named after the column. */
  textFields?: string[];
  /** Categorical columns: each becomes a multi-hot modality; a cell may hold several values 'a|b'. */
  categoricalFields?: string[];
  /** Numeric columns: together one standardised modality named 'numeric' (empty cell = missing). */
  numericFields?: string[];
  /** GloVe-format file path, loaded vectors, or 'wink' (the optional npm package; the default). */
  wordVectors?: string | WordVectors;
  sif?: SifOptions;
  name?: string;
  /** Header names; defaults user, item, timestamp (interactions) and id, title (items). */
  userColumn?: string;
  itemColumn?: string;
  timestampColumn?: string;
  idColumn?: string;
  titleColumn?: string;
}

/**
 * Loads the generic format.
 *
 * Interactions file (UTF-8, header row, tab- or comma-separated: tab if the header line contains a
 * tab): columns `user`, `item`, `timestamp` (any order; other columns ignored). Timestamps are numbers
 * (e.g. Unix seconds); ties are broken by ascending item id. Every row is an implicit interaction.
 *
 * Items file (UTF-8, header row, own delimiter detection): `id`, `title`, and the columns named in
 * `opts`. Item ids are unique; every interaction's item must be in it. Dense item ids follow the
 * items file's row order; dense user ids follow ascending user id (numeric when all are integers).
 *
 * Modalities: 'title' (SIF of the title; the title anchors), one per text field, one multi-hot per
 * categorical field, 'numeric' for all numeric fields. Empty cell = missing (masked) modality.
 */
export async function loadGeneric(interactionsPath: string, itemsPath: string, opts: GenericOptions = {}): Promise<Dataset> {
  const items = parseTable(readUtf8(itemsPath), itemsPath);
  const cId = column(items, opts.idColumn ?? 'id');
  const cTitle = column(items, opts.titleColumn ?? 'title');
  const textCols = (opts.textFields ?? []).map((c) => [c, column(items, c)] as const);
  const catCols = (opts.categoricalFields ?? []).map((c) => [c, column(items, c)] as const);
  const numCols = (opts.numericFields ?? []).map((c) => [c, column(items, c)] as const);
  const itemIds: string[] = [];
  const titles: string[] = [];
  const itemIndex = new Map<string, number>();
  const firstLine: number[] = [];
  const numeric = numCols.map(() => new Float64Array(items.rows.length));
  for (const r of items.rows) {
    const id = r.fields[cId].trim();
    if (id === '') throw new DataFormatError(itemsPath, r.line, 'empty item id', opts.idColumn ?? 'id');
    const prev = itemIndex.get(id);
    if (prev !== undefined) throw new DataFormatError(itemsPath, r.line, `duplicate item id '${id}' (first on line ${firstLine[prev]})`, opts.idColumn ?? 'id');
    const i = itemIds.length;
    itemIndex.set(id, i);
    firstLine.push(r.line);
    itemIds.push(id);
    titles.push(r.fields[cTitle]);
    numCols.forEach(([name, k], f) => {
      const s = r.fields[k].trim();
      numeric[f][i] = s === '' ? NaN : parseNumber(s, itemsPath, r.line, name);
    });
  }

  const inter = parseTable(readUtf8(interactionsPath), interactionsPath);
  const uCol = opts.userColumn ?? 'user';
  const iCol = opts.itemColumn ?? 'item';
  const tCol = opts.timestampColumn ?? 'timestamp';
  const cu = column(inter, uCol), ci = column(inter, iCol), ct = column(inter, tCol);
  const b = new InteractionBuilder(itemIndex, itemsPath);
  for (const r of inter.rows) {
    const t = parseNumber(r.fields[ct], interactionsPath, r.line, tCol);
    const u = r.fields[cu].trim();
    if (u === '') throw new DataFormatError(interactionsPath, r.line, 'empty user id', uCol);
    b.add(u, r.fields[ci].trim(), t, interactionsPath, r.line, iCol);
  }
  const { userIds, raw } = b.finish(compareIds);
  const { sequences, timestamps } = groupSequences(raw, userIds.length, itemIds);

  // The title modality is always built (it is the anchor t_i), so word vectors are always needed.
  const wv = await resolveWordVectors(opts.wordVectors);
  const strip = ({ name, dim, values, present }: Modality): Modality => ({ name, dim, values, present });
  const modalities: Modality[] = [{ name: 'title', ...sifEmbed(titles, wv, opts.sif) }].map(strip);
  for (const [name, k] of textCols) modalities.push(strip({ name, ...sifEmbed(items.rows.map((r) => r.fields[k]), wv, opts.sif) }));
  for (const [name, k] of catCols) modalities.push(strip(multiHot(name, items.rows.map((r) => splitCategories(r.fields[k])))));
  if (numCols.length) modalities.push(strip(standardised('numeric', numeric)));

  return {
    name: opts.name ?? 'generic',
    numUsers: userIds.length,
    numItems: itemIds.length,
    userIds,
    itemIds,
    sequences,
    timestamps,
    items: { titles, modalities },
  };
}
