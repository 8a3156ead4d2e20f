// Lab v2: register blocking without workgroup memory. Each invocation accumulates a TM×TN block of C
// (TM ∈ {4, 8} rows, TN ∈ {4, 8} columns) in registers, so every A value it loads is used TN times and
// every B value TM times; k advances four at a time (a written-out 4-deep step, then a 1-deep tail).
//
// Written out by hand rather than as loops over function-scope arrays: SwiftShader's Subzero JIT keeps
// `var acc: array<f32, 64>` in memory (the loop version, v2_loops.wgsl, ran 0.1–0.4 GFLOP/s on
// SwiftShader here, tfjs's speed, against 1.4–3.3 for this one). Blocks beyond TM/TN sit behind
// `if (TM > 4u)`-style tests on override constants, which fold away when the pipeline is built.
// All loads are scalar (any N, K); v3 is the same with vec4 loads.
//
// INTERLEAVE spreads an invocation's columns WGX apart instead of side by side: the CPU adapters run
// invocations as SIMD lanes (4 on SwiftShader, 8 on llvmpipe), and lanes reading consecutive
// addresses can be served by one vector load instead of a gather.
// Edge tiles clamp their load indices (no branches in the k loop) and mask only the stores.

override WGX: u32 = 8;
override WGY: u32 = 8;
override TM: u32 = 8;
override TN: u32 = 8;
override INTERLEAVE: bool = true;

