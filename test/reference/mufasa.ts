// Float64 CPU reference of the whole MUFASA model (src/model/{mfl,sal,mufasa}.ts): MFL forward and its
// four losses (eq. 1–5), SAL's three branches and gate (eq. 6–12), the user–item loss, gradients of
// every parameter, and Adam steps — the ground truth of the golden end-to-end test
// (test/model/golden.test.ts; DESIGN.md §7, llm.c test_gpt2.c).
//
// Structure: a tiny reverse-mode tape over Nd values whose every op's forward and backward is one of
// the per-op references already checked against the kernels (linearRef, softmaxRef, attentionRef,
// infoNCERef, consistencyRef, mseRef, gather/concat/slice refs, unaryRef/binaryRef). Only the
// composition is new here, and it is written top-down like the model files so the two can be read side
// by side. The randomness is replayed from the same Philox stream: L_cons pairs by samplePairsRef
// (integer-exact) and the L_fus-cl noise by Box–Muller in float64 on the stream words (randNormalRef).

import { Nd, unaryRef, binaryRef } from './nd.ts';
import { linearRef } from './matmul.ts';
import { softmaxRef } from './softmax.ts';
import { gatherRowsRef, scatterRowsRef, concatRef, sliceRef, unsliceRef, streamWords } from './gather.ts';
import { attentionRef, selectBlocksRef, queryPos } from './attention.ts';
import type { AttnMode } from './attention.ts';
import { infoNCERef } from './infonce.ts';
import type { InfoNCERefOpts } from './infonce.ts';
import { mseRef, consistencyRef, samplePairsRef } from './losses.ts';

// ------------------------------------------------------------------------------------------ tape

export class Var {
  grad: Nd | null = null;
  constructor(
    readonly value: Nd,
    /** Leaves that are parameters carry their name (the GPU model's tensor name). */
    readonly name?: string,
  ) {}
  get shape(): number[] {
    return this.value.shape;
  }
}

function accumulate(v: Var, g: Nd): void {
  if (!v.grad) v.grad = Nd.zeros([...v.value.shape]);
  const a = v.grad.data;
  if (g.size !== a.length) throw new Error(`reference tape: gradient of size ${g.size} for a value of shape [${v.value.shape}]`);
  for (let i = 0; i < a.length; i++) a[i] += g.data[i];
}

/** Records the backward closures of every op in creation order; `backward` runs them in reverse. */
export class Tape {
  private readonly nodes: { out: Var; back: (g: Nd) => void }[] = [];

  private node(value: Nd, back: (g: Nd) => void): Var {
    const out = new Var(value);
    this.nodes.push({ out, back });
    return out;
  }

