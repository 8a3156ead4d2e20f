// Float64 CPU reference arrays: the ground truth every kernel is tested against.

export class Nd {
  constructor(readonly data: Float64Array, readonly shape: number[]) {
    if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`Nd: ${data.length} values for shape [${shape}]`);
  }
  get size(): number {
    return this.data.length;
  }
  static zeros(shape: number[]): Nd {
    return new Nd(new Float64Array(shape.reduce((a, b) => a * b, 1)), shape);
  }
  static from(data: ArrayLike<number>, shape: number[]): Nd {
    return new Nd(Float64Array.from(data), shape);
  }
  map(f: (v: number, i: number) => number): Nd {
    return new Nd(this.data.map(f), [...this.shape]);
  }
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Deterministic pseudo-random numbers (mulberry32), so every test is reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box–Muller) as float32-representable values, so GPU and CPU inputs match exactly. */
export function randn(shape: number[], seed: number, scale = 1): Nd {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    d[i] = Math.fround(scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
  }
  return new Nd(d, shape);
}

export function uniform(shape: number[], seed: number, lo: number, hi: number): Nd {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = Math.fround(lo + (hi - lo) * r());
  return new Nd(d, shape);
}

// ------------------------------------------------------------------------------------- elementwise

const C = Math.sqrt(2 / Math.PI);
export const unaryRef: Record<string, { f: (x: number, a: number, b: number) => number; df: (x: number, a: number, b: number) => number }> = {
  relu: { f: (x) => Math.max(x, 0), df: (x) => (x > 0 ? 1 : 0) },
  gelu: {
    f: (x) => 0.5 * x * (1 + Math.tanh(C * (x + 0.044715 * x ** 3))),
    df: (x) => {
      const t = Math.tanh(C * (x + 0.044715 * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * 0.044715 * x * x);
    },
  },
  sigmoid: { f: (x) => 1 / (1 + Math.exp(-x)), df: (x) => { const s = 1 / (1 + Math.exp(-x)); return s * (1 - s); } },
  tanh: { f: Math.tanh, df: (x) => 1 - Math.tanh(x) ** 2 },
  exp: { f: Math.exp, df: Math.exp },
  log: { f: Math.log, df: (x) => 1 / x },
  neg: { f: (x) => -x, df: () => -1 },
  sqrt: { f: Math.sqrt, df: (x) => 0.5 / Math.sqrt(x) },
  square: { f: (x) => x * x, df: (x) => 2 * x },
  abs: { f: Math.abs, df: (x) => Math.sign(x) },
  pow: { f: (x, a) => x ** a, df: (x, a) => a * x ** (a - 1) },
  affine: { f: (x, a, b) => a * x + b, df: (_x, a) => a },
};

export function broadcastShapeRef(a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error('no broadcast');
    out.push(Math.max(da, db));
  }
  return out;
}

/** Index of `t` (shape padded to out rank) for output multi-index `idx`. */
function bIndex(shape: number[], idx: number[]): number {
  const off = idx.length - shape.length;
  let i = 0;
  for (let k = 0; k < shape.length; k++) i = i * shape[k] + (shape[k] === 1 ? 0 : idx[off + k]);
  return i;
}

export function forEachIndex(shape: number[], f: (idx: number[], flat: number) => void): void {
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = new Array(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    let r = flat;
    for (let k = shape.length - 1; k >= 0; k--) {
      idx[k] = r % shape[k];
      r = Math.floor(r / shape[k]);
    }
    f(idx, flat);
  }
}

const BIN: Record<string, { f: (u: number, v: number) => number; da: (u: number, v: number) => number; db: (u: number, v: number) => number }> = {
  add: { f: (u, v) => u + v, da: () => 1, db: () => 1 },
  sub: { f: (u, v) => u - v, da: () => 1, db: () => -1 },
  mul: { f: (u, v) => u * v, da: (_u, v) => v, db: (u) => u },
  div: { f: (u, v) => u / v, da: (_u, v) => 1 / v, db: (u, v) => -u / (v * v) },
  maximum: { f: Math.max, da: (u, v) => (u >= v ? 1 : 0), db: (u, v) => (u >= v ? 0 : 1) },
  minimum: { f: Math.min, da: (u, v) => (u <= v ? 1 : 0), db: (u, v) => (u <= v ? 0 : 1) },
};

/** Forward and gradients of a broadcasting binary op, given the output gradient g. */
export function binaryRef(op: string, a: Nd, b: Nd, g?: Nd): { out: Nd; ga: Nd; gb: Nd } {
  const shape = broadcastShapeRef(a.shape, b.shape);
  const out = Nd.zeros(shape);
  const ga = Nd.zeros(a.shape);
  const gb = Nd.zeros(b.shape);
  const o = BIN[op];
  forEachIndex(shape, (idx, flat) => {
    const ia = bIndex(a.shape, idx);
    const ib = bIndex(b.shape, idx);
    const u = a.data[ia];
    const v = b.data[ib];
    out.data[flat] = o.f(u, v);
    if (g) {
      ga.data[ia] += g.data[flat] * o.da(u, v);
      gb.data[ib] += g.data[flat] * o.db(u, v);
    }
  });
  return { out, ga, gb };
}
