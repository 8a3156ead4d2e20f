// Checkpoints: weights (and optimizer moments) as safetensors, plus a JSON sidecar (config, epoch,
// step, RNG state, best metric). Written atomically: the tensors go into a fresh subdirectory
// `DIR/v-<n>/` (each file via temp file + fsync + rename), and only then is `DIR/checkpoint.json` —
// which names that subdirectory — replaced by rename. A crash at any point leaves the previous
// checkpoint.json pointing at complete files; older subdirectories are removed after the switch.
//
// safetensors (Hugging Face): 8-byte little-endian header length N, N bytes of JSON
// `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {...} }`, then the raw data.
// No npm package for it is both maintained and dependency-free, and the format is ~40 lines, so it
// lives here. Files from untrusted sources are parsed defensively: every offset, length, dtype and
// shape is checked against the file size before any data is touched.

import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array | Int32Array;
}

import { CheckpointError, NonFiniteError } from '../errors.ts';
export { CheckpointError };

const DTYPES = { F32: 4, I32: 4 } as const;
/** Refuse headers beyond this: a corrupt length field must not make us allocate gigabytes. */
const MAX_HEADER = 100 * 1024 * 1024;

export function encodeSafetensors(arrays: NamedArray[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const a of arrays) {
    if (seen.has(a.name) || a.name === '__metadata__') throw new Error(`safetensors: duplicate or reserved tensor name '${a.name}'`);
    seen.add(a.name);
    const n = a.shape.reduce((x, y) => x * y, 1);
    if (n !== a.data.length) throw new Error(`safetensors: '${a.name}' has ${a.data.length} values for shape [${a.shape}]`);
    header[a.name] = { dtype: a.data instanceof Float32Array ? 'F32' : 'I32', shape: a.shape, data_offsets: [offset, offset + a.data.byteLength] };
    offset += a.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces to a multiple of 8 so the data is aligned (the format allows it).
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const hbytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hbytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let at = 8 + hbytes.length;
  for (const a of arrays) {
    out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), at);
    at += a.data.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array, file = 'safetensors'): { arrays: Map<string, NamedArray>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new CheckpointError(file, `too short for a safetensors header (${bytes.length} bytes)`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) throw new CheckpointError(file, `header length ${n} exceeds the file (${bytes.length} bytes)`);
  const hlen = Number(n);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + hlen)));
  } catch (e) {
    throw new CheckpointError(file, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new CheckpointError(file, 'header is not a JSON object');
  const dataStart = 8 + hlen;
  const dataLen = bytes.length - dataStart;
  const arrays = new Map<string, NamedArray>();
  const ranges: [number, number, string][] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!v || typeof v !== 'object') throw new CheckpointError(file, '__metadata__ is not an object');
      metadata = Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, String(x)]));
      continue;
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CheckpointError(file, `tensor '${name}': entry is not an object`);
    const info = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (info.dtype !== 'F32' && info.dtype !== 'I32') throw new CheckpointError(file, `tensor '${name}': unsupported dtype ${JSON.stringify(info.dtype)} (F32, I32)`);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new CheckpointError(file, `tensor '${name}': bad shape ${JSON.stringify(shape)}`);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new CheckpointError(file, `tensor '${name}': bad data_offsets ${JSON.stringify(offs)}`);
    }
    const [b, e] = offs as number[];
    const count = (shape as number[]).reduce((x, y) => x * y, 1);
    if (e < b || e > dataLen || e - b !== count * DTYPES[info.dtype]) {
      throw new CheckpointError(file, `tensor '${name}': data_offsets [${b}, ${e}] do not fit shape [${shape}] ${info.dtype} within ${dataLen} data bytes`);
    }
    ranges.push([b, e, name]);
    const raw = bytes.slice(dataStart + b, dataStart + e); // a copy: aligned, and independent of the file buffer
    const data = info.dtype === 'F32' ? new Float32Array(raw.buffer) : new Int32Array(raw.buffer);
    arrays.set(name, { name, shape: shape as number[], data });
  }
  // As the reference safetensors parser: the tensors tile the data section exactly — no two share a
  // byte (a crafted file could alias one tensor's data as another's) and no byte is unaccounted for.
  ranges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let end = 0;
  let prev = '';
  for (const [b, e, name] of ranges) {
    if (b < end) throw new CheckpointError(file, `tensor '${name}': data_offsets [${b}, ${e}] overlap tensor '${prev}' (which ends at ${end})`);
    if (b > end) throw new CheckpointError(file, `tensor '${name}': data_offsets start at ${b}, leaving bytes [${end}, ${b}) of the data section unused`);
    end = e;
    prev = name;
  }
  if (end !== dataLen) throw new CheckpointError(file, `the tensors cover ${end} of the ${dataLen} data bytes (trailing bytes)`);
  return { arrays, metadata };
}

