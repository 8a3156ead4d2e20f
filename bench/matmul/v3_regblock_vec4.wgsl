// Lab v3: v2's register block (TM ∈ {4, 8} rows × TN ∈ {4, 8} columns per invocation, no workgroup
// memory) with vec4 memory access: A is read four k at a time as one vec4 (where v2 issues four
// scalar loads), B rows and C rows as vec4 column groups. Needs K % 4 == 0. When N % 4 != 0 (e.g.
// N = 1682) B and C rows do not start on a vec4 boundary: entry point `main_sb` then reads B and writes
// C with scalars (bindings bs, cs) and keeps the vec4 loads of A.
//
// INTERLEAVE = true places an invocation's two vec4 column groups WGX groups apart, so neighbouring
// lanes read neighbouring vec4s. Written out by hand for the same reason as v2 (SwiftShader's JIT
// keeps function-scope arrays in memory and does not unroll loops, so the 4-deep k step is spelled
// out too); blocks beyond TM/TN sit behind tests on override constants.

override WGX: u32 = 8;
override WGY: u32 = 8;
override TM: u32 = 8;
override TN: u32 = 8;
override INTERLEAVE: bool = true;

struct Params { M: u32, N: u32, K: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4f>;
@group(0) @binding(4) var<storage, read> bs: array<f32>;
@group(0) @binding(5) var<storage, read_write> cs: array<f32>;

// Index (in vec4s) of this invocation's column group q ∈ {0, 1} within a row.
fn group_of(wg: u32, lx: u32, q: u32) -> u32 {
  let G = TN / 4u;
  if (INTERLEAVE) { return wg * WGX * G + q * WGX + lx; }
  return (wg * WGX + lx) * G + q;
}

// acc + Σ_kk av[kk]·b_kk: one row of A against a 4-deep k step of B, four columns wide.
fn fma4(acc: vec4f, av: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f) -> vec4f {
  return fma(vec4f(av.w), b3, fma(vec4f(av.z), b2, fma(vec4f(av.y), b1, fma(vec4f(av.x), b0, acc))));
}

fn store(row: u32, g: u32, v: vec4f) {
  let N4 = p.N / 4u;
  if (row < p.M && g < N4) { c[row * N4 + g] = v; }
}

// Scalar B: the four columns of group g in row k, clamped to the last column.
fn bquad(k: u32, g: u32) -> vec4f {
  let s = k * p.N;
  let n1 = p.N - 1u;
  let col = g * 4u;
  return vec4f(bs[s + min(col, n1)], bs[s + min(col + 1u, n1)], bs[s + min(col + 2u, n1)], bs[s + min(col + 3u, n1)]);
}

fn store_s(row: u32, g: u32, v: vec4f) {
  if (row >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let col = g * 4u + j;
    if (col < p.N) { cs[row * p.N + col] = v[j]; }
  }
}

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wid.y * WGY + lid.y) * TM;
  let N4 = p.N / 4u;
  let K4 = p.K / 4u;
  let lastRow = p.M - 1u;
  let g0 = group_of(wid.x, lid.x, 0u);
  let g1 = group_of(wid.x, lid.x, 1u);
  let bg0 = min(g0, N4 - 1u);
  let bg1 = min(g1, N4 - 1u);
  let ar0 = min(row0 + 0u, lastRow) * K4;
  let ar1 = min(row0 + 1u, lastRow) * K4;
  let ar2 = min(row0 + 2u, lastRow) * K4;
  let ar3 = min(row0 + 3u, lastRow) * K4;
  let ar4 = min(row0 + 4u, lastRow) * K4;
  let ar5 = min(row0 + 5u, lastRow) * K4;
  let ar6 = min(row0 + 6u, lastRow) * K4;
  let ar7 = min(row0 + 7u, lastRow) * K4;
  var c00 = vec4f(0.0); var c01 = vec4f(0.0);
  var c10 = vec4f(0.0); var c11 = vec4f(0.0);
  var c20 = vec4f(0.0); var c21 = vec4f(0.0);
  var c30 = vec4f(0.0); var c31 = vec4f(0.0);
  var c40 = vec4f(0.0); var c41 = vec4f(0.0);
  var c50 = vec4f(0.0); var c51 = vec4f(0.0);
  var c60 = vec4f(0.0); var c61 = vec4f(0.0);
  var c70 = vec4f(0.0); var c71 = vec4f(0.0);
  for (var k4 = 0u; k4 < K4; k4++) {
    let s0 = k4 * 4u * N4;
    let s1 = s0 + N4;
    let s2 = s1 + N4;
    let s3 = s2 + N4;
    let b00 = b[s0 + bg0]; let b10 = b[s1 + bg0]; let b20 = b[s2 + bg0]; let b30 = b[s3 + bg0];
    var b01 = vec4f(0.0); var b11 = vec4f(0.0); var b21 = vec4f(0.0); var b31 = vec4f(0.0);
    if (TN > 4u) { b01 = b[s0 + bg1]; b11 = b[s1 + bg1]; b21 = b[s2 + bg1]; b31 = b[s3 + bg1]; }
    let a0 = a[ar0 + k4];
    c00 = fma4(c00, a0, b00, b10, b20, b30);
    if (TN > 4u) { c01 = fma4(c01, a0, b01, b11, b21, b31); }
    let a1 = a[ar1 + k4];
    c10 = fma4(c10, a1, b00, b10, b20, b30);
    if (TN > 4u) { c11 = fma4(c11, a1, b01, b11, b21, b31); }
    let a2 = a[ar2 + k4];
    c20 = fma4(c20, a2, b00, b10, b20, b30);
    if (TN > 4u) { c21 = fma4(c21, a2, b01, b11, b21, b31); }
    let a3 = a[ar3 + k4];
    c30 = fma4(c30, a3, b00, b10, b20, b30);
    if (TN > 4u) { c31 = fma4(c31, a3, b01, b11, b21, b31); }
    if (TM > 4u) {
      let a4 = a[ar4 + k4];
      c40 = fma4(c40, a4, b00, b10, b20, b30);
      if (TN > 4u) { c41 = fma4(c41, a4, b01, b11, b21, b31); }
      let a5 = a[ar5 + k4];
      c50 = fma4(c50, a5, b00, b10, b20, b30);
      if (TN > 4u) { c51 = fma4(c51, a5, b01, b11, b21, b31); }
      let a6 = a[ar6 + k4];
      c60 = fma4(c60, a6, b00, b10, b20, b30);
      if (TN > 4u) { c61 = fma4(c61, a6, b01, b11, b21, b31); }
      let a7 = a[ar7 + k4];
      c70 = fma4(c70, a7, b00, b10, b20, b30);
      if (TN > 4u) { c71 = fma4(c71, a7, b01, b11, b21, b31); }
    }
  }
  store(row0 + 0u, g0, c00);
  if (TN > 4u) { store(row0 + 0u, g1, c01); }
  store(row0 + 1u, g0, c10);
  if (TN > 4u) { store(row0 + 1u, g1, c11); }
  store(row0 + 2u, g0, c20);
  if (TN > 4u) { store(row0 + 2u, g1, c21); }
  store(row0 + 3u, g0, c30);
  if (TN > 4u) { store(row0 + 3u, g1, c31); }
  if (TM > 4u) {
    store(row0 + 4u, g0, c40);
    if (TN > 4u) { store(row0 + 4u, g1, c41); }
    store(row0 + 5u, g0, c50);
    if (TN > 4u) { store(row0 + 5u, g1, c51); }
    store(row0 + 6u, g0, c60);
    if (TN > 4u) { store(row0 + 6u, g1, c61); }
    store(row0 + 7u, g0, c70);
    if (TN > 4u) { store(row0 + 7u, g1, c71); }
  }
}

