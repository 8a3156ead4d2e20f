// Lab v4: workgroup-memory tiling. A workgroup computes a BM×BN tile of C (BM = WGY·TM, BN = WGX·TN);
// for each BK-deep slice of K all its invocations first copy the A and B slices into workgroup memory
// together, then each accumulates its TM×TN register block (the v2 block, written out the same way)
// from there. Every global A/B element is read once per workgroup instead of once per invocation
// row/column, which is what wins on real GPUs; on the CPU adapters the barriers and copies are pure
// cost (DESIGN.md §3), which this version exists to measure.
//
// Workgroup memory: (BM + BN)·BK·4 bytes, ≤ 16 KiB for every swept configuration (the bench checks
// the device's maxComputeWorkgroupStorageSize). K tails load zeros; M/N edges clamp loads, mask stores.

override WGX: u32 = 8;
override WGY: u32 = 8;
override TM: u32 = 8;
override TN: u32 = 8;
override BK: u32 = 8;

struct Params { M: u32, N: u32, K: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// As[kk·BM + m] (transposed: an invocation's TM rows at one kk are adjacent), Bs[kk·BN + n].
var<workgroup> As: array<f32, WGY * TM * BK>;
var<workgroup> Bs: array<f32, WGX * TN * BK>;

fn store4(row: u32, col0: u32, v: vec4f) {
  if (row >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let col = col0 + j * WGX;
    if (col < p.N) { c[row * p.N + col] = v[j]; }
  }
}

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) t: u32) {
  let BM = WGY * TM;
  let BN = WGX * TN;
  let NT = WGX * WGY;
  let rowBase = wid.y * BM;
  let colBase = wid.x * BN;
  let lastRow = p.M - 1u;
  let lastCol = p.N - 1u;
  let m0 = lid.y * TM;
  var c00 = vec4f(0.0);
  var c01 = vec4f(0.0);
  var c10 = vec4f(0.0);
  var c11 = vec4f(0.0);
  var c20 = vec4f(0.0);
  var c21 = vec4f(0.0);
  var c30 = vec4f(0.0);
  var c31 = vec4f(0.0);
  var c40 = vec4f(0.0);
  var c41 = vec4f(0.0);
  var c50 = vec4f(0.0);
  var c51 = vec4f(0.0);
  var c60 = vec4f(0.0);
  var c61 = vec4f(0.0);
  var c70 = vec4f(0.0);
  var c71 = vec4f(0.0);
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // Cooperative copy: consecutive invocations take consecutive k of an A row and consecutive n of
    // a B row (contiguous global addresses).
    for (var e = t; e < BM * BK; e += NT) {
      let m = e / BK;
      let kk = e % BK;
      let k = k0 + kk;
      let v = a[min(rowBase + m, lastRow) * p.K + min(k, p.K - 1u)];
      As[kk * BM + m] = select(0.0, v, k < p.K);
    }
    for (var e = t; e < BN * BK; e += NT) {
      let kk = e / BN;
      let n = e % BN;
      let k = k0 + kk;
      let v = b[min(k, p.K - 1u) * p.N + min(colBase + n, lastCol)];
      Bs[kk * BN + n] = select(0.0, v, k < p.K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let bo = kk * BN + lid.x;
      let b0 = vec4f(Bs[bo], Bs[bo + WGX], Bs[bo + 2u * WGX], Bs[bo + 3u * WGX]);
      var b1 = vec4f(0.0);
      if (TN > 4u) { b1 = vec4f(Bs[bo + 4u * WGX], Bs[bo + 5u * WGX], Bs[bo + 6u * WGX], Bs[bo + 7u * WGX]); }
      let ao = kk * BM + m0;
      let a0 = vec4f(As[ao + 0u]);
      c00 = fma(a0, b0, c00);
      if (TN > 4u) { c01 = fma(a0, b1, c01); }
      let a1 = vec4f(As[ao + 1u]);
      c10 = fma(a1, b0, c10);
      if (TN > 4u) { c11 = fma(a1, b1, c11); }
      let a2 = vec4f(As[ao + 2u]);
      c20 = fma(a2, b0, c20);
      if (TN > 4u) { c21 = fma(a2, b1, c21); }
      let a3 = vec4f(As[ao + 3u]);
      c30 = fma(a3, b0, c30);
      if (TN > 4u) { c31 = fma(a3, b1, c31); }
      if (TM > 4u) {
        let a4 = vec4f(As[ao + 4u]);
        c40 = fma(a4, b0, c40);
        if (TN > 4u) { c41 = fma(a4, b1, c41); }
        let a5 = vec4f(As[ao + 5u]);
        c50 = fma(a5, b0, c50);
        if (TN > 4u) { c51 = fma(a5, b1, c51); }
        let a6 = vec4f(As[ao + 6u]);
        c60 = fma(a6, b0, c60);
        if (TN > 4u) { c61 = fma(a6, b1, c61); }
        let a7 = vec4f(As[ao + 7u]);
        c70 = fma(a7, b0, c70);
        if (TN > 4u) { c71 = fma(a7, b1, c71); }
      }
    }
    workgroupBarrier();
  }
  let col0 = colBase + lid.x;
  store4(rowBase + m0 + 0u, col0, c00);
  if (TN > 4u) { store4(rowBase + m0 + 0u, col0 + 4u * WGX, c01); }
  store4(rowBase + m0 + 1u, col0, c10);
  if (TN > 4u) { store4(rowBase + m0 + 1u, col0 + 4u * WGX, c11); }
  store4(rowBase + m0 + 2u, col0, c20);
  if (TN > 4u) { store4(rowBase + m0 + 2u, col0 + 4u * WGX, c21); }
  store4(rowBase + m0 + 3u, col0, c30);
  if (TN > 4u) { store4(rowBase + m0 + 3u, col0 + 4u * WGX, c31); }
  if (TM > 4u) {
    store4(rowBase + m0 + 4u, col0, c40);
    if (TN > 4u) { store4(rowBase + m0 + 4u, col0 + 4u * WGX, c41); }
    store4(rowBase + m0 + 5u, col0, c50);
    if (TN > 4u) { store4(rowBase + m0 + 5u, col0 + 4u * WGX, c51); }
    store4(rowBase + m0 + 6u, col0, c60);
    if (TN > 4u) { store4(rowBase + m0 + 6u, col0 + 4u * WGX, c61); }
    store4(rowBase + m0 + 7u, col0, c70);
    if (TN > 4u) { store4(rowBase + m0 + 7u, col0 + 4u * WGX, c71); }
  }
}
