// Lab v2: register blocking without workgroup memory. Each invocation accumulates a TM×TN block of C
// in registers, so every A value it loads is reused TN times and every B value TM times.
//
// INTERLEAVE = 1 spreads an invocation's TN columns WGX apart instead of side by side: the CPU adapters
// run invocations as SIMD lanes (4 on SwiftShader, 8 on llvmpipe), and lanes reading consecutive
// addresses become one vector load instead of a gather.
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

// Function-scope arrays need a const size: 8×8 is the largest block swept; the loops below run to the
// override bounds, which the backends fold to constants and unroll.
const MAXT: u32 = 8u;

fn col_of(wg: u32, lx: u32, j: u32) -> u32 {
  if (INTERLEAVE) { return wg * WGX * TN + j * WGX + lx; }
  return (wg * WGX + lx) * TN + j;
}

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = (wid.y * WGY + lid.y) * TM;
  var acc: array<f32, 64>;
  var ar: array<u32, MAXT>;
  var bc: array<u32, MAXT>;
  for (var i = 0u; i < TM; i++) { ar[i] = min(row0 + i, p.M - 1u) * p.K; }
  for (var j = 0u; j < TN; j++) { bc[j] = min(col_of(wid.x, lid.x, j), p.N - 1u); }
  var av: array<f32, MAXT>;
  var bv: array<f32, MAXT>;
  for (var k = 0u; k < p.K; k++) {
    for (var i = 0u; i < TM; i++) { av[i] = a[ar[i] + k]; }
    let kn = k * p.N;
    for (var j = 0u; j < TN; j++) { bv[j] = b[kn + bc[j]]; }
    for (var i = 0u; i < TM; i++) {
      for (var j = 0u; j < TN; j++) { acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]); }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let row = row0 + i;
    if (row >= p.M) { break; }
    for (var j = 0u; j < TN; j++) {
      let col = col_of(wid.x, lid.x, j);
      if (col < p.N) { c[row * p.N + col] = acc[i * TN + j]; }
    }
  }
}