  backward(root: Var): void {
    if (root.value.size !== 1) throw new Error(`reference tape: backward from a non-scalar [${root.value.shape}]`);
    root.grad = Nd.from([1], root.value.shape);
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      if (n.out.grad) n.back(n.out.grad);
    }
  }

  // --- layout
  reshape(x: Var, shape: number[]): Var {
    return this.node(new Nd(x.value.data, shape), (g) => accumulate(x, new Nd(g.data, [...x.shape])));
  }
  concat(xs: Var[], axis: number): Var {
    const ax = axis < 0 ? xs[0].shape.length + axis : axis;
    return this.node(concatRef(xs.map((x) => x.value), ax), (g) => {
      let at = 0;
      for (const x of xs) {
        accumulate(x, sliceRef(g, ax, at, at + x.shape[ax]));
        at += x.shape[ax];
      }
    });
  }
  slice(x: Var, axis: number, start: number, end: number): Var {
    return this.node(sliceRef(x.value, axis, start, end), (g) => accumulate(x, unsliceRef(g, [...x.shape], axis, start)));
  }
  /** Rows idx of a [V, D] table; indices outside [0, V) give zero rows (the padding item). */
  gather(table: Var, idx: ArrayLike<number>): Var {
    const V = table.shape[0];
    return this.node(gatherRowsRef(table.value, idx, [idx.length]), (g) => accumulate(table, scatterRowsRef(g, idx, V)));
  }

  // --- elementwise
  binary(op: 'add' | 'sub' | 'mul', a: Var, b: Var): Var {
    return this.node(binaryRef(op, a.value, b.value).out, (g) => {
      const r = binaryRef(op, a.value, b.value, g);
      accumulate(a, r.ga);
      accumulate(b, r.gb);
    });
  }
  add(a: Var, b: Var): Var {
    return this.binary('add', a, b);
  }
  unary(op: 'tanh' | 'gelu', x: Var): Var {
    const f = unaryRef[op];
    return this.node(
      x.value.map((v) => f.f(v, 0, 0)),
      (g) => accumulate(x, x.value.map((v, i) => g.data[i] * f.df(v, 0, 0))),
    );
  }
  affine(x: Var, a: number, b: number): Var {
    return this.node(
      x.value.map((v) => a * v + b),
      (g) => accumulate(x, g.map((v) => a * v)),
    );
  }

  // --- dense
  linear(x: Var, w: Var, b: Var | null = null): Var {
    return this.node(linearRef(x.value, w.value, b?.value ?? null, 'none').out, (g) => {
      const r = linearRef(x.value, w.value, b?.value ?? null, 'none', g);
      accumulate(x, r.gx);
      accumulate(w, r.gw);
      if (b) accumulate(b, r.gb);
    });
  }
  softmax(x: Var): Var {
    return this.node(softmaxRef(x.value, false).out, (g) => accumulate(x, softmaxRef(x.value, false, g).grad));
  }
  /** Sum over one axis (dropped). */
  sumAxis(x: Var, axis: number): Var {
    const shape = x.shape;
    const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const n = shape[axis];
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const out = Nd.zeros([...shape.slice(0, axis), ...shape.slice(axis + 1)]);
    for (let o = 0; o < outer; o++) for (let k = 0; k < n; k++) for (let i = 0; i < inner; i++) out.data[o * inner + i] += x.value.data[(o * n + k) * inner + i];
    return this.node(out, (g) => {
      const gx = Nd.zeros([...shape]);
      for (let o = 0; o < outer; o++) for (let k = 0; k < n; k++) for (let i = 0; i < inner; i++) gx.data[(o * n + k) * inner + i] = g.data[o * inner + i];
      accumulate(x, gx);
    });
  }
  mean(x: Var): Var {
    const n = x.value.size;
    let s = 0;
    for (const v of x.value.data) s += v;
    return this.node(Nd.from([s / n], [1]), (g) => accumulate(x, x.value.map(() => g.data[0] / n)));
  }

  // --- MUFASA ops
  attention(mode: AttnMode, q: Var, k: Var, v: Var, lengths: number[]): Var {
    return this.node(attentionRef(mode, q.value, k.value, v.value, lengths, false).out, (g) => {
      const r = attentionRef(mode, q.value, k.value, v.value, lengths, false, g);
      accumulate(q, r.gq);
      accumulate(k, r.gk);
      accumulate(v, r.gv);
    });
  }
  /** Per-row InfoNCE [N]; `noise` (a constant [M, d]) is added to the candidates, no gradient through it. */
  infoNCE(a: Var, c: Var, o: InfoNCERefOpts, noise?: Nd): Var {
    const cv = noise ? binaryRef('add', c.value, noise).out : c.value;
    return this.node(infoNCERef(a.value, cv, o).loss, (g) => {
      const r = infoNCERef(a.value, cv, o, g);
      accumulate(a, r.da);
      accumulate(c, r.dc);
    });
  }
  mse(z: Var, c: Var): Var {
    return this.node(Nd.from([mseRef(z.value, c.value).loss], [1]), (g) => {
      const r = mseRef(z.value, c.value, g.data[0]);
      accumulate(z, r.gz);
      accumulate(c, r.gc);
    });
  }
  consistency(z: Var, t: Var, pairs: Int32Array): Var {
    return this.node(Nd.from([consistencyRef(z.value, t.value, pairs).loss], [1]), (g) => {
      const r = consistencyRef(z.value, t.value, pairs, 1e-8, g.data[0]);
      accumulate(z, r.gz);
      accumulate(t, r.gt);
    });
  }
}

// ------------------------------------------------------------------------------------- randomness

