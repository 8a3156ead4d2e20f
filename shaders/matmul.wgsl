// Matmul family: C[z] = op(A[z])·op(B[z]) with a fused bias + activation epilogue, plus the two small
// kernels its backward needs (activation derivative from the saved output; deterministic column sums).
//
// Operands are read in place from their whole storage buffer: the logical A(r, k) lives at
// off_a + z·stride_a + r·lda + k, or off_a + z·stride_a + k·lda + r with TRANS_A (a transposed view, or
// Aᵀ in a backward pass), so transposes never cost a copy. stride 0 broadcasts one matrix (a shared
// weight) over the batch. The output is contiguous [batch, m, n].
//
// Operands are bound as array<vec4f>: VEC_A / VEC_B say the operand's contiguous direction is
// 4-aligned (offset, ld and batch stride multiples of 4), so whole vec4s are loaded; otherwise single
// lanes are picked out of them (a[i >> 2][i & 3]), which keeps one binding per operand.
//
// Two variants (picked per adapter in src/tensor/ops/matmul.ts, DESIGN.md §3):
//   matmul_rb    barrier-free register blocking, TM×TN outputs per thread, no workgroup memory. On the
//                CPU adapters (llvmpipe, SwiftShader) DESIGN.md §3 measured this 1.5–3× faster than
//                shared-memory tiling: invocations are SIMD lanes of one CPU thread, so workgroup
//                memory and barriers only add copies and loop splitting. (This written-out version ran
//                ~2–6× faster than matmul_tiled on llvmpipe and 13–24× on SwiftShader in noisy runs
//                here, but compiles in 0.3–1.5 s per pipeline on a cold cache, not the 5–70 ms
//                DESIGN.md quotes for a smaller kernel.)
//   matmul_tiled classic shared-memory tiles for real GPUs.
// Edge handling: loads clamp row/column indices into range (outputs past the edge are computed from
// valid data and never stored), K is looped exactly (a scalar tail after the 4-wide main loop), stores
// are bounds-checked.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override VEC_A: bool = false;
override VEC_B: bool = false;
override HAS_BIAS: bool = false;
// Epilogue activation: 0 none, 1 relu, 2 sigmoid, 3 tanh (src/tensor/ops/matmul.ts mirrors the codes).
override ACT: u32 = 0u;

struct MatmulParams {
  m: u32,
  n: u32,
  k: u32,
  lda: u32,
  ldb: u32,
  off_a: u32,
  off_b: u32,
  stride_a: u32,   // elements between batches, 0 = broadcast
  stride_b: u32,
  row0: u32,       // first output row / batch of this dispatch (grids beyond 65535 workgroups)
  batch0: u32,
}
@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
// Without HAS_BIAS the caller binds any read-only buffer here; it is never read.
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn a_at(i: u32) -> f32 {
  return a[i >> 2u][i & 3u];
}

fn b_at(i: u32) -> f32 {
  return b[i >> 2u][i & 3u];
}

// Element index of logical A(r, kk) / B(kk, col) given the batch's base offset.
fn a_idx(base: u32, r: u32, kk: u32) -> u32 {
  if (TRANS_A) { return base + kk * p.lda + r; }
  return base + r * p.lda + kk;
}

fn b_idx(base: u32, kk: u32, col: u32) -> u32 {
  if (TRANS_B) { return base + col * p.ldb + kk; }
  return base + kk * p.ldb + col;
}

fn epilogue(v: f32, col: u32) -> f32 {
  var x = v;
  if (HAS_BIAS) { x += bias[col]; }
  switch ACT {
    case 1u: { x = max(x, 0.0); }
    case 2u: { x = 1.0 / (1.0 + exp(-x)); }
    // tanh(±15) is ±1 in f32; the clamp guards implementations that build tanh from exp(2x), which
    // overflows to inf/inf = NaN for |x| ≳ 44.
    case 3u: { x = tanh(clamp(x, -15.0, 15.0)); }
    default: {}
  }
  return x;
}

// ------------------------------------------------------------------------ register-blocked (CPU adapters)
//
// Written out by hand rather than with loops over private arrays: SwiftShader's Subzero backend
// neither unrolls loops nor keeps dynamically indexed arrays in registers. Measured here on a 512³
// product: the loop form ran at 0.3 GFLOP/s on SwiftShader against 1.8–2.8 GFLOP/s written out
// (llvmpipe, which unrolls, ran both at 6–9 GFLOP/s).

