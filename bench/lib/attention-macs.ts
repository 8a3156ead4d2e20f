// Multiply–adds of one forward pass of the attention benchmark's two layers, counted per query the
// way the kernels visit keys (src/tensor/ops/attention.ts), so the benchmark can print the speed-up
// that equal arithmetic efficiency would give. Backward costs about twice the forward for both
// layers (dQ, dK, dV; each projection's dX and dW), so the forward ratio is the fwd+bwd ratio.
//
// Why it matters: SAL has eight d×d projections over the sequence (Q/K/V of the window and selective
// branches, the block query, φ over the concatenated block) against dense attention's three, so at
// L = 200 its projections alone outweigh dense attention's score and value work.
//
// The attention-only counts (`*AttentionMacs`: key visits alone, every projection free) bound what any
// implementation of SAL with these sizes can gain over dense attention: 0.87× at L = 50, 2.07× at
// L = 200 and 4.52× at L = 800 (W 8, bs 8, k 4). A per-key cost below dense's contiguous scan is the
// only way past that bound, and SAL's gathered keys cost more per key, not less. So issue 3's
// targets (3× at L = 200, 6× at L = 800) lie above what the layer's arithmetic allows (see the note).

export interface AttentionShape {
  L: number;
  d: number;
  blockSize: number;
  topK: number;
  /** Window width (the paper's rule: 8 when the sequence is longer than 30 items, else 4). */
  window: number;
}

/** Keys dense causal attention visits over one sequence: every earlier position and itself. */
function denseKeys(L: number): number {
  return (L * (L + 1)) / 2;
}

/** Keys SAL's three branches visit over one sequence: window items, visible blocks, selected blocks' items. */
function salKeys({ L, blockSize: bs, topK: k, window: W }: AttentionShape): number {
  let keys = 0;
  for (let t = 0; t < L; t++) {
    const visible = Math.floor(t / bs); // blocks that end before t (SAL.explain's rule)
    keys += Math.min(t + 1, W) + visible + Math.min(k, visible) * bs;
  }
  return keys;
}

/** Dense causal attention's score and value work alone (q·k and p·v per visited key): MACs per sequence. */
export function denseAttentionMacs(s: AttentionShape): number {
  return 2 * s.d * denseKeys(s.L);
}

/** SAL's score and value work alone over its three branches: MACs per sequence. */
export function salAttentionMacs(s: AttentionShape): number {
  return 2 * s.d * salKeys(s);
}

/** Dense causal self-attention with Q/K/V projections, every position a query: MACs per sequence. */
export function denseMacs(s: AttentionShape): number {
  return 3 * s.L * s.d * s.d + denseAttentionMacs(s);
}

/** SAL (window, block, selective branches and the gate) over every position: MACs per sequence. */
export function salMacs(s: AttentionShape): number {
  const { L, d, blockSize: bs } = s;
  const nb = Math.ceil(L / bs);
  // Window Q/K/V, block query, selective Q/K/V: 7 projections of L rows; φ maps each block's bs·d
  // values to d (L·d·d in all); block K/V project the nb block embeddings.
  const proj = 7 * L * d * d + nb * bs * d * d + 2 * nb * d * d;
  const gate = L * (3 * d * 3 + 3 * d); // logits from [z_short; z_long; z_core], then the mix
  return proj + salAttentionMacs(s) + gate;
}