@compute @workgroup_size(WGX, WGY)
fn main_sb(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wid.y * WGY + lid.y) * TM;
  let N4 = (p.N + 3u) / 4u;
  let K4 = p.K / 4u;
  let lastRow = p.M - 1u;
  let g0 = group_of(wid.x, lid.x, 0u);
  let g1 = group_of(wid.x, lid.x, 1u);
  let bg0 = min(g0, N4 - 1u);
  let bg1 = min(g1, N4 - 1u);
  let ar0 = min(row0 + 0u, lastRow) * K4;
  let ar1 = min(row0 + 1u, lastRow) * K4;
  let ar2 = min(row0 + 2u, lastRow) * K4;
  let ar3 = min(row0 + 3u, lastRow) * K4;
  let ar4 = min(row0 + 4u, lastRow) * K4;
  let ar5 = min(row0 + 5u, lastRow) * K4;
  let ar6 = min(row0 + 6u, lastRow) * K4;
  let ar7 = min(row0 + 7u, lastRow) * K4;
  var c00 = vec4f(0.0); var c01 = vec4f(0.0);
  var c10 = vec4f(0.0); var c11 = vec4f(0.0);
  var c20 = vec4f(0.0); var c21 = vec4f(0.0);
  var c30 = vec4f(0.0); var c31 = vec4f(0.0);
  var c40 = vec4f(0.0); var c41 = vec4f(0.0);
  var c50 = vec4f(0.0); var c51 = vec4f(0.0);
  var c60 = vec4f(0.0); var c61 = vec4f(0.0);
  var c70 = vec4f(0.0); var c71 = vec4f(0.0);
  for (var k4 = 0u; k4 < K4; k4++) {
    let k = k4 * 4u;
    let b00 = bquad(k, bg0); let b10 = bquad(k + 1u, bg0); let b20 = bquad(k + 2u, bg0); let b30 = bquad(k + 3u, bg0);
    var b01 = vec4f(0.0); var b11 = vec4f(0.0); var b21 = vec4f(0.0); var b31 = vec4f(0.0);
    if (TN > 4u) { b01 = bquad(k, bg1); b11 = bquad(k + 1u, bg1); b21 = bquad(k + 2u, bg1); b31 = bquad(k + 3u, bg1); }
    let a0 = a[ar0 + k4];
    c00 = fma4(c00, a0, b00, b10, b20, b30);
    if (TN > 4u) { c01 = fma4(c01, a0, b01, b11, b21, b31); }
    let a1 = a[ar1 + k4];
    c10 = fma4(c10, a1, b00, b10, b20, b30);
    if (TN > 4u) { c11 = fma4(c11, a1, b01, b11, b21, b31); }
    let a2 = a[ar2 + k4];
    c20 = fma4(c20, a2, b00, b10, b20, b30);
    if (TN > 4u) { c21 = fma4(c21, a2, b01, b11, b21, b31); }
    let a3 = a[ar3 + k4];
    c30 = fma4(c30, a3, b00, b10, b20, b30);
    if (TN > 4u) { c31 = fma4(c31, a3, b01, b11, b21, b31); }
    if (TM > 4u) {
      let a4 = a[ar4 + k4];
      c40 = fma4(c40, a4, b00, b10, b20, b30);
      if (TN > 4u) { c41 = fma4(c41, a4, b01, b11, b21, b31); }
      let a5 = a[ar5 + k4];
      c50 = fma4(c50, a5, b00, b10, b20, b30);
      if (TN > 4u) { c51 = fma4(c51, a5, b01, b11, b21, b31); }
      let a6 = a[ar6 + k4];
      c60 = fma4(c60, a6, b00, b10, b20, b30);
      if (TN > 4u) { c61 = fma4(c61, a6, b01, b11, b21, b31); }
      let a7 = a[ar7 + k4];
      c70 = fma4(c70, a7, b00, b10, b20, b30);
      if (TN > 4u) { c71 = fma4(c71, a7, b01, b11, b21, b31); }
    }
  }
  store_s(row0 + 0u, g0, c00);
  if (TN > 4u) { store_s(row0 + 0u, g1, c01); }
  store_s(row0 + 1u, g0, c10);
  if (TN > 4u) { store_s(row0 + 1u, g1, c11); }
  store_s(row0 + 2u, g0, c20);
  if (TN > 4u) { store_s(row0 + 2u, g1, c21); }
  store_s(row0 + 3u, g0, c30);
  if (TN > 4u) { store_s(row0 + 3u, g1, c31); }
  if (TM > 4u) {
    store_s(row0 + 4u, g0, c40);
    if (TN > 4u) { store_s(row0 + 4u, g1, c41); }
    store_s(row0 + 5u, g0, c50);
    if (TN > 4u) { store_s(row0 + 5u, g1, c51); }
    store_s(row0 + 6u, g0, c60);
    if (TN > 4u) { store_s(row0 + 6u, g1, c61); }
    store_s(row0 + 7u, g0, c70);
    if (TN > 4u) { store_s(row0 + 7u, g1, c71); }
  }
}
