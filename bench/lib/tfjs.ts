// TensorFlow.js's WebGPU backend on *our* GPUDevice, so that both sides of a comparison run on the same
// Dawn adapter with the same limits.
//
// tfjs-backend-webgpu 4.22 checks `navigator.gpu` when its module loads (webgpu_util.isWebGPUSupported)
// and registers a 'webgpu' backend factory that would open its own adapter. We set a navigator shim
// first, then replace that factory with one returning `new WebGPUBackend(ourDevice)`; the kernels are
// registered under the backend name 'webgpu', so the name must stay 'webgpu' (a backend registered as
// 'webgpu-ours' has no BatchMatMul kernel).
//
// Waiting: tfjs batches dispatches into its own command encoder and submits every 15 dispatches or on
// readback. To time only the GPU work (not a readback of M×N floats) we submit its pending encoder
// (`endComputePassEncoder` + `submitQueue`, what its own readback path does; internal but
// stable across 4.x) and wait on the queue with the same sleep-polling
// gpuWait our stream uses, so both sides pay the same wait cost.

import { createRequire } from 'node:module';
import type { Engine } from '../../src/gpu/engine.ts';
import { gpuWait } from '../../src/gpu/stream.ts';

type TfCore = typeof import('@tensorflow/tfjs-core');
type TfTensor = import('@tensorflow/tfjs-core').Tensor;

interface WebGPUBackendLike {
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

export interface TfjsHandle {
  tf: TfCore;
  version: string;
  backend: WebGPUBackendLike;
  /** Upload A [M,K] and B [K,N]; returns the timed step (matMul + submit + wait) and a checker. */
  prepareMatmul(a: Float32Array, b: Float32Array, M: number, N: number, K: number): TfjsMatmul;
}

export interface TfjsMatmul {
  run(): Promise<void>;
  /** One product read back to the CPU (for the correctness check). */
  result(): Promise<Float32Array>;
  dispose(): void;
}

export async function loadTfjs(e: Engine): Promise<TfjsHandle> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  // Node 20 has no navigator; Node ≥ 21 has one without `gpu`.
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  if (!g.navigator!.gpu) Object.defineProperty(g.navigator!, 'gpu', { value: e.gpu.keepAlive ?? {}, configurable: true });
  const tf = await import('@tensorflow/tfjs-core');
  const mod = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as {
    WebGPUBackend: new (device: GPUDevice, info?: GPUAdapterInfo) => WebGPUBackendLike;
  };
  const backend = new mod.WebGPUBackend(e.device);
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => backend as never, 100);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") failed on our device');
  await tf.ready();
  const version = (createRequire(import.meta.url)('@tensorflow/tfjs-backend-webgpu/package.json') as { version: string }).version;
  const wait = async () => {
    if (backend.commandEncoder) {
      backend.endComputePassEncoder();
      backend.submitQueue();
    }
    await gpuWait(e.device.queue.onSubmittedWorkDone());
  };
  return {
    tf,
    version,
    backend,
    prepareMatmul(a, b, M, N, K) {
      const ta: TfTensor = tf.tensor2d(a, [M, K]);
      const tb: TfTensor = tf.tensor2d(b, [K, N]);
      return {
        async run() {
          const c = tf.matMul(ta, tb);
          await wait();
          c.dispose();
        },
        async result() {
          const c = tf.matMul(ta, tb);
          const d = (await c.data()) as Float32Array;
          c.dispose();
          return d;
        },
        dispose() {
          ta.dispose();
          tb.dispose();
        },
      };
    },
  };
}
