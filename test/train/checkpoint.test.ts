// Checkpoint files: safetensors round trip, defensive parsing of corrupt or hostile files, atomic
// replacement (an interrupted save leaves the previous checkpoint loadable).
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, existsSync, readdirSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, decodeSafetensors, saveCheckpoint, loadCheckpoint, CheckpointError } from '../../src/train/checkpoint.ts';

const arrays = () => [
  { name: 'w', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6.5]) },
  { name: 'ids', shape: [4], data: Int32Array.from([7, -1, 0, 2 ** 31 - 1]) },
  { name: 'empty', shape: [0, 5], data: new Float32Array(0) },
];

function header(bytes: Uint8Array): Record<string, unknown> {
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  return JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
}

function withHeader(h: unknown, data: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(h));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips f32 and i32 tensors and metadata, with an 8-aligned data section', () => {
    const bytes = encodeSafetensors(arrays(), { epoch: '3' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    expect(header(bytes).w).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    const { arrays: got, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ epoch: '3' });
    for (const a of arrays()) {
      expect(got.get(a.name)!.shape).toEqual(a.shape);
      expect(Array.from(got.get(a.name)!.data)).toEqual(Array.from(a.data));
      expect(got.get(a.name)!.data.constructor).toBe(a.data.constructor);
    }
  });

  it('rejects corrupt and hostile files with the file name and the reason', () => {
    const ok = encodeSafetensors(arrays());
    const bad: [string, Uint8Array, RegExp][] = [
      ['short', ok.subarray(0, 5), /too short/],
      ['huge header length', (() => { const b = ok.slice(); new DataView(b.buffer).setBigUint64(0, 2n ** 60n, true); return b; })(), /header length \d+ exceeds the file/],
      ['truncated data', ok.subarray(0, ok.length - 4), /do not fit shape/],
      ['not JSON', withHeader('x', new Uint8Array()).map((v, i) => (i === 8 ? 0x7b : v)), /not valid UTF-8 JSON/],
      ['offsets past the end', withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)), /data_offsets \[0, 8\] do not fit/],
      ['shape/offset mismatch', withHeader({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /do not fit shape \[3\]/],
      ['negative offset', withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, new Uint8Array(8)), /bad data_offsets/],
      ['bad dtype', withHeader({ a: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /unsupported dtype "F64"/],
      ['bad shape', withHeader({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /bad shape/],
      ['array header', withHeader([1, 2], new Uint8Array()), /not a JSON object/],
    ];
    for (const [what, bytes, re] of bad) {
      expect(() => decodeSafetensors(bytes, `evil-${what}.safetensors`), what).toThrow(CheckpointError);
      expect(() => decodeSafetensors(bytes, `evil-${what}.safetensors`), what).toThrow(re);
    }
  });
});

describe('checkpoint directory', () => {
  it('saves and loads weights, optimizer state and the sidecar; keeps one version', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    saveCheckpoint(dir, arrays(), [{ name: 'm', shape: [1], data: Float32Array.from([0.5]) }], { epoch: 1, best: 0.1 });
    saveCheckpoint(dir, arrays().map((a) => (a.name === 'w' ? { ...a, data: Float32Array.from([9, 9, 9, 9, 9, 9]) } : a)), null, { epoch: 2 });
    const { weights, optimizer, meta } = loadCheckpoint(dir);
    expect(meta.epoch).toBe(2);
    expect(Array.from(weights.get('w')!.data)).toEqual([9, 9, 9, 9, 9, 9]);
    expect(optimizer).toBeNull();
    expect(readdirSync(dir).filter((f) => f.startsWith('v-'))).toEqual(['v-2']);
  });

  it('an interrupted save (new files written, sidecar not switched) still loads the previous checkpoint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    saveCheckpoint(dir, arrays(), null, { epoch: 1 });
    // Simulate a crash after the new version's weights were written but before checkpoint.json moved.
    mkdirSync(join(dir, 'v-2'));
    writeFileSync(join(dir, 'v-2', 'model.safetensors'), encodeSafetensors([{ name: 'w', shape: [1], data: Float32Array.from([42]) }]));
    writeFileSync(join(dir, 'checkpoint.json.tmp-123'), '{"partial');
    const { weights, meta } = loadCheckpoint(dir);
    expect(meta.epoch).toBe(1);
    expect(Array.from(weights.get('w')!.data)).toEqual([1, 2, 3, 4, 5, 6.5]);
    // The next save goes past the orphan and cleans it up.
    saveCheckpoint(dir, arrays(), null, { epoch: 3 });
    expect(loadCheckpoint(dir).meta.epoch).toBe(3);
    expect(existsSync(join(dir, 'v-2'))).toBe(false);
  });

  it('names what is wrong with a directory that is not a checkpoint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    expect(() => loadCheckpoint(dir)).toThrow(/no checkpoint.json/);
    writeFileSync(join(dir, 'checkpoint.json'), '{"format":"other"}');
    expect(() => loadCheckpoint(dir)).toThrow(/not a mufasa-gpu checkpoint/);
    writeFileSync(join(dir, 'checkpoint.json'), JSON.stringify({ format: 'mufasa-gpu-checkpoint', version: 1, files: '../../etc' }));
    expect(() => loadCheckpoint(dir)).toThrow(/bad "files" entry/);
  });
});
