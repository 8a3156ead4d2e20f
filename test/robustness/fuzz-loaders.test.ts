// Loader fuzzing (issue 7): random bytes and mutations of valid files fed to the generic and MovieLens
// loaders. Each run must either return a whole, consistent data set or throw DataFormatError — no
// other exception (TypeError, RangeError, a csv-parse error leaking through), no NaN in the output, no
// hang (fast-check's per-run timeout). Seeds are fixed so a failure reproduces; ~5 s in all.
import { describe, it, expect, afterAll } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadGeneric } from '../../src/data/generic.ts';
import { loadMovieLens } from '../../src/data/movielens.ts';
import { loadWordVectors } from '../../src/data/text.ts';
import { DataFormatError } from '../../src/errors.ts';
import type { Dataset } from '../../src/data/dataset.ts';

const fx = (name: string) => fileURLToPath(new URL(`../data/fixtures/${name}`, import.meta.url));
const wordVectors = loadWordVectors(fx('tiny-glove.txt'));
const dir = mkdtempSync(join(tmpdir(), 'mufasa-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A loaded data set must be whole: every array sized by the counts, ids in range, values finite. */
function checkWhole(ds: Dataset): void {
  const fail = (m: string) => {
    throw new Error(`partial or inconsistent data set: ${m}`);
  };
  if (!(ds.numItems >= 1) || ds.itemIds.length !== ds.numItems || ds.items.titles.length !== ds.numItems) fail('item counts');
  if (ds.userIds.length !== ds.numUsers || ds.sequences.length !== ds.numUsers || ds.timestamps.length !== ds.numUsers) fail('user counts');
  let n = 0;
  ds.sequences.forEach((s, u) => {
    if (s.length !== ds.timestamps[u].length) fail(`user ${u}: sequence and timestamps differ in length`);
    n += s.length;
    s.forEach((it, j) => {
      if (!(it >= 0 && it < ds.numItems)) fail(`user ${u}: item ${it} out of range`);
      const t = ds.timestamps[u][j];
      if (!Number.isFinite(t) || (j > 0 && t < ds.timestamps[u][j - 1])) fail(`user ${u}: timestamps not finite and ordered`);
    });
  });
  if (n === 0) fail('no interactions');
  for (const m of ds.items.modalities) {
    if (m.values.length !== ds.numItems * m.dim || m.present.length !== ds.numItems) fail(`modality ${m.name} sizes`);
    if (!m.values.every(Number.isFinite)) fail(`modality ${m.name} has non-finite values`);
  }
}

async function loadsOrFormatError(load: () => Promise<Dataset>): Promise<void> {
  let ds: Dataset;
  try {
    ds = await load();
  } catch (e) {
    if (e instanceof DataFormatError) return;
    throw e;
  }
  checkWhole(ds);
}

/** Edits that make plausible broken files: cut, insert delimiters/quotes/odd numbers/bytes, repeat a line. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 24 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.constantFrom(',', '\t', '"', '\n', '\r\n', '|', '||', 'é', '\uFEFF', 'NaN', '1e999', '-0', '0x1F', ' ', 'm9', 'u1', '""', '"\n"', '0', '1').map((s) => Buffer.from(s)),
      fc.string({ maxLength: 6 }).map((s) => Buffer.from(s)),
      fc.uint8Array({ minLength: 1, maxLength: 3 }).map((b) => Buffer.from(b)),
    ),
  }),
  fc.record({ kind: fc.constant('dupLine' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

function mutate(src: Buffer, edits: Edit[]): Buffer {
  let b = src;
  for (const e of edits) {
    const at = b.length ? e.kind === 'dupLine' ? 0 : (e as { at: number }).at % (b.length + 1) : 0;
    if (e.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.len)]);
    else if (e.kind === 'insert') b = Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]);
    else if (e.kind === 'truncate') b = b.subarray(0, at);
    else {
      const lines = b.toString('latin1').split('\n');
      const k = e.line % lines.length;
      lines.splice(k, 0, lines[k]);
      b = Buffer.from(lines.join('\n'), 'latin1');
    }
  }
  return b;
}

const edits = fc.array(edit, { minLength: 1, maxLength: 4 });
const randomFile = fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)));
const params = (seed: number, numRuns: number) => ({ seed, numRuns, timeout: 5_000, endOnFailure: true });

describe('generic loader', () => {
  const inter = readFileSync(fx('interactions.tsv'));
  const items = readFileSync(fx('items.csv'));
  const pi = join(dir, 'interactions.tsv');
  const pt = join(dir, 'items.csv');
  const opts = { wordVectors, textFields: ['plot'], categoricalFields: ['genres'], numericFields: ['year', 'price'] };

  it('the unmutated fixture loads (the property is not vacuous)', async () => {
    writeFileSync(pi, inter);
    writeFileSync(pt, items);
    checkWhole(await loadGeneric(pi, pt, opts));
  });

  it('mutated files: loads whole or throws DataFormatError', async () => {
    let loaded = 0;
    await fc.assert(
      fc.asyncProperty(edits, edits, fc.constantFrom('inter', 'items', 'both'), async (ei, et, which) => {
        writeFileSync(pi, which === 'items' ? inter : mutate(inter, ei));
        writeFileSync(pt, which === 'inter' ? items : mutate(items, et));
        await loadsOrFormatError(async () => {
          const ds = await loadGeneric(pi, pt, opts);
          loaded++;
          return ds;
        });
      }),
      params(7001, 300),
    );
    // Some mutations (an extra space in a title, a repeated interaction) leave a valid file.
    expect(loaded).toBeGreaterThan(0);
  });

  it('random files: loads whole or throws DataFormatError', async () => {
    await fc.assert(
      fc.asyncProperty(randomFile, randomFile, async (a, b) => {
        writeFileSync(pi, a);
        writeFileSync(pt, b);
        await loadsOrFormatError(() => loadGeneric(pi, pt, { wordVectors }));
      }),
      params(7002, 100),
    );
  });
});

describe('MovieLens loader', () => {
  const genres = (k: number) => Array.from({ length: 19 }, (_, g) => (g === k % 19 || g === (k * 7) % 19 ? 1 : 0)).join('|');
  const uItem = Buffer.from(
    [1, 2, 3, 4, 5].map((i) => `${i}|Movie ${['Red Planet', 'Blue Ocean', 'Mars Attack', 'Quiet Sea', 'Water'][i - 1]} (199${i})|01-Jan-199${i}||http://x/${i}|${genres(i)}`).join('\n') + '\n',
    'latin1',
  );
  const uData = Buffer.from(['1\t1\t5\t100', '1\t2\t3\t101', '1\t3\t4\t101', '2\t3\t1\t50', '2\t4\t2\t60', '2\t5\t5\t70', '3\t1\t4\t5', '3\t5\t4\t6'].join('\n') + '\n');
  const imdb = Buffer.from(
    'movie id,Summary,Cast,Director,Rating,Runtime,No. of ratings\n' +
      '1,"A crew lands on Mars, finds water",Aliens|Crew,Quiet,7.1,100,930K\n' +
      '2,A quiet story about the sea,,Blue,6.5,,1.5M\n' +
      '3,,Mars,,,95,12\n' +
      '5,Aliens land,Red,Sea,8,120,\n',
  );
  const files = { 'u.item': uItem, 'u.data': uData, 'items_imdb.csv': imdb } as const;
  const names = Object.keys(files) as (keyof typeof files)[];
  const write = (over: Partial<Record<keyof typeof files, Buffer>>) => names.forEach((n) => writeFileSync(join(dir, n), over[n] ?? files[n]));

  it('the unmutated fixture loads (the property is not vacuous)', async () => {
    write({});
    const ds = await loadMovieLens(dir, { wordVectors });
    checkWhole(ds);
    expect([ds.numUsers, ds.numItems]).toEqual([3, 5]);
  });

  it('mutated files: loads whole or throws DataFormatError', async () => {
    let loaded = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...names), edits, async (name, es) => {
        write({ [name]: mutate(files[name], es) });
        await loadsOrFormatError(async () => {
          const ds = await loadMovieLens(dir, { wordVectors });
          loaded++;
          return ds;
        });
      }),
      params(7003, 300),
    );
    expect(loaded).toBeGreaterThan(0);
  });

  it('random files: loads whole or throws DataFormatError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...names), randomFile, async (name, bytes) => {
        write({ [name]: bytes });
        await loadsOrFormatError(() => loadMovieLens(dir, { wordVectors }));
      }),
      params(7004, 100),
    );
  });
});