/** Write `data` to `path` atomically (temp file, fsync, rename). */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export interface CheckpointMeta {
  format: 'mufasa-gpu-checkpoint';
  version: 1;
  [key: string]: unknown;
}

/** Save weights (+ optional optimizer state) and the sidecar into `dir`; see the file comment. */
export function saveCheckpoint(dir: string, weights: NamedArray[], optimizer: NamedArray[] | null, meta: Record<string, unknown>): void {
  // Never replace a good checkpoint with a diverged one: a NaN that reached the weights after the last
  // loss readback (the last step of an epoch) would otherwise be saved as the "last good" state.
  for (const a of [...weights, ...(optimizer ?? [])]) {
    if (!(a.data instanceof Float32Array)) continue;
    for (let i = 0; i < a.data.length; i++) {
      if (!Number.isFinite(a.data[i])) {
        throw new NonFiniteError({ quantity: `tensor '${a.name}' [${a.shape}] element ${i}`, value: a.data[i], hint: `checkpoint not written; ${dir} keeps its previous contents` });
      }
    }
  }
  mkdirSync(dir, { recursive: true });
  const versions = readdirSync(dir).filter((f) => /^v-\d+$/.test(f));
  const next = versions.reduce((m, f) => Math.max(m, +f.slice(2)), 0) + 1;
  const sub = `v-${next}`;
  mkdirSync(join(dir, sub));
  writeFileAtomic(join(dir, sub, 'model.safetensors'), encodeSafetensors(weights));
  if (optimizer) writeFileAtomic(join(dir, sub, 'optimizer.safetensors'), encodeSafetensors(optimizer));
  const sidecar: CheckpointMeta = { format: 'mufasa-gpu-checkpoint', version: 1, ...meta, files: sub };
  writeFileAtomic(join(dir, 'checkpoint.json'), JSON.stringify(sidecar, null, 2) + '\n');
  for (const v of versions) rmSync(join(dir, v), { recursive: true, force: true });
}

export function loadCheckpoint(dir: string): { weights: Map<string, NamedArray>; optimizer: Map<string, NamedArray> | null; meta: CheckpointMeta } {
  const side = join(dir, 'checkpoint.json');
  if (!existsSync(side)) throw new CheckpointError(dir, 'no checkpoint.json: not a checkpoint directory (or the first save never completed)');
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(readFileSync(side, 'utf8'));
  } catch (e) {
    throw new CheckpointError(side, `not valid JSON (${(e as Error).message})`);
  }
  if (meta.format !== 'mufasa-gpu-checkpoint') throw new CheckpointError(side, `not a mufasa-gpu checkpoint (format ${JSON.stringify(meta.format)})`);
  if (typeof meta.files !== 'string' || !/^v-\d+$/.test(meta.files)) throw new CheckpointError(side, `bad "files" entry ${JSON.stringify(meta.files)}`);
  const wfile = join(dir, meta.files, 'model.safetensors');
  if (!existsSync(wfile)) throw new CheckpointError(wfile, 'missing: the checkpoint directory is incomplete');
  const weights = decodeSafetensors(new Uint8Array(readFileSync(wfile)), wfile).arrays;
  const ofile = join(dir, meta.files, 'optimizer.safetensors');
  const optimizer = existsSync(ofile) ? decodeSafetensors(new Uint8Array(readFileSync(ofile)), ofile).arrays : null;
  return { weights, optimizer, meta };
}
