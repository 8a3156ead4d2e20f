// MUFASA's regression losses (paper §3.1): L_cf (eq. 2, MSE to the CF embeddings) and L_cons (eq. 3,
// squared difference of pairwise cosine similarities over sampled pairs), forward and backward.
//
// One thread per row (mse_rows) or per pair (cons_forward) with no barriers: on the CPU adapters a
// barrier costs far more than a row's arithmetic (src/tensor/ops/reduce.ts, pickRowConfig), and both
// losses see only batch-sized N or P. The mean over rows/pairs is left to the deterministic reduce
// kernels (reduce.ts `mean`). Backward kernels are one thread per output element, no atomics: the
// consistency loss writes per-pair contributions [P, 2, d] that ops/losses.ts sums per row with the
// sorted scatterAddRows (gather.ts), so each row's gradient is summed in a fixed order.
//
// Pair sampling (ops/losses.ts and test/reference/losses.ts mirror it exactly, in integers): pair p
// uses stream words w0 = element offset + 2p and w1 = element offset + 2p + 1 of the Philox stream
// with key `seed` (shaders/rng.wgsl), and
//   i = ⌊w0·N / 2^32⌋,  j = (i + 1 + ⌊w1·(N − 1) / 2^32⌋) mod N,
// so i is uniform on [0, N) and j uniform on the other N − 1 rows (bias ≤ N/2^32), and i ≠ j always.

// @include rng

override WG: u32 = 256;

// @include grid

// ------------------------------------------------------------------------------------------- MSE

struct MseParams {
  rows: u32,
  d: u32,
}
@group(0) @binding(0) var<uniform> mp: MseParams;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> cf: array<f32>;
@group(0) @binding(3) var<storage, read_write> rowsq: array<f32>;

// rowsq[r] = ‖z_r − c_r‖² (c bound as `cf`: wgsl_reflect counts rng.wgsl's local `c` as a use of a
// module-scope `c`, which would make every entry point here demand it).
@compute @workgroup_size(WG)
fn mse_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = flat_index(gid, nwg);
  if (r >= mp.rows) { return; }
  let base = r * mp.d;
  var acc = 0.0;
  for (var k = 0u; k < mp.d; k++) {
    let v = z[base + k] - cf[base + k];
    acc += v * v;
  }
  rowsq[r] = acc;
}

// Backward: d/dz = gy·(2/N)·(z − c), d/dc = −d/dz.
struct MseBackParams {
  n: u32,       // elements N·d
  scale: f32,   // 2/N
}
@group(0) @binding(0) var<uniform> mb: MseBackParams;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> gz: array<f32>;
@group(0) @binding(6) var<storage, read_write> gc: array<f32>;

// SIGN = 1: gradient for z into gz; SIGN = −1: gradient for c into gz (when only one input needs it).
override SIGN: f32 = 1.0;

@compute @workgroup_size(WG)
fn mse_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = flat_index(gid, nwg);
  if (e >= mb.n) { return; }
  gz[e] = SIGN * gy[0] * mb.scale * (z[e] - cf[e]);
}

@compute @workgroup_size(WG)
fn mse_backward_both(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = flat_index(gid, nwg);
  if (e >= mb.n) { return; }
  let v = gy[0] * mb.scale * (z[e] - cf[e]);
  gz[e] = v;
  gc[e] = -v;
}

// ------------------------------------------------------------------------------------ consistency

struct ConsParams {
  npairs: u32,
  n: u32,         // rows N ≥ 2
  dz: u32,
  dt: u32,
  lane0: u32,     // offset mod 4
  block0: vec2u,  // ⌊offset/4⌋ as (lo, hi)
  key: vec2u,     // seed as (lo, hi)
  eps: f32,
}
@group(0) @binding(0) var<uniform> cp: ConsParams;
@group(0) @binding(7) var<storage, read> t: array<f32>;
@group(0) @binding(8) var<storage, read_write> pairs: array<i32>;
@group(0) @binding(9) var<storage, read_write> stats: array<vec4f>;
@group(0) @binding(10) var<storage, read_write> terms: array<f32>;

// (i, j) of pair p (rule in the header). Stream element k = lane0 + 2p relative to block0; the pair's
// two words share one Philox block unless k mod 4 = 3.
fn sample_pair(p: u32) -> vec2u {
  let k = cp.lane0 + 2u * p;
  let b = k / 4u;
  let lane = k % 4u;
  let w = rng_block(rng_add64(cp.block0, b), cp.key);
  let w0 = w[lane];
  var w1: u32;
  if (lane == 3u) {
    w1 = rng_block(rng_add64(cp.block0, b + 1u), cp.key).x;
  } else {
    w1 = w[lane + 1u];
  }
  let i = philox_mulhilo(w0, cp.n).x;
  let j = (i + 1u + philox_mulhilo(w1, cp.n - 1u).x) % cp.n;
  return vec2u(i, j);
}