override RB_WG_X: u32 = 8;   // threads along n
override RB_WG_Y: u32 = 8;   // threads along m
// Outputs per thread: TM rows × TN columns, each 4 or 8 (the code below is written out for 8×8; the
// second half of each side is skipped when the override is 4).
override TM: u32 = 8;
override TN: u32 = 8;

// Four consecutive elements from s (s % 4 == 0 when VEC_*): the operand's contiguous direction.
fn ld4_a(s: u32) -> vec4f {
  if (VEC_A) { return a[s >> 2u]; }
  return vec4f(a_at(s), a_at(s + 1u), a_at(s + 2u), a_at(s + 3u));
}

fn ld4_b(s: u32) -> vec4f {
  if (VEC_B) { return b[s >> 2u]; }
  return vec4f(b_at(s), b_at(s + 1u), b_at(s + 2u), b_at(s + 3u));
}

// With TRANS_A: A(r .. r+3, k), sk the start of stored row k; rows clamped into range.
fn a_quad(sk: u32, r: u32) -> vec4f {
  let m1 = p.m - 1u;
  if (VEC_A) { return a[(sk + min(r, m1 & ~3u)) >> 2u]; }
  return vec4f(a_at(sk + min(r, m1)), a_at(sk + min(r + 1u, m1)), a_at(sk + min(r + 2u, m1)), a_at(sk + min(r + 3u, m1)));
}

// Without TRANS_B: B(k, col .. col+3), sk the start of stored row k; columns clamped into range.
fn b_quad(sk: u32, col: u32) -> vec4f {
  let n1 = p.n - 1u;
  if (VEC_B) { return b[(sk + min(col, n1 & ~3u)) >> 2u]; }
  return vec4f(b_at(sk + min(col, n1)), b_at(sk + min(col + 1u, n1)), b_at(sk + min(col + 2u, n1)), b_at(sk + min(col + 3u, n1)));
}

// acc + Σ_kk av[kk]·b_kk: one row of A against four rows of B (a 4-deep k chunk), four columns wide.
fn fma4(acc: vec4f, av: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f) -> vec4f {
  return fma(vec4f(av.w), b3, fma(vec4f(av.z), b2, fma(vec4f(av.y), b1, fma(vec4f(av.x), b0, acc))));
}

fn store4(r: u32, col: u32, v: vec4f, cb: u32) {
  if (r >= p.m) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (col + j < p.n) { c[cb + r * p.n + col + j] = epilogue(v[j], col + j); }
  }
}