/**
 * The engine's randNormal stream (shaders/rng.wgsl) in float64: element e pairs stream words
 * (e − e mod 2, +1) → u1 = ((w0 >> 8) + 1)/2^24, θ = 2π(w1 >> 8)/2^24, r = √(−2 ln u1); r·cos θ for
 * even e, r·sin θ for odd e.
 */
export function randNormalRef(seed: number, offset: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const e = offset + i;
    const [w0, w1] = streamWords(seed, e - (e % 2), 2);
    const r = Math.sqrt(-2 * Math.log(((w0 >>> 8) + 1) / 16777216));
    const th = (2 * Math.PI * (w1 >>> 8)) / 16777216;
    out[i] = e % 2 === 0 ? r * Math.cos(th) : r * Math.sin(th);
  }
  return out;
}

// ------------------------------------------------------------------------------------------ model

/** Mirrors MufasaConfig with the fields the forward uses. */
export interface MufasaRefConfig {
  dim: number;
  weights: { title: number; cf: number; cons: number; fusCl: number };
  mflTemperature: number;
  sigma: number;
  consPairs: number;
  blockSize: number;
  topK: number;
  window: number | 'paper';
  useIdEmbedding: boolean;
  userItemLoss: 'inBatch' | 'catalog';
  temperature: number;
  /** The user–item score (MufasaConfig.score); default 'cosine'. */
  score?: 'cosine' | 'dot';
}

export interface MufasaRefData {
  /** Per modality: values [I, d_m] and present (1/0) [I]. */
  modalities: { values: Nd; present: Float64Array }[];
  /** Raw title vectors [I, titleDim] (rows of untitled items are never used). */
  titles: Nd;
  titled: Set<number>;
  /** CF embeddings c_i [I, d]. */
  cf: Nd;
  numItems: number;
}

export interface SeqBatchRef {
  items: Int32Array;
  lengths: Int32Array;
  batch: number;
  maxLen: number;
}

/** Everything the golden test compares, plus the loss and the gradients. */
export interface MufasaRefResult {
  tape: Tape;
  params: Map<string, Var>;
  /** z for every item [I, d] (MFL + ID embedding). */
  z: Var;
  short: Var;
  long: Var;
  core: Var;
  gate: Var;
  user: Var;
  /** Top-k blocks per query [B, L, k] as selectBlocks returns them. */
  selected: Int32Array;
  /** Smallest gap between the k-th and (k+1)-th block score over all queries (Infinity if none has more than k blocks). */
  selectionMargin: number;
  userItem: Var;
  mfl: { total: Var; title: Var | null; cf: Var | null; cons: Var | null; fusCl: Var | null };
  total: Var;
}

const MASKED = -1e4;

function mflForward(T: Tape, P: Map<string, Var>, cfg: MufasaRefConfig, data: MufasaRefData, names: string[], items: number[]): Var {
  const n = items.length;
  const d = cfg.dim;
  const tokens: Var[] = [];
  const masks: Var[] = [];
  data.modalities.forEach((m, i) => {
    const x = T.gather(new Var(m.values), items);
    const tok = T.add(T.linear(x, P.get(`mfl.proj.${names[i]}`)!, P.get(`mfl.proj.${names[i]}.bias`)!), T.slice(P.get('mfl.type')!, 0, i, i + 1));
    tokens.push(T.reshape(tok, [n, 1, d]));
    masks.push(new Var(Nd.from(items.map((it) => m.present[it]), [n, 1])));
  });
  const M = tokens.length;
  const toks = T.concat(tokens, 1);
  const present = T.concat(masks, 1);
  const logits = T.add(T.reshape(T.linear(T.unary('tanh', toks), P.get('mfl.pool')!), [n, M]), T.affine(present, -MASKED, MASKED));
  const alpha = T.reshape(T.softmax(logits), [n, M, 1]);
  const pooled = T.sumAxis(T.binary('mul', toks, alpha), 1);
  const hidden = T.linear(T.unary('gelu', T.linear(pooled, P.get('mfl.mlp1')!, P.get('mfl.mlp1.bias')!)), P.get('mfl.mlp2')!, P.get('mfl.mlp2.bias')!);
  return T.add(pooled, hidden);
}