struct Params { M: u32, N: u32, K: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

fn col_of(wg: u32, lx: u32, j: u32) -> u32 {
  if (INTERLEAVE) { return wg * WGX * TN + j * WGX + lx; }
  return (wg * WGX + lx) * TN + j;
}

fn store4(row: u32, wg: u32, lx: u32, j0: u32, v: vec4f) {
  if (row >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let col = col_of(wg, lx, j0 + j);
    if (col < p.N) { c[row * p.N + col] = v[j]; }
  }
}

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wid.y * WGY + lid.y) * TM;
  let lastRow = p.M - 1u;
  let lastCol = p.N - 1u;
  let ar0 = min(row0 + 0u, lastRow) * p.K;
  let ar1 = min(row0 + 1u, lastRow) * p.K;
  let ar2 = min(row0 + 2u, lastRow) * p.K;
  let ar3 = min(row0 + 3u, lastRow) * p.K;
  let ar4 = min(row0 + 4u, lastRow) * p.K;
  let ar5 = min(row0 + 5u, lastRow) * p.K;
  let ar6 = min(row0 + 6u, lastRow) * p.K;
  let ar7 = min(row0 + 7u, lastRow) * p.K;
  let bc0 = min(col_of(wid.x, lid.x, 0u), lastCol);
  let bc1 = min(col_of(wid.x, lid.x, 1u), lastCol);
  let bc2 = min(col_of(wid.x, lid.x, 2u), lastCol);
  let bc3 = min(col_of(wid.x, lid.x, 3u), lastCol);
  let bc4 = min(col_of(wid.x, lid.x, 4u), lastCol);
  let bc5 = min(col_of(wid.x, lid.x, 5u), lastCol);
  let bc6 = min(col_of(wid.x, lid.x, 6u), lastCol);
  let bc7 = min(col_of(wid.x, lid.x, 7u), lastCol);
  var c00 = vec4f(0.0); var c01 = vec4f(0.0);
  var c10 = vec4f(0.0); var c11 = vec4f(0.0);
  var c20 = vec4f(0.0); var c21 = vec4f(0.0);
  var c30 = vec4f(0.0); var c31 = vec4f(0.0);
  var c40 = vec4f(0.0); var c41 = vec4f(0.0);
  var c50 = vec4f(0.0); var c51 = vec4f(0.0);
  var c60 = vec4f(0.0); var c61 = vec4f(0.0);
  var c70 = vec4f(0.0); var c71 = vec4f(0.0);
  let K4 = p.K & ~3u;
  for (var k0 = 0u; k0 < K4; k0 += 4u) {
    {
      let k = k0 + 0u;
      let kn = k * p.N;
      let b0 = vec4f(b[kn + bc0], b[kn + bc1], b[kn + bc2], b[kn + bc3]);
      var b1 = vec4f(0.0);
      if (TN > 4u) { b1 = vec4f(b[kn + bc4], b[kn + bc5], b[kn + bc6], b[kn + bc7]); }
      let a0 = vec4f(a[ar0 + k]);
      c00 = fma(a0, b0, c00);
      if (TN > 4u) { c01 = fma(a0, b1, c01); }
      let a1 = vec4f(a[ar1 + k]);
      c10 = fma(a1, b0, c10);
      if (TN > 4u) { c11 = fma(a1, b1, c11); }
      let a2 = vec4f(a[ar2 + k]);
      c20 = fma(a2, b0, c20);
      if (TN > 4u) { c21 = fma(a2, b1, c21); }
      let a3 = vec4f(a[ar3 + k]);
      c30 = fma(a3, b0, c30);
      if (TN > 4u) { c31 = fma(a3, b1, c31); }
      if (TM > 4u) {
        let a4 = vec4f(a[ar4 + k]);
        c40 = fma(a4, b0, c40);
        if (TN > 4u) { c41 = fma(a4, b1, c41); }
        let a5 = vec4f(a[ar5 + k]);
        c50 = fma(a5, b0, c50);
        if (TN > 4u) { c51 = fma(a5, b1, c51); }
        let a6 = vec4f(a[ar6 + k]);
        c60 = fma(a6, b0, c60);
        if (TN > 4u) { c61 = fma(a6, b1, c61); }
        let a7 = vec4f(a[ar7 + k]);
        c70 = fma(a7, b0, c70);
        if (TN > 4u) { c71 = fma(a7, b1, c71); }
      }
    }
    {
      let k = k0 + 1u;
      let kn = k * p.N;
      let b0 = vec4f(b[kn + bc0], b[kn + bc1], b[kn + bc2], b[kn + bc3]);
      var b1 = vec4f(0.0);
      if (TN > 4u) { b1 = vec4f(b[kn + bc4], b[kn + bc5], b[kn + bc6], b[kn + bc7]); }
      let a0 = vec4f(a[ar0 + k]);
      c00 = fma(a0, b0, c00);
      if (TN > 4u) { c01 = fma(a0, b1, c01); }
      let a1 = vec4f(a[ar1 + k]);
      c10 = fma(a1, b0, c10);
      if (TN > 4u) { c11 = fma(a1, b1, c11); }
      let a2 = vec4f(a[ar2 + k]);
      c20 = fma(a2, b0, c20);
      if (TN > 4u) { c21 = fma(a2, b1, c21); }
      let a3 = vec4f(a[ar3 + k]);
      c30 = fma(a3, b0, c30);
      if (TN > 4u) { c31 = fma(a3, b1, c31); }
      if (TM > 4u) {
        let a4 = vec4f(a[ar4 + k]);
        c40 = fma(a4, b0, c40);
        if (TN > 4u) { c41 = fma(a4, b1, c41); }
        let a5 = vec4f(a[ar5 + k]);
        c50 = fma(a5, b0, c50);
        if (TN > 4u) { c51 = fma(a5, b1, c51); }
        let a6 = vec4f(a[ar6 + k]);
        c60 = fma(a6, b0, c60);
        if (TN > 4u) { c61 = fma(a6, b1, c61); }
        let a7 = vec4f(a[ar7 + k]);
        c70 = fma(a7, b0, c70);
        if (TN > 4u) { c71 = fma(a7, b1, c71); }
      }
    }
    {
      let k = k0 + 2u;
      let kn = k * p.N;
      let b0 = vec4f(b[kn + bc0], b[kn + bc1], b[kn + bc2], b[kn + bc3]);
      var b1 = vec4f(0.0);
      if (TN > 4u) { b1 = vec4f(b[kn + bc4], b[kn + bc5], b[kn + bc6], b[kn + bc7]); }
      let a0 = vec4f(a[ar0 + k]);
      c00 = fma(a0, b0, c00);
      if (TN > 4u) { c01 = fma(a0, b1, c01); }
      let a1 = vec4f(a[ar1 + k]);
      c10 = fma(a1, b0, c10);
      if (TN > 4u) { c11 = fma(a1, b1, c11); }
      let a2 = vec4f(a[ar2 + k]);
      c20 = fma(a2, b0, c20);
      if (TN > 4u) { c21 = fma(a2, b1, c21); }
      let a3 = vec4f(a[ar3 + k]);
      c30 = fma(a3, b0, c30);
      if (TN > 4u) { c31 = fma(a3, b1, c31); }
      if (TM > 4u) {
        let a4 = vec4f(a[ar4 + k]);
        c40 = fma(a4, b0, c40);
        if (TN > 4u) { c41 = fma(a4, b1, c41); }
        let a5 = vec4f(a[ar5 + k]);
        c50 = fma(a5, b0, c50);
        if (TN > 4u) { c51 = fma(a5, b1, c51); }
        let a6 = vec4f(a[ar6 + k]);
        c60 = fma(a6, b0, c60);
        if (TN > 4u) { c61 = fma(a6, b1, c61); }
        let a7 = vec4f(a[ar7 + k]);
        c70 = fma(a7, b0, c70);
        if (TN > 4u) { c71 = fma(a7, b1, c71); }
      }
    }
    {
      let k = k0 + 3u;
      let kn = k * p.N;
      let b0 = vec4f(b[kn + bc0], b[kn + bc1], b[kn + bc2], b[kn + bc3]);
      var b1 = vec4f(0.0);
      if (TN > 4u) { b1 = vec4f(b[kn + bc4], b[kn + bc5], b[kn + bc6], b[kn + bc7]); }
      let a0 = vec4f(a[ar0 + k]);
      c00 = fma(a0, b0, c00);
      if (TN > 4u) { c01 = fma(a0, b1, c01); }
      let a1 = vec4f(a[ar1 + k]);
      c10 = fma(a1, b0, c10);
      if (TN > 4u) { c11 = fma(a1, b1, c11); }
      let a2 = vec4f(a[ar2 + k]);
      c20 = fma(a2, b0, c20);
      if (TN > 4u) { c21 = fma(a2, b1, c21); }
      let a3 = vec4f(a[ar3 + k]);
      c30 = fma(a3, b0, c30);
      if (TN > 4u) { c31 = fma(a3, b1, c31); }
      if (TM > 4u) {
        let a4 = vec4f(a[ar4 + k]);
        c40 = fma(a4, b0, c40);
        if (TN > 4u) { c41 = fma(a4, b1, c41); }
        let a5 = vec4f(a[ar5 + k]);
        c50 = fma(a5, b0, c50);
        if (TN > 4u) { c51 = fma(a5, b1, c51); }
        let a6 = vec4f(a[ar6 + k]);
        c60 = fma(a6, b0, c60);
        if (TN > 4u) { c61 = fma(a6, b1, c61); }
        let a7 = vec4f(a[ar7 + k]);
        c70 = fma(a7, b0, c70);
        if (TN > 4u) { c71 = fma(a7, b1, c71); }
      }
    }
  }
  for (var kt = K4; kt < p.K; kt++) {
    {
      let k = kt;
      let kn = k * p.N;
      let b0 = vec4f(b[kn + bc0], b[kn + bc1], b[kn + bc2], b[kn + bc3]);
      var b1 = vec4f(0.0);
      if (TN > 4u) { b1 = vec4f(b[kn + bc4], b[kn + bc5], b[kn + bc6], b[kn + bc7]); }
      let a0 = vec4f(a[ar0 + k]);
      c00 = fma(a0, b0, c00);
      if (TN > 4u) { c01 = fma(a0, b1, c01); }
      let a1 = vec4f(a[ar1 + k]);
      c10 = fma(a1, b0, c10);
      if (TN > 4u) { c11 = fma(a1, b1, c11); }
      let a2 = vec4f(a[ar2 + k]);
      c20 = fma(a2, b0, c20);
      if (TN > 4u) { c21 = fma(a2, b1, c21); }
      let a3 = vec4f(a[ar3 + k]);
      c30 = fma(a3, b0, c30);
      if (TN > 4u) { c31 = fma(a3, b1, c31); }
      if (TM > 4u) {
        let a4 = vec4f(a[ar4 + k]);
        c40 = fma(a4, b0, c40);
        if (TN > 4u) { c41 = fma(a4, b1, c41); }
        let a5 = vec4f(a[ar5 + k]);
        c50 = fma(a5, b0, c50);
        if (TN > 4u) { c51 = fma(a5, b1, c51); }
        let a6 = vec4f(a[ar6 + k]);
        c60 = fma(a6, b0, c60);
        if (TN > 4u) { c61 = fma(a6, b1, c61); }
        let a7 = vec4f(a[ar7 + k]);
        c70 = fma(a7, b0, c70);
        if (TN > 4u) { c71 = fma(a7, b1, c71); }
      }
    }
  }
  store4(row0 + 0u, wid.x, lid.x, 0u, c00);
  if (TN > 4u) { store4(row0 + 0u, wid.x, lid.x, 4u, c01); }
  store4(row0 + 1u, wid.x, lid.x, 0u, c10);
  if (TN > 4u) { store4(row0 + 1u, wid.x, lid.x, 4u, c11); }
  store4(row0 + 2u, wid.x, lid.x, 0u, c20);
  if (TN > 4u) { store4(row0 + 2u, wid.x, lid.x, 4u, c21); }
  store4(row0 + 3u, wid.x, lid.x, 0u, c30);
  if (TN > 4u) { store4(row0 + 3u, wid.x, lid.x, 4u, c31); }
  if (TM > 4u) {
    store4(row0 + 4u, wid.x, lid.x, 0u, c40);
    if (TN > 4u) { store4(row0 + 4u, wid.x, lid.x, 4u, c41); }
    store4(row0 + 5u, wid.x, lid.x, 0u, c50);
    if (TN > 4u) { store4(row0 + 5u, wid.x, lid.x, 4u, c51); }
    store4(row0 + 6u, wid.x, lid.x, 0u, c60);
    if (TN > 4u) { store4(row0 + 6u, wid.x, lid.x, 4u, c61); }
    store4(row0 + 7u, wid.x, lid.x, 0u, c70);
    if (TN > 4u) { store4(row0 + 7u, wid.x, lid.x, 4u, c71); }
  }
}
