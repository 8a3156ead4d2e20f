// Safetensors from untrusted sources (issue 7): decodeSafetensors either returns tensors that exactly
// tile the file's data section — each sized by its shape and dtype — or throws CheckpointError; never
// another exception and never a huge allocation from a forged length. Random bytes, mutated valid
// files, and forged headers (structured JSON with hostile dtypes, shapes and offsets). ~2 s.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { encodeSafetensors, decodeSafetensors } from '../../src/train/checkpoint.ts';
import { CheckpointError } from '../../src/errors.ts';

function decodesOrCheckpointError(bytes: Uint8Array): 'ok' | 'rejected' {
  let out: ReturnType<typeof decodeSafetensors>;
  try {
    out = decodeSafetensors(bytes, 'fuzz.safetensors');
  } catch (e) {
    if (e instanceof CheckpointError) return 'rejected';
    throw e;
  }
  const hlen = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  let total = 0;
  for (const a of out.arrays.values()) {
    const n = a.shape.reduce((x, y) => x * y, 1);
    if (a.data.length !== n) throw new Error(`'${a.name}': ${a.data.length} values for shape [${a.shape}]`);
    total += a.data.byteLength;
  }
  // Exact tiling: the tensors' bytes add up to the data section (no overlap, no gap).
  if (total !== bytes.length - 8 - hlen) throw new Error(`tensors hold ${total} bytes, the data section has ${bytes.length - 8 - hlen}`);
  return 'ok';
}

function withHeader(header: unknown, data: Uint8Array, lenOverride?: bigint): Uint8Array {
  const h = Buffer.from(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const valid = encodeSafetensors(
  [
    { name: 'a', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    { name: 'b', shape: [4], data: Int32Array.from([7, 8, 9, 10]) },
    { name: 'empty', shape: [0, 5], data: new Float32Array(0) },
  ],
  { epoch: '3' },
);

describe('decodeSafetensors on hostile input', () => {
  it('round-trips a valid file', () => {
    const { arrays, metadata } = decodeSafetensors(valid);
    expect(Array.from(arrays.get('a')!.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(arrays.get('b')!.data).toBeInstanceOf(Int32Array);
    expect(metadata).toEqual({ epoch: '3' });
    expect(decodesOrCheckpointError(valid)).toBe('ok');
  });

  const bad: [string, Uint8Array, RegExp][] = [
    ['header length past the file', withHeader({}, new Uint8Array(0), 1n << 40n), /header length 1099511627776 exceeds the file/],
    ['header length 2^64 − 1', withHeader({}, new Uint8Array(0), (1n << 64n) - 1n), /exceeds the file/],
    ['overlapping ranges', withHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /'y'.*overlap tensor 'x'/],
    ['aliasing the same range', withHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8)), /overlap/],
    ['a gap', withHeader({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /leaving bytes \[0, 4\)/],
    ['trailing bytes', withHeader({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(12)), /cover 4 of the 12 data bytes/],
    ['shape and bytes disagree', withHeader({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /do not fit shape \[3\] F32/],
    ['offsets past the data', withHeader({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)), /within 8 data bytes/],
    ['negative offset', withHeader({ x: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, new Uint8Array(4)), /bad data_offsets/],
    ['unsupported dtype', withHeader({ x: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /unsupported dtype "F64"/],
    ['fractional shape', withHeader({ x: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, new Uint8Array(4)), /bad shape/],
    ['null entry', withHeader({ x: null }, new Uint8Array(0)), /'x': entry is not an object/],
    ['array header', withHeader([1, 2], new Uint8Array(0)), /not a JSON object/],
    ['not UTF-8', (() => { const b = withHeader({ x: 1 }, new Uint8Array(0)); b[9] = 0xff; return b; })(), /not valid UTF-8 JSON/],
    ['too short', new Uint8Array(5), /too short/],
  ];
  for (const [what, bytes, re] of bad) {
    it(`rejects ${what} with CheckpointError`, () => {
      expect(() => decodeSafetensors(bytes, 'x.safetensors')).toThrow(CheckpointError);
      expect(() => decodeSafetensors(bytes, 'x.safetensors')).toThrow(re);
    });
  }

  it('random bytes: decodes consistently or throws CheckpointError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => void decodesOrCheckpointError(b)), { seed: 8001, numRuns: 2000 });
  });

  it('mutated valid files: decodes consistently or throws CheckpointError', () => {
    let ok = 0;
    const edit = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), insert: fc.boolean() });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), fc.nat(), (edits, cut) => {
        let b: Uint8Array = Uint8Array.from(valid);
        for (const e of edits) {
          const at = e.at % b.length;
          if (e.insert) b = Uint8Array.from([...b.subarray(0, at), e.value, ...b.subarray(at)]);
          else b[at] = e.value;
        }
        if (cut % 5 === 0) b = b.subarray(0, cut % (b.length + 1));
        if (decodesOrCheckpointError(b) === 'ok') ok++;
      }),
      { seed: 8002, numRuns: 2000 },
    );
    expect(ok).toBeGreaterThan(0); // edits inside the data section leave a valid file
  });

  it('forged headers: decodes consistently or throws CheckpointError', () => {
    const num = fc.oneof(fc.integer({ min: -8, max: 64 }), fc.constantFrom(2 ** 53, 2 ** 31, 1e308, -0, 0.5, NaN), fc.constant('4'), fc.constant(null));
    const entry = fc.oneof(
      fc.record({
        dtype: fc.oneof(fc.constantFrom('F32', 'I32', 'F16', 'BF16', 'U8', 'f32', ''), fc.anything()),
        shape: fc.oneof(fc.array(num, { maxLength: 4 }), fc.anything()),
        data_offsets: fc.oneof(fc.tuple(num, num), fc.array(num, { maxLength: 3 }), fc.anything()),
      }, { requiredKeys: [] }),
      fc.anything(),
    );
    const header = fc.dictionary(fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('__metadata__', '__proto__', 'constructor')), entry, { maxKeys: 4 });
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 64 }), fc.option(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), (h, data, len) => {
        decodesOrCheckpointError(withHeader(h, data, len ?? undefined));
      }),
      { seed: 8003, numRuns: 2000 },
    );
  });
});