function mflLosses(T: Tape, P: Map<string, Var>, cfg: MufasaRefConfig, data: MufasaRefData, z: Var, items: number[], seed: number): MufasaRefResult['mfl'] {
  const w = cfg.weights;
  const tau = cfg.mflTemperature;
  const out: MufasaRefResult['mfl'] = { total: null as unknown as Var, title: null, cf: null, cons: null, fusCl: null };
  const terms: Var[] = [];
  // As the trainer feeds MFL.losses: titled rows only (when at least two), ids = the item ids.
  const rows = items.map((it, r) => (data.titled.has(it) ? r : -1)).filter((r) => r >= 0);
  if ((w.title > 0 || w.cons > 0) && rows.length >= 2) {
    const ids = rows.map((r) => items[r]);
    const zt = T.gather(z, rows);
    const tt = new Var(gatherRowsRef(data.titles, ids, [ids.length]));
    if (w.title > 0) {
      out.title = T.mean(T.infoNCE(zt, T.linear(tt, P.get('mfl.titleHead')!), { tau, cosine: true, aIds: ids, cIds: ids }));
      terms.push(T.affine(out.title, w.title, 0));
    }
    if (w.cons > 0) {
      const pairs = samplePairsRef(rows.length, cfg.consPairs || rows.length, seed);
      out.cons = T.consistency(zt, tt, pairs);
      terms.push(T.affine(out.cons, w.cons, 0));
    }
  }
  if (w.cf > 0) {
    out.cf = T.mse(z, new Var(gatherRowsRef(data.cf, items, [items.length])));
    terms.push(T.affine(out.cf, w.cf, 0));
  }
  if (w.fusCl > 0) {
    const [n, d] = z.shape;
    const noise = new Nd(randNormalRef(seed + 1, 0, n * d).map((e) => cfg.sigma * e), [n, d]);
    out.fusCl = T.mean(T.infoNCE(z, z, { tau, cosine: true, aIds: items, cIds: items }, noise));
    terms.push(T.affine(out.fusCl, w.fusCl, 0));
  }
  out.total = terms.reduce((a, b) => T.add(a, b));
  return out;
}

/** Smallest gap between the k-th and (k+1)-th best visible block score q·kb over all queries. */
function selectionMargin(q: Nd, kb: Nd, lengths: number[], bs: number, k: number): number {
  const [B, L, d] = q.shape;
  const nb = kb.shape[1];
  let margin = Infinity;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < L; t++) {
      if (queryPos(lengths[b], t, false) < 0) continue;
      const nvis = Math.min(Math.floor(t / bs), nb);
      if (nvis <= k) continue;
      const s: number[] = [];
      for (let c = 0; c < nvis; c++) {
        let acc = 0;
        for (let x = 0; x < d; x++) acc += q.data[(b * L + t) * d + x] * kb.data[(b * nb + c) * d + x];
        s.push(acc);
      }
      s.sort((x, y) => y - x);
      margin = Math.min(margin, s[k - 1] - s[k]);
    }
  }
  return margin;
}