@compute @workgroup_size(RB_WG_X, RB_WG_Y, 1)
fn matmul_rb(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row0 = p.row0 + (wid.y * RB_WG_Y + lid.y) * TM;
  let col0 = (wid.x * RB_WG_X + lid.x) * TN;
  // No barriers in this kernel, so threads past the edge may leave early.
  if (row0 >= p.m || col0 >= p.n) { return; }
  let z = p.batch0 + wid.z;
  let ba = p.off_a + z * p.stride_a;
  let bb = p.off_b + z * p.stride_b;
  let m1 = p.m - 1u;
  let n1 = p.n - 1u;
  // Start of each of this thread's rows of A (not transposed) / columns of B (transposed), clamped:
  // threads at the edge load valid data for outputs they then do not store.
  let sa0 = ba + min(row0, m1) * p.lda;
  let sa1 = ba + min(row0 + 1u, m1) * p.lda;
  let sa2 = ba + min(row0 + 2u, m1) * p.lda;
  let sa3 = ba + min(row0 + 3u, m1) * p.lda;
  let sa4 = ba + min(row0 + 4u, m1) * p.lda;
  let sa5 = ba + min(row0 + 5u, m1) * p.lda;
  let sa6 = ba + min(row0 + 6u, m1) * p.lda;
  let sa7 = ba + min(row0 + 7u, m1) * p.lda;
  let sb0 = bb + min(col0, n1) * p.ldb;
  let sb1 = bb + min(col0 + 1u, n1) * p.ldb;
  let sb2 = bb + min(col0 + 2u, n1) * p.ldb;
  let sb3 = bb + min(col0 + 3u, n1) * p.ldb;
  let sb4 = bb + min(col0 + 4u, n1) * p.ldb;
  let sb5 = bb + min(col0 + 5u, n1) * p.ldb;
  let sb6 = bb + min(col0 + 6u, n1) * p.ldb;
  let sb7 = bb + min(col0 + 7u, n1) * p.ldb;

  // c{i}{q} = C(row0 + i, col0 + 4q .. col0 + 4q + 3)
  var c00 = vec4f(0.0); var c01 = vec4f(0.0);
  var c10 = vec4f(0.0); var c11 = vec4f(0.0);
  var c20 = vec4f(0.0); var c21 = vec4f(0.0);
  var c30 = vec4f(0.0); var c31 = vec4f(0.0);
  var c40 = vec4f(0.0); var c41 = vec4f(0.0);
  var c50 = vec4f(0.0); var c51 = vec4f(0.0);
  var c60 = vec4f(0.0); var c61 = vec4f(0.0);
  var c70 = vec4f(0.0); var c71 = vec4f(0.0);

  let k4 = p.k & ~3u;
  for (var k0 = 0u; k0 < k4; k0 += 4u) {
    // a{i} = A(row0 + i, k0 .. k0 + 3)
    var a0: vec4f; var a1: vec4f; var a2: vec4f; var a3: vec4f;
    var a4: vec4f; var a5: vec4f; var a6: vec4f; var a7: vec4f;
    if (TRANS_A) {
      let s0 = ba + k0 * p.lda;
      let s1 = s0 + p.lda;
      let s2 = s1 + p.lda;
      let s3 = s2 + p.lda;
      let lo = transpose(mat4x4f(a_quad(s0, row0), a_quad(s1, row0), a_quad(s2, row0), a_quad(s3, row0)));
      a0 = lo[0]; a1 = lo[1]; a2 = lo[2]; a3 = lo[3];
      if (TM == 8u) {
        let hi = transpose(mat4x4f(a_quad(s0, row0 + 4u), a_quad(s1, row0 + 4u), a_quad(s2, row0 + 4u), a_quad(s3, row0 + 4u)));
        a4 = hi[0]; a5 = hi[1]; a6 = hi[2]; a7 = hi[3];
      }
    } else {
      a0 = ld4_a(sa0 + k0); a1 = ld4_a(sa1 + k0); a2 = ld4_a(sa2 + k0); a3 = ld4_a(sa3 + k0);
      if (TM == 8u) {
        a4 = ld4_a(sa4 + k0); a5 = ld4_a(sa5 + k0); a6 = ld4_a(sa6 + k0); a7 = ld4_a(sa7 + k0);
      }
    }
    // b{kk}{q} = B(k0 + kk, col0 + 4q .. col0 + 4q + 3)
    var b00: vec4f; var b10: vec4f; var b20: vec4f; var b30: vec4f;
    var b01: vec4f; var b11: vec4f; var b21: vec4f; var b31: vec4f;
    if (TRANS_B) {
      let lo = transpose(mat4x4f(ld4_b(sb0 + k0), ld4_b(sb1 + k0), ld4_b(sb2 + k0), ld4_b(sb3 + k0)));
      b00 = lo[0]; b10 = lo[1]; b20 = lo[2]; b30 = lo[3];
      if (TN == 8u) {
        let hi = transpose(mat4x4f(ld4_b(sb4 + k0), ld4_b(sb5 + k0), ld4_b(sb6 + k0), ld4_b(sb7 + k0)));
        b01 = hi[0]; b11 = hi[1]; b21 = hi[2]; b31 = hi[3];
      }
    } else {
      let s0 = bb + k0 * p.ldb;
      let s1 = s0 + p.ldb;
      let s2 = s1 + p.ldb;
      let s3 = s2 + p.ldb;
      b00 = b_quad(s0, col0); b10 = b_quad(s1, col0); b20 = b_quad(s2, col0); b30 = b_quad(s3, col0);
      if (TN == 8u) {
        b01 = b_quad(s0, col0 + 4u); b11 = b_quad(s1, col0 + 4u); b21 = b_quad(s2, col0 + 4u); b31 = b_quad(s3, col0 + 4u);
      }
    }
    c00 = fma4(c00, a0, b00, b10, b20, b30);
    c10 = fma4(c10, a1, b00, b10, b20, b30);
    c20 = fma4(c20, a2, b00, b10, b20, b30);
    c30 = fma4(c30, a3, b00, b10, b20, b30);
    if (TN == 8u) {
      c01 = fma4(c01, a0, b01, b11, b21, b31);
      c11 = fma4(c11, a1, b01, b11, b21, b31);
      c21 = fma4(c21, a2, b01, b11, b21, b31);
      c31 = fma4(c31, a3, b01, b11, b21, b31);
    }
    if (TM == 8u) {
      c40 = fma4(c40, a4, b00, b10, b20, b30);
      c50 = fma4(c50, a5, b00, b10, b20, b30);
      c60 = fma4(c60, a6, b00, b10, b20, b30);
      c70 = fma4(c70, a7, b00, b10, b20, b30);
      if (TN == 8u) {
        c41 = fma4(c41, a4, b01, b11, b21, b31);
        c51 = fma4(c51, a5, b01, b11, b21, b31);
        c61 = fma4(c61, a6, b01, b11, b21, b31);
        c71 = fma4(c71, a7, b01, b11, b21, b31);
      }
    }
  }
  // K tail (k not a multiple of 4), one k at a time with scalar loads.
  for (var kk = k4; kk < p.k; kk++) {
    let q0 = vec4f(b_at(b_idx(bb, kk, min(col0, n1))), b_at(b_idx(bb, kk, min(col0 + 1u, n1))),
                   b_at(b_idx(bb, kk, min(col0 + 2u, n1))), b_at(b_idx(bb, kk, min(col0 + 3u, n1))));
    var q1: vec4f;
    if (TN == 8u) {
      q1 = vec4f(b_at(b_idx(bb, kk, min(col0 + 4u, n1))), b_at(b_idx(bb, kk, min(col0 + 5u, n1))),
                 b_at(b_idx(bb, kk, min(col0 + 6u, n1))), b_at(b_idx(bb, kk, min(col0 + 7u, n1))));
    }
    let e0 = vec4f(a_at(a_idx(ba, min(row0, m1), kk)));
    let e1 = vec4f(a_at(a_idx(ba, min(row0 + 1u, m1), kk)));
    let e2 = vec4f(a_at(a_idx(ba, min(row0 + 2u, m1), kk)));
    let e3 = vec4f(a_at(a_idx(ba, min(row0 + 3u, m1), kk)));
    c00 = fma(e0, q0, c00); c10 = fma(e1, q0, c10); c20 = fma(e2, q0, c20); c30 = fma(e3, q0, c30);
    if (TN == 8u) { c01 = fma(e0, q1, c01); c11 = fma(e1, q1, c11); c21 = fma(e2, q1, c21); c31 = fma(e3, q1, c31); }
    if (TM == 8u) {
      let e4 = vec4f(a_at(a_idx(ba, min(row0 + 4u, m1), kk)));
      let e5 = vec4f(a_at(a_idx(ba, min(row0 + 5u, m1), kk)));
      let e6 = vec4f(a_at(a_idx(ba, min(row0 + 6u, m1), kk)));
      let e7 = vec4f(a_at(a_idx(ba, min(row0 + 7u, m1), kk)));
      c40 = fma(e4, q0, c40); c50 = fma(e5, q0, c50); c60 = fma(e6, q0, c60); c70 = fma(e7, q0, c70);
      if (TN == 8u) { c41 = fma(e4, q1, c41); c51 = fma(e5, q1, c51); c61 = fma(e6, q1, c61); c71 = fma(e7, q1, c71); }
    }
  }
  let cb = z * p.m * p.n;
  store4(row0, col0, c00, cb); store4(row0 + 1u, col0, c10, cb); store4(row0 + 2u, col0, c20, cb); store4(row0 + 3u, col0, c30, cb);
  if (TN == 8u) {
    store4(row0, col0 + 4u, c01, cb); store4(row0 + 1u, col0 + 4u, c11, cb); store4(row0 + 2u, col0 + 4u, c21, cb); store4(row0 + 3u, col0 + 4u, c31, cb);
  }
  if (TM == 8u) {
    store4(row0 + 4u, col0, c40, cb); store4(row0 + 5u, col0, c50, cb); store4(row0 + 6u, col0, c60, cb); store4(row0 + 7u, col0, c70, cb);
    if (TN == 8u) {
      store4(row0 + 4u, col0 + 4u, c41, cb); store4(row0 + 5u, col0 + 4u, c51, cb); store4(row0 + 6u, col0 + 4u, c61, cb); store4(row0 + 7u, col0 + 4u, c71, cb);
    }
  }
}