@compute @workgroup_size(WG)
fn sample_pairs(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = flat_index(gid, nwg);
  if (p >= cp.npairs) { return; }
  let ij = sample_pair(p);
  pairs[2u * p] = i32(ij.x);
  pairs[2u * p + 1u] = i32(ij.y);
}

// Per pair: sample (i, j), cos_z = z_i·z_j / (max(‖z_i‖, eps)·max(‖z_j‖, eps)), the same for t, and
// terms[p] = (cos_z − cos_t)². stats[2p] = (‖z_i‖, ‖z_j‖, cos_z, cos_z − cos_t), stats[2p + 1] the same
// for t: all that backward needs besides the rows themselves.
@compute @workgroup_size(WG)
fn cons_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = flat_index(gid, nwg);
  if (p >= cp.npairs) { return; }
  let ij = sample_pair(p);
  pairs[2u * p] = i32(ij.x);
  pairs[2u * p + 1u] = i32(ij.y);

  var sz = vec3f(0.0);  // (a·a, b·b, a·b)
  let zi = ij.x * cp.dz;
  let zj = ij.y * cp.dz;
  for (var k = 0u; k < cp.dz; k++) {
    let a = z[zi + k];
    let b = z[zj + k];
    sz += vec3f(a * a, b * b, a * b);
  }
  var st = vec3f(0.0);
  let ti = ij.x * cp.dt;
  let tj = ij.y * cp.dt;
  for (var k = 0u; k < cp.dt; k++) {
    let a = t[ti + k];
    let b = t[tj + k];
    st += vec3f(a * a, b * b, a * b);
  }
  let nz = sqrt(sz.xy);
  let nt = sqrt(st.xy);
  let cz = sz.z / (max(nz.x, cp.eps) * max(nz.y, cp.eps));
  let ct = st.z / (max(nt.x, cp.eps) * max(nt.y, cp.eps));
  let diff = cz - ct;
  terms[p] = diff * diff;
  stats[2u * p] = vec4f(nz, cz, diff);
  stats[2u * p + 1u] = vec4f(nt, ct, diff);
}

// Backward, one thread per row (p, s) of contrib [P, 2, d]: row `me` = pairs[p][s] of x (z for
// SIDE 0, t for SIDE 1) receives gy·scale·(±diff)·∂cos/∂x_me, with
//   ∂cos/∂a = (b/n_b − cos·a/n_a) / n_a   for ‖a‖ > eps  (n = max(‖·‖, eps)),
//   ∂cos/∂a = (b/n_b) / eps                 otherwise (n_a is the constant eps there),
// i.e. contrib = α·x_other + β·x_me with two per-row coefficients. A thread per row rather than per
// element (which redid the stats loads and divisions d times): measured here, N = P = 4096, d_z = 64,
// d_t = 768, forward + backward to z, median of 5 on a shared 2-core machine: llvmpipe-GL 29.0/35.1 ms
// per element against 23.3/28.4 ms per row; SwiftShader 105 against 84 ms.
struct ConsBackParams {
  rows: u32,    // 2P
  d: u32,
  eps: f32,
  scale: f32,   // 2/P
}
@group(0) @binding(0) var<uniform> cb: ConsBackParams;
@group(0) @binding(11) var<storage, read> x: array<f32>;
@group(0) @binding(12) var<storage, read> stats_in: array<vec4f>;
@group(0) @binding(13) var<storage, read> pairs_in: array<i32>;
@group(0) @binding(14) var<storage, read_write> contrib: array<f32>;

// 0: gradient for z (+diff); 1: for t (−diff, and t's norms and cosine).
override SIDE: u32 = 0;

@compute @workgroup_size(WG)
fn cons_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let ps = flat_index(gid, nwg);
  if (ps >= cb.rows) { return; }
  let p = ps / 2u;
  let s = ps % 2u;
  let st = stats_in[2u * p + SIDE];
  let me = u32(pairs_in[ps]) * cb.d;
  let other = u32(pairs_in[2u * p + 1u - s]) * cb.d;
  let raw_me = select(st.x, st.y, s == 1u);
  let raw_other = select(st.y, st.x, s == 1u);
  let n_me = max(raw_me, cb.eps);
  let n_other = max(raw_other, cb.eps);
  let coef = select(1.0, -1.0, SIDE == 1u) * gy[0] * cb.scale * st.w / n_me;
  let alpha = coef / n_other;
  let beta = select(0.0, -coef * st.z / n_me, raw_me > cb.eps);
  let ob = ps * cb.d;
  for (var k = 0u; k < cb.d; k++) {
    contrib[ob + k] = alpha * x[other + k] + beta * x[me + k];
  }
}