function salForward(T: Tape, P: Map<string, Var>, cfg: MufasaRefConfig, h: Var, lengths: number[]) {
  const [B, L, d] = h.shape;
  const bs = cfg.blockSize;
  const p = (n: string) => P.get(n)!;
  // z_short: the W most recent items up to t; W per sequence by the paper's rule, mixed as SAL does.
  const q = T.linear(h, p('sal.window.q'));
  const k = T.linear(h, p('sal.window.k'));
  const v = T.linear(h, p('sal.window.v'));
  let short: Var;
  if (cfg.window !== 'paper') short = T.attention({ kind: 'causal', window: cfg.window }, q, k, v, lengths);
  else {
    const long = lengths.map((n) => (n > 30 ? 1 : 0));
    const z4 = T.attention({ kind: 'causal', window: 4 }, q, k, v, lengths);
    const z8 = T.attention({ kind: 'causal', window: 8 }, q, k, v, lengths);
    short = T.add(z4, T.binary('mul', new Var(Nd.from(long, [B, 1, 1])), T.binary('sub', z8, z4)));
  }
  // φ: the concatenated items of each block (the last zero-padded) → d.
  const nb = Math.ceil(L / bs);
  const padded = nb * bs === L ? h : T.concat([h, new Var(Nd.zeros([B, nb * bs - L, d]))], 1);
  const blocks = T.linear(T.reshape(padded, [B, nb, bs * d]), p('sal.phi'), p('sal.phi.bias'));
  const qb = T.linear(h, p('sal.block.q'));
  const kb = T.linear(blocks, p('sal.block.k'));
  const long = T.attention({ kind: 'block', bs }, qb, kb, T.linear(blocks, p('sal.block.v')), lengths);
  const selected = selectBlocksRef(qb.value, kb.value, lengths, bs, cfg.topK, false);
  const margin = selectionMargin(qb.value, kb.value, lengths, bs, cfg.topK);
  const core = T.attention(
    { kind: 'selective', bs, sel: selected, ksel: cfg.topK },
    T.linear(h, p('sal.core.q')),
    T.linear(h, p('sal.core.k')),
    T.linear(h, p('sal.core.v')),
    lengths,
  );
  const all = T.concat([short, long, core], -1);
  const gate = T.softmax(T.linear(all, p('sal.gate'), p('sal.gate.bias')));
  const user = T.sumAxis(T.binary('mul', T.reshape(all, [B, L, 3, d]), T.reshape(gate, [B, L, 3, 1])), 2);
  return { short, long, core, gate, user, selected, margin };
}

/**
 * The golden objective: the trainer's SAL-stage step with MFL fine-tuned (src/train/trainer.ts),
 *   L = L_ui(z, batch) + mflAuxWeight · L_MFL(batch items, seed)
 * with z = MFL(all items) (+ ID embedding) and L_MFL over the batch's distinct items in order of first
 * appearance. `params` are the parameter values by name (float64 copies of the GPU model's); with
 * `backward` (default) every parameter Var holds its gradient.
 */
export function mufasaRef(
  cfg: MufasaRefConfig,
  params: Map<string, Nd>,
  modalityNames: string[],
  data: MufasaRefData,
  batch: SeqBatchRef,
  opts: { mflAuxWeight: number; seed: number; backward?: boolean },
): MufasaRefResult {
  const T = new Tape();
  const P = new Map<string, Var>();
  for (const [name, v] of params) P.set(name, new Var(v, name));
  const I = data.numItems;
  const d = cfg.dim;
  const all = Array.from({ length: I }, (_, i) => i);
  let z = mflForward(T, P, cfg, data, modalityNames, all);
  if (cfg.useIdEmbedding) z = T.add(z, P.get('item.id')!);

  const { batch: B, maxLen: L, items, lengths } = batch;
  const lens = Array.from(lengths);
  const h = T.reshape(T.gather(z, items), [B, L, d]); // pad id = I → zero row
  const sal = salForward(T, P, cfg, h, lens);

  const rows: number[] = [];
  const targets: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < lengths[b]; t++) {
      rows.push(b * L + t);
      targets.push(items[b * L + t + 1]);
    }
  }
  const uRows = T.gather(T.reshape(sal.user, [B * L, d]), rows);
  const cosine = (cfg.score ?? 'cosine') === 'cosine';
  const userItem =
    cfg.userItemLoss === 'catalog'
      ? T.mean(T.infoNCE(uRows, z, { tau: cfg.temperature, cosine, pos: targets }))
      : T.mean(T.infoNCE(uRows, T.gather(z, targets), { tau: cfg.temperature, cosine, aIds: targets, cIds: targets }));

  const batchItems = [...new Set(Array.from(items).filter((x) => x < I))];
  const zb = mflForward(T, P, cfg, data, modalityNames, batchItems);
  const mfl = mflLosses(T, P, cfg, data, zb, batchItems, opts.seed);
  const total = T.add(userItem, T.affine(mfl.total, opts.mflAuxWeight, 0));
  if (opts.backward ?? true) T.backward(total);
  const { short, long, core, gate, user, selected, margin } = sal;
  return { tape: T, params: P, z, short, long, core, gate, user, selected, selectionMargin: margin, userItem, mfl, total };
}
