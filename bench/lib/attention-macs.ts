// Multiply–adds of one forward pass of the attention benchmark's two layers, counted per query the
// way the kernels visit keys (src/tensor/ops/attention.ts), so the benchmark can print the speed-up
// that equal arithmetic efficiency would give. Backward costs about twice the forward for both
// layers (dQ, dK, dV; each projection's dX and dW), so the forward ratio is the fwd+bwd ratio.
//
// Why it matters: SAL has eight d×d projections over the sequence (Q/K/V of the window and selective
// branches, the block query, φ over the concatenated block) against dense attention's three, so at
// L = 200 its projections alone outweigh dense attention's score and value work. The 3×
// (L = 200) target needs SAL to run ~5× more efficiently per multiply–add than dense; see the note.

export interface AttentionShape {
  L: number;
  d: number;
  blockSize: number;
  topK: number;
  /** Window width (the paper's rule: 8 when the sequence is longer than 30 items, else 4). */
  window: number;
}

/** Dense causal self-attention with Q/K/V projections, every position a query: MACs per sequence. */
export function denseMacs({ L, d }: AttentionShape): number {
  let keys = 0;
  for (let t = 0; t < L; t++) keys += t + 1;
  return 3 * L * d * d + 2 * d * keys; // projections + (q·k and p·v) per visited key
}

/** SAL (window, block, selective branches and the gate) over every position: MACs per sequence. */
export function salMacs({ L, d, blockSize: bs, topK: k, window: W }: AttentionShape): number {
  const nb = Math.ceil(L / bs);
  // Window Q/K/V, block query, selective Q/K/V: 7 projections of L rows; φ maps each block's bs·d
  // values to d (L·d·d in all); block K/V project the nb block embeddings.
  const proj = 7 * L * d * d + nb * bs * d * d + 2 * nb * d * d;
  let keys = 0;
  for (let t = 0; t < L; t++) {
    const visible = Math.floor(t / bs); // blocks that end before t (SAL.explain's rule)
    keys += Math.min(t + 1, W) + visible + Math.min(k, visible) * bs;
  }
  const gate = L * (3 * d * 3 + 3 * d); // logits from [z_short; z_long; z_core], then the mix
  return proj + 2 * d * keys + gate;
}
