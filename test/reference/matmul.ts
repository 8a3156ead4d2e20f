// Float64 CPU reference for the matmul family: matmul (2-D, batched, broadcast operands), its
// gradients, and linear with bias and activation. Plain loops, no GPU code.
import { Nd } from './nd.ts';

/** Swap the last two axes (a contiguous copy). */
export function transposeNd(x: Nd): Nd {
  const r = x.shape.length;
  const rows = x.shape[r - 2];
  const cols = x.shape[r - 1];
  const batch = x.size / (rows * cols || 1);
  const out = new Float64Array(x.size);
  for (let z = 0; z < batch; z++) {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[z * rows * cols + j * rows + i] = x.data[z * rows * cols + i * cols + j];
  }
  const shape = [...x.shape];
  [shape[r - 2], shape[r - 1]] = [cols, rows];
  return new Nd(out, shape);
}

export function maxAbs(x: Nd): number {
  let m = 0;
  for (const v of x.data) m = Math.max(m, Math.abs(v));
  return m;
}

interface Dims {
  batch: number;
  M: number;
  K: number;
  N: number;
  /** Batch stride of each operand: 0 when it is rank 2 or has a batch of 1 (broadcast). */
  sa: number;
  sb: number;
  shape: number[];
}

function dims(a: Nd, b: Nd): Dims {
  const [M, K] = a.shape.slice(-2);
  const [K2, N] = b.shape.slice(-2);
  if (K !== K2) throw new Error(`matmulRef: inner dims ${K} vs ${K2}`);
  const ba = a.shape.length === 3 ? a.shape[0] : 1;
  const bb = b.shape.length === 3 ? b.shape[0] : 1;
  if (ba !== bb && ba !== 1 && bb !== 1) throw new Error('matmulRef: batch mismatch');
  const batch = Math.max(ba, bb);
  const shape = a.shape.length === 3 || b.shape.length === 3 ? [batch, M, N] : [M, N];
  return { batch, M, K, N, sa: ba === 1 ? 0 : M * K, sb: bb === 1 ? 0 : K * N, shape };
}

/** a: [M, K] | [B, M, K], b: [K, N] | [B, K, N]; an unbatched operand (or batch 1) is shared. */
export function matmulRef(a: Nd, b: Nd): Nd {
  const { batch, M, K, N, sa, sb, shape } = dims(a, b);
  const out = Nd.zeros(shape);
  for (let z = 0; z < batch; z++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a.data[z * sa + i * K + k] * b.data[z * sb + k * N + j];
        out.data[z * M * N + i * N + j] = s;
      }
    }
  }
  return out;
}

/** Gradients of Σ matmul(a, b)⊙g: dA = g·Bᵀ, dB = Aᵀ·g, each summed over the batches it was shared by. */
export function matmulGradRef(a: Nd, b: Nd, g: Nd): { ga: Nd; gb: Nd } {
  const { batch, M, K, N, sa, sb } = dims(a, b);
  const ga = Nd.zeros(a.shape);
  const gb = Nd.zeros(b.shape);
  for (let z = 0; z < batch; z++) {
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) {
        for (let j = 0; j < N; j++) {
          const gv = g.data[z * M * N + i * N + j];
          ga.data[z * sa + i * K + k] += gv * b.data[z * sb + k * N + j];
          gb.data[z * sb + k * N + j] += gv * a.data[z * sa + i * K + k];
        }
      }
    }
  }
  return { ga, gb };
}

export type ActRef = 'none' | 'relu' | 'sigmoid' | 'tanh';

const ACT: Record<ActRef, { f: (z: number) => number; dfy: (y: number) => number }> = {
  none: { f: (z) => z, dfy: () => 1 },
  relu: { f: (z) => Math.max(z, 0), dfy: (y) => (y > 0 ? 1 : 0) },
  sigmoid: { f: (z) => 1 / (1 + Math.exp(-z)), dfy: (y) => y * (1 - y) },
  tanh: { f: Math.tanh, dfy: (y) => 1 - y * y },
};

/**
 * y = act(x·w + bias) for x [..., K], w [K, N], bias [N] | null; with g (shaped like y) also the
 * gradients of Σ y⊙g. `pre` is the pre-activation x·w + bias.
 */
export function linearRef(x: Nd, w: Nd, bias: Nd | null, act: ActRef, g?: Nd): { out: Nd; pre: Nd; gx: Nd; gw: Nd; gb: Nd } {
  const K = x.shape[x.shape.length - 1];
  const [K2, N] = w.shape;
  if (K !== K2) throw new Error('linearRef: K mismatch');
  const rows = x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const shape = [...x.shape.slice(0, -1), N];
  const pre = Nd.zeros(shape);
  const out = Nd.zeros(shape);
  const { f, dfy } = ACT[act];
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < N; j++) {
      let s = bias ? bias.data[j] : 0;
      for (let k = 0; k < K; k++) s += x.data[r * K + k] * w.data[k * N + j];
      pre.data[r * N + j] = s;
      out.data[r * N + j] = f(s);
    }
  }
  const gx = Nd.zeros(x.shape);
  const gw = Nd.zeros(w.shape);
  const gb = Nd.zeros([N]);
  if (g) {
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < N; j++) {
        const dz = g.data[r * N + j] * dfy(out.data[r * N + j]);
        gb.data[j] += dz;
        for (let k = 0; k < K; k++) {
          gx.data[r * K + k] += dz * w.data[k * N + j];
          gw.data[k * N + j] += dz * x.data[r * K + k];
        }
      }
    }
  }
  return { out, pre, gx, gw, gb };
}
