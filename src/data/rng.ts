// Seeded randomness for the data layer (shuffles, synthetic data, held-out users). mulberry32 with an
// exposed state, so a checkpoint can store and restore where the stream was (issue 4 §3: resume must
// reproduce the loss curve).

export interface Rng {
  next(): number; // uniform in [0, 1)
  int(n: number): number; // uniform in 0..n-1
  normal(): number;
  state(): number;
  setState(s: number): void;
}

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    normal: () => {
      const u = Math.max(next(), 1e-12);
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    state: () => a,
    setState: (s) => {
      a = s >>> 0;
    },
  };
}

/** Fisher–Yates in place. */
export function shuffleInPlace<T>(arr: T[] | Int32Array, rng: Rng): void {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = arr[i];
    arr[i] = arr[j];
    arr[j] = t;
  }
}
