// The two public entry points (issue 7): the browser entry bundles for the browser with nothing from
// node: (a bundler would fail on it), the Node entry adds the file-based parts, and both export the
// documented surface — and the errors as one family.
import { it, expect } from 'vitest';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import * as node from '../../src/index.ts';
import * as browser from '../../src/browser.ts';

const NODE_ONLY = ['loadMovieLens', 'loadGeneric', 'loadWordVectors', 'makeSynthetic', 'train', 'defaultTrainConfig', 'saveCheckpoint', 'loadCheckpoint', 'encodeSafetensors', 'decodeSafetensors', 'computeEmbeddings', 'embeddingsFromCheckpoint', 'trainBPR'];
const BOTH = [
  'initEngine', 'getDevice', 'engine', 'Engine', 'setEngine', 'tensor', 'zeros', 'Tensor', 'tidy', 'keep', 'noGrad', 'backward', 'grad',
  'matmul', 'linear', 'add', 'relu', 'sum', 'softmax', 'gatherRows', 'infoNCE', 'causalAttention', 'blockAttention', 'selectBlocks', 'selectiveAttention',
  'Adam', 'AdamW', 'Mufasa', 'defaultMufasaConfig', 'MFL', 'SAL', 'datasetFromArrays', 'leaveOneOut', 'makeBatches', 'evaluate', 'topKItems',
  'MufasaError', 'ShapeError', 'DTypeError', 'DisposedTensorError', 'DeviceMismatchError', 'OutOfMemoryError', 'DeviceLostError', 'DeviceError', 'NonFiniteError', 'DataFormatError', 'CheckpointError',
];

it('exports the documented surface from each entry', () => {
  for (const n of BOTH) {
    expect(typeof (browser as Record<string, unknown>)[n], `browser.${n}`).not.toBe('undefined');
    expect((node as Record<string, unknown>)[n], `index.${n}`).toBe((browser as Record<string, unknown>)[n]);
  }
  for (const n of NODE_ONLY) {
    expect(typeof (node as Record<string, unknown>)[n], `index.${n}`).not.toBe('undefined');
    expect((browser as Record<string, unknown>)[n], `browser.${n} must not be there`).toBeUndefined();
  }
  // Internals stay internal.
  for (const n of ['Stream', 'BufferPool', 'KernelRegistry', 'dispatch1d', 'registerTapeOps', 'Storage']) expect((node as Record<string, unknown>)[n], n).toBeUndefined();
  // One error family.
  for (const E of [node.ShapeError, node.DTypeError, node.DisposedTensorError, node.DeviceMismatchError, node.OutOfMemoryError, node.DeviceLostError, node.DeviceError, node.NonFiniteError, node.DataFormatError, node.CheckpointError, node.KernelError]) {
    expect(E.prototype).toBeInstanceOf(node.MufasaError);
  }
});

it('the browser entry bundles for the browser without node: modules', async () => {
  const r = await build({
    entryPoints: [fileURLToPath(new URL('../../src/browser.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    external: ['webgpu'], // Dawn for Node: imported only when navigator.gpu is absent
    logLevel: 'silent',
  });
  const js = r.outputFiles[0].text;
  expect(js).not.toMatch(/from\s*["']node:|import\(["']node:|require\(["']node:/);
  expect(js).toContain('datasetFromArrays');
});
