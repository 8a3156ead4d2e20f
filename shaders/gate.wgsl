// Gated mixture of n ≤ 3 branch vectors (MUFASA SAL's gate, paper §3.2, eq. 12; src/tensor/ops/gate.ts):
//   logits_r = bias + Σ_b z_b[r]·W[b·d : (b+1)·d, :],  g_r = softmax(logits_r),  y_r = Σ_b g_rb z_b[r].
// One thread per row for forward and backward: the row's n logits are a few registers, so the concat,
// the [rows, n] linear, the softmax, the broadcast product and the sum over branches (five ops and their
// backward passes) become one pass each way. W is read at the same address by every thread.
//
// Rows are vec4-typed (z, y, dy, dz): gate.ts pads d to a multiple of 4 with zero columns, and W's rows
// past d read as 0. As in sparse_attention.wgsl, one thread walking its own row through array<f32>
// makes llvmpipe gather every scalar; whole vec4s cut that 4×. Measured at 12800 rows, d = 64, n = 3
// (npm run bench -- attention --shapes 200 --profile sal, llvmpipe, same machine, back to back):
// forward 14.0 → 8.5 ms, backward 12.3 → 9.5 ms; both now move ~1.5 GB/s, the CPU adapter's speed for a
// memory pass (DESIGN.md §3).
//
// Backward per row: a_b = z_b·dy, dlogit_b = g_b (a_b − Σ_c g_c a_c), dz_b = g_b dy + W_b·dlogit; then
// dW = z_bᵀ·dlogit and dbias = Σ_r dlogit by gate_dw (below) over segments of rows.

override WG: u32 = 64;
override N: u32 = 3u;   // branches, 1 … 3

// Lowest finite f32: the logit of an absent branch (exp underflows to 0).
const LOWEST: f32 = -3.4028234663852886e38;

struct Params {
  rows: u32,
  d: u32,    // the caller's d: rows of each W block
  d4: u32,   // vec4 columns per row (⌈d/4⌉)
}
@group(0) @binding(0) var<uniform> p: Params;
// Branches beyond N are bound to any f32 buffer and not read.
@group(0) @binding(1) var<storage, read> z0: array<vec4f>;
@group(0) @binding(2) var<storage, read> z1: array<vec4f>;
@group(0) @binding(3) var<storage, read> z2: array<vec4f>;
@group(0) @binding(4) var<storage, read> w: array<f32>;       // [N·d, N]
@group(0) @binding(5) var<storage, read> bias: array<f32>;    // [N]
@group(0) @binding(6) var<storage, read_write> y: array<vec4f>;  // [rows, d4]
@group(0) @binding(7) var<storage, read_write> gates: array<f32>;  // [rows, N]
@group(0) @binding(8) var<storage, read> dy: array<vec4f>;      // [rows, d4]
@group(0) @binding(9) var<storage, read> gates_in: array<f32>;
@group(0) @binding(10) var<storage, read_write> dz: array<vec4f>;   // [N, rows, d4]
@group(0) @binding(11) var<storage, read_write> dlogit: array<f32>; // [rows, N]

fn row_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

// Row c of W's block b as a vec3 (components ≥ N are 0; rows c ≥ d, the padding, are 0).
fn w_row(b: u32, c: u32) -> vec3f {
  if (c >= p.d) { return vec3f(0.0); }
  let i = (b * p.d + c) * N;
  return vec3f(w[i], select(0.0, w[i + 1u], N > 1u), select(0.0, w[i + 2u], N > 2u));
}

fn zval(b: u32, i: u32) -> vec4f {
  if (b == 0u) { return z0[i]; }
  if (b == 1u) { return z1[i]; }
  return z2[i];
}

@compute @workgroup_size(WG)
fn gate_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = row_index(wid, nwg, lid);
  if (r >= p.rows) { return; }
  let base = r * p.d4;
  var lg = vec3f(bias[0], select(0.0, bias[1], N > 1u), select(0.0, bias[2], N > 2u));
  for (var b = 0u; b < 3u; b++) {
    if (b < N) {
      for (var q = 0u; q < p.d4; q++) {
        let z = zval(b, base + q);
        let c = 4u * q;
        lg += z.x * w_row(b, c) + z.y * w_row(b, c + 1u) + z.z * w_row(b, c + 2u) + z.w * w_row(b, c + 3u);
      }
    }
  }
  let m = max(lg.x, max(select(LOWEST, lg.y, N > 1u), select(LOWEST, lg.z, N > 2u)));
  let ex = vec3f(exp(lg.x - m), select(0.0, exp(lg.y - m), N > 1u), select(0.0, exp(lg.z - m), N > 2u));
  let g = ex / (ex.x + ex.y + ex.z);
  gates[r * N] = g.x;
  if (N > 1u) { gates[r * N + 1u] = g.y; }
  if (N > 2u) { gates[r * N + 2u] = g.z; }
  for (var q = 0u; q < p.d4; q++) {
    var v = g.x * z0[base + q];
    if (N > 1u) { v += g.y * z1[base + q]; }
    if (N > 2u) { v += g.z * z2[base + q]; }
    y[base + q] = v;
  }
}