// ------------------------------------------------------------------------------ shared-memory (GPUs)

override TL_WG: u32 = 16;   // threads per side of the workgroup
override TL_R: u32 = 4;     // outputs per thread per side (≤ 4): tiles are (TL_WG·TL_R)²
override TL_BK: u32 = 16;   // k-depth of a tile
// Derived, not set by callers: workgroup arrays may be sized by an override, most portably a single name.
override TL_TILE: u32 = TL_BK * TL_WG * TL_R;
var<workgroup> tile_a: array<f32, TL_TILE>;   // [kk][m]
var<workgroup> tile_b: array<f32, TL_TILE>;   // [kk][n]

@compute @workgroup_size(TL_WG, TL_WG, 1)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let bm = TL_WG * TL_R;
  let rbase = p.row0 + wid.y * bm;
  let cbase = wid.x * bm;
  let z = p.batch0 + wid.z;
  let ba = p.off_a + z * p.stride_a;
  let bb = p.off_b + z * p.stride_b;
  var acc: array<vec4f, 4>;   // acc[i][j] = C(rbase + lid.y + i·TL_WG, cbase + lid.x + j·TL_WG)
  var ar: array<f32, 4>;
  var br: array<f32, 4>;
  for (var k0 = 0u; k0 < p.k; k0 += TL_BK) {
    // Cooperative loads; consecutive threads walk each operand's contiguous direction.
    for (var e = li; e < TL_BK * bm; e += TL_WG * TL_WG) {
      var kk: u32;
      var mm: u32;
      if (TRANS_A) { kk = e / bm; mm = e % bm; } else { mm = e / TL_BK; kk = e % TL_BK; }
      var v = 0.0;
      if (rbase + mm < p.m && k0 + kk < p.k) { v = a_at(a_idx(ba, rbase + mm, k0 + kk)); }
      tile_a[kk * bm + mm] = v;
      var nn: u32;
      if (TRANS_B) { nn = e / TL_BK; kk = e % TL_BK; } else { kk = e / bm; nn = e % bm; }
      var w = 0.0;
      if (cbase + nn < p.n && k0 + kk < p.k) { w = b_at(b_idx(bb, k0 + kk, cbase + nn)); }
      tile_b[kk * bm + nn] = w;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TL_BK; kk++) {
      for (var i = 0u; i < TL_R; i++) { ar[i] = tile_a[kk * bm + lid.y + i * TL_WG]; }
      for (var j = 0u; j < TL_R; j++) { br[j] = tile_b[kk * bm + lid.x + j * TL_WG]; }
      for (var i = 0u; i < TL_R; i++) {
        for (var j = 0u; j < TL_R; j++) { acc[i][j] = fma(ar[i], br[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  let cb = z * p.m * p.n;
  for (var i = 0u; i < TL_R; i++) {
    let r = rbase + lid.y + i * TL_WG;
    for (var j = 0u; j < TL_R; j++) {
      let col = cbase + lid.x + j * TL_WG;
      if (r < p.m && col < p.n) { c[cb + r * p.n + col] = epilogue(acc[i][j], col); }
    }
  }
}

// --------------------------------------------------------------------------------- backward helpers

override WG: u32 = 256;

// @include grid

// dz = dy · act'(y), the derivative taken from the saved output y (ACT codes as above):
// relu y > 0, sigmoid y(1 − y), tanh 1 − y².
struct ActParams { n: u32 }
@group(0) @binding(0) var<uniform> ap: ActParams;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read> y: array<f32>;
@group(0) @binding(7) var<storage, read_write> dz: array<f32>;

@compute @workgroup_size(WG)
fn act_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= ap.n) { return; }
  let v = y[i];
  var d = 1.0;
  switch ACT {
    case 1u: { d = select(0.0, 1.0, v > 0.0); }
    case 2u: { d = v * (1.0 - v); }
    case 3u: { d = 1.0 - v * v; }
    default: {}
  }
  dz[i] = dy[i] * d;
}

// out[j] = Σ_r in[r·cols + j]: bias gradients (column sums of dz) and sums over a broadcast batch.
// One thread per column looping over rows in order: deterministic, no atomics (DESIGN.md §3).
// Rows [r0, r1) per dispatch, the running sum carried in sum_out: llvmpipe silently stops a thread's
// loops after 65535 iterations (matmul.ts columnSum), and the same additions in the same order keep
// the result bit-identical to one pass.
struct SumParams { rows: u32, cols: u32, r0: u32, r1: u32 }
@group(0) @binding(0) var<uniform> sp: SumParams;
@group(0) @binding(8) var<storage, read> sum_in: array<f32>;
@group(0) @binding(9) var<storage, read_write> sum_out: array<f32>;

@compute @workgroup_size(WG)
fn column_sum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = flat_index(gid, nwg);
  if (j >= sp.cols) { return; }
  var s = 0.0;
  if (sp.r0 > 0u) { s = sum_out[j]; }
  for (var r = sp.r0; r < sp.r1; r++) { s += sum_in[r * sp.cols + j]; }
  sum_out[j] = s;
}
