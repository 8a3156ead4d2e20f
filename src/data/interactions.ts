// Reading text tables and interaction files. csv-parse (sync API: these files fit in memory) does the
// quoting; this file adds what a user needs when their file is wrong: the file name and the line in
// every error (issue 4 §1), strict UTF-8 (a Latin-1 file read as UTF-8 silently corrupts titles), and
// a header-driven column lookup shared by the MovieLens and generic loaders.

import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { DataFormatError, type RawInteractions } from './dataset.ts';

/** Reads a file as strict UTF-8; invalid bytes → DataFormatError naming the line of the first one. */
export function readUtf8(path: string): string {
  const bytes = readFileSync(path);
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    const at = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    throw new DataFormatError(path, line, `not valid UTF-8 (byte 0x${bytes[at]?.toString(16)} at offset ${at}); re-encode the file as UTF-8`);
  }
}

export function readLatin1(path: string): string {
  return new TextDecoder('latin1').decode(readFileSync(path));
}

/** Offset of the first byte that breaks UTF-8 (overlongs and surrogates included), or bytes.length. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) { i++; continue; }
    let n: number, min: number;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; }
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return b.length;
}

/** A parsed table: header names and data rows, each with its 1-based line in the file. */
export interface Table {
  file: string;
  header: string[];
  rows: { fields: string[]; line: number }[];
}

/** Tab if the header line has a tab, else comma. */
export function detectDelimiter(text: string): '\t' | ',' {
  const nl = text.indexOf('\n');
  const first = nl < 0 ? text : text.slice(0, nl);
  return first.includes('\t') ? '\t' : ',';
}

/**
 * Parses a delimited text with a header row. Every data row must have exactly as many fields as the
 * header; an empty file or a header without data rows is an error (nothing to train on).
 */
export function parseTable(text: string, file: string, delimiter?: string): Table {
  if (text.trim() === '') throw new DataFormatError(file, 1, 'empty file');
  let recs: { record: string[]; info: { lines: number; empty_lines: number } }[];
  try {
    recs = parse(text, {
      delimiter: delimiter ?? detectDelimiter(text),
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
    }) as unknown as typeof recs;
  } catch (err) {
    const e = err as { lines?: number; message: string };
    throw new DataFormatError(file, e.lines ?? 1, e.message);
  }
  let prevLines = 0;
  let prevEmpty = 0;
  const out: Table['rows'] = [];
  for (const r of recs) {
    const start = prevLines + 1 + (r.info.empty_lines - prevEmpty);
    prevLines = r.info.lines;
    prevEmpty = r.info.empty_lines;
    out.push({ fields: r.record, line: start });
  }
  const [head, ...rows] = out;
  const header = head.fields.map((h) => h.trim());
  const seen = new Set<string>();
  for (const h of header) {
    if (h !== '' && seen.has(h)) throw new DataFormatError(file, head.line, `duplicate column '${h}' in the header`);
    seen.add(h);
  }
  if (rows.length === 0) throw new DataFormatError(file, head.line, 'no data rows after the header');
  for (const r of rows) {
    if (r.fields.length !== header.length) {
      throw new DataFormatError(file, r.line, `expected ${header.length} fields (as in the header), found ${r.fields.length}`);
    }
  }
  return { file, header, rows };
}

/** Index of a required header column; error names the file, the header line and what exists. */
export function column(t: Table, name: string): number {
  const k = t.header.indexOf(name);
  if (k < 0) throw new DataFormatError(t.file, 1, `missing column '${name}' (header has: ${t.header.join(', ')})`);
  return k;
}

/** A finite number or a DataFormatError naming file, line and column. */
export function parseNumber(s: string, file: string, line: number, col: string): number {
  const v = s.trim() === '' ? NaN : Number(s);
  if (!Number.isFinite(v)) throw new DataFormatError(file, line, `'${s}' is not a number`, col);
  return v;
}

/** Interaction rows before grouping: user keys in first-seen order, item ids already dense. */
export interface InteractionRows {
  userKeys: string[];
  raw: RawInteractions;
}

/**
 * Maps (userKey, itemKey, time) rows to dense ids. `itemIndex` comes from the items file; an
 * interaction with an item not in it is an error at that line (a typo there would otherwise become a
 * silently new item without content).
 */
export class InteractionBuilder {
  private users = new Map<string, number>();
  private u: number[] = [];
  private i: number[] = [];
  private t: number[] = [];
  constructor(private readonly itemIndex: Map<string, number>, private readonly itemsFile: string) {}

  add(userKey: string, itemKey: string, time: number, file: string, line: number, itemCol: string): void {
    const it = this.itemIndex.get(itemKey);
    if (it === undefined) {
      throw new DataFormatError(file, line, `unknown item id '${itemKey}' (not in ${this.itemsFile})`, itemCol);
    }
    let us = this.users.get(userKey);
    if (us === undefined) {
      us = this.users.size;
      this.users.set(userKey, us);
    }
    this.u.push(us);
    this.i.push(it);
    this.t.push(time);
  }

  get count(): number {
    return this.u.length;
  }

  /** Users renumbered in ascending original id (compare), so dense ids don't depend on row order. */
  finish(compare: (a: string, b: string) => number): { userIds: string[]; raw: RawInteractions } {
    const keys = [...this.users.keys()];
    const sorted = [...keys].sort(compare);
    const remap = new Int32Array(keys.length);
    const pos = new Map(sorted.map((k, j) => [k, j]));
    keys.forEach((k, j) => (remap[j] = pos.get(k)!));
    const n = this.u.length;
    const raw: RawInteractions = { user: new Int32Array(n), item: Int32Array.from(this.i), time: Float64Array.from(this.t), count: n };
    for (let k = 0; k < n; k++) raw.user[k] = remap[this.u[k]];
    return { userIds: sorted, raw };
  }
}