@compute @workgroup_size(WG)
fn gate_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = row_index(wid, nwg, lid);
  if (r >= p.rows) { return; }
  let base = r * p.d4;
  let g = vec3f(gates_in[r * N], select(0.0, gates_in[r * N + 1u], N > 1u), select(0.0, gates_in[r * N + 2u], N > 2u));
  var a = vec3f(0.0);
  for (var q = 0u; q < p.d4; q++) {
    let gy = dy[base + q];
    a.x += dot(z0[base + q], gy);
    if (N > 1u) { a.y += dot(z1[base + q], gy); }
    if (N > 2u) { a.z += dot(z2[base + q], gy); }
  }
  let dl = g * (a - dot(g, a));
  dlogit[r * N] = dl.x;
  if (N > 1u) { dlogit[r * N + 1u] = dl.y; }
  if (N > 2u) { dlogit[r * N + 2u] = dl.z; }
  let gs = array<f32, 3>(g.x, g.y, g.z);
  for (var b = 0u; b < 3u; b++) {
    if (b < N) {
      let zb = (b * p.rows + r) * p.d4;
      for (var q = 0u; q < p.d4; q++) {
        let c = 4u * q;
        let wd = vec4f(dot(w_row(b, c), dl), dot(w_row(b, c + 1u), dl), dot(w_row(b, c + 2u), dl), dot(w_row(b, c + 3u), dl));
        dz[zb + q] = gs[b] * dy[base + q] + wd;
      }
    }
  }
}

// dW and dbias as partial sums over segments of SEG rows (grid y), merged in segment order by the
// caller's sum over axis 0 (deterministic): thread t < N·d4 owns branch b = t / d4 and W rows
// 4q … 4q + 3 (q = t % d4), Σ_r z_b[r, q]·dlogit_r; thread N·d4 owns dbias, Σ_r dlogit_r. Replaces
// one split-K matmul per branch, their concat and a column sum (10 dispatches for SAL's 3 branches)
// with 2.
struct DwParams {
  rows: u32,
  d: u32,
  d4: u32,
  seg: u32,   // rows per segment
}
@group(0) @binding(0) var<uniform> dwp: DwParams;
@group(0) @binding(12) var<storage, read> dlogit_in: array<f32>;   // [rows, N]
@group(0) @binding(13) var<storage, read_write> dwpart: array<f32>; // [nseg, N·d + 1, N]

fn dlogit_row(r: u32) -> vec3f {
  return vec3f(dlogit_in[r * N], select(0.0, dlogit_in[r * N + 1u], N > 1u), select(0.0, dlogit_in[r * N + 2u], N > 2u));
}

@compute @workgroup_size(WG)
fn gate_dw(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let t = gid.x;
  let nd4 = N * dwp.d4;
  if (t > nd4) { return; }
  let r0 = wid.y * dwp.seg;
  let r1 = min(dwp.rows, r0 + dwp.seg);
  let stride = (N * dwp.d + 1u) * N;
  let out = wid.y * stride;
  if (t == nd4) {
    var s = vec3f(0.0);
    for (var r = r0; r < r1; r++) { s += dlogit_row(r); }
    for (var j = 0u; j < N; j++) { dwpart[out + N * dwp.d * N + j] = s[j]; }
    return;
  }
  let b = t / dwp.d4;
  let q = t % dwp.d4;
  // acc[k] = Σ_r z_b[r, 4q + k]·dlogit_r (one vec3 per W row).
  var a0 = vec3f(0.0);
  var a1 = vec3f(0.0);
  var a2 = vec3f(0.0);
  var a3 = vec3f(0.0);
  for (var r = r0; r < r1; r++) {
    let z = zval(b, r * dwp.d4 + q);
    let dl = dlogit_row(r);
    a0 += z.x * dl;
    a1 += z.y * dl;
    a2 += z.z * dl;
    a3 += z.w * dl;
  }
  let acc = array<vec3f, 4>(a0, a1, a2, a3);
  for (var k = 0u; k < 4u; k++) {
    let c = 4u * q + k;
    if (c < dwp.d) {
      let row = out + (b * dwp.d + c) * N;
      for (var j = 0u; j < N; j++) { dwpart[row + j] = acc[k][j]; }
    }
  }
}
