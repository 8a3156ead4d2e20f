// Fused InfoNCE / sampled-softmax cross-entropy (src/tensor/ops/infonce.ts), forward and backward.
//
//   s_ij = â_i·ĉ_j / τ − logQ_j,   ℓ_i = −s_{i,pos_i} + log Σ_{j unmasked} exp(s_ij)
//
// â = a/‖a‖ and ĉ = c̃/‖c̃‖ with cosine (else a, c̃), c̃_j = c_j + σ·ε_j (ε from the Philox stream).
// Inf-CL / cut-cross-entropy structure: the N×M score matrix never exists. Two prep kernels write the
// scaled rows Â = â/τ [N, D4] and ĉ [M, D4] as zero-padded vec4 rows (any d reads as whole vec4s)
// plus small per-row/per-column records; the forward keeps an online (max, Σexp) per row
// (Milakov & Gimelshein 2018); the backward recomputes each score from the stored lse:
//   dℓ/ds_ij = g_i·(p_ij − [j = pos_i]),  p_ij = exp(s_ij − lse_i)
// once per row (d anchors: a thread loops over the columns) and once per column (d candidates: a
// thread loops over the rows) — no atomics, each output summed in a fixed order.
//
// This file's score kernels are the fallback for d > 128 (infonce.ts); d ≤ 128 takes the tiled kernels
// of infonce_tiled.wgsl (8 rows or columns per thread), which share its prep kernels and bindings.
// One thread per row / column, no barriers: what the CPU adapters want (src/tensor/ops/reduce.ts
// pickRowConfig has the measurements). The query row and the accumulator live in private
// array<vec4f, D4> with D4 = ⌈d/4⌉ an override constant, so loops over them have constant bounds.

// @include rng
// (Globals are not named a, b, c, k: wgsl_reflect takes rng.wgsl's parameters of those names for
// uses of the global and would ask every entry point for it.)

override WG: u32 = 64;
override D4: u32 = 1;
override COSINE: bool = true;
override HAS_POS: bool = false;
override HAS_LOGQ: bool = false;
// MASK: candidate ids given; HAS_AKEY: anchor ids given (else a row's key is its positive's id).
override MASK: bool = false;
override HAS_AKEY: bool = false;
override NOISE: bool = false;

struct Params {
  n: u32,
  m: u32,
  d: u32,
  inv_tau: f32,
  tau: f32,
  eps: f32,
  sigma: f32,
  lane0: u32,       // noise stream offset mod 4
  block0: vec2u,    // ⌊offset/4⌋ as (lo, hi)
  key: vec2u,       // seed as (lo, hi)
  lo: u32,          // forward: this dispatch's candidates [lo, hi) (see LOOP LIMIT below)
  hi: u32,
}
@group(0) @binding(0) var<uniform> p: Params;

struct RowInfo {
  norm: f32,   // ‖a_i‖ (cosine)
  pos: u32,
  key: i32,
  pad: u32,
}
struct ColInfo {
  norm: f32,   // ‖c̃_j‖ (cosine)
  logq: f32,
  key: i32,
  pad: u32,
}

// Lowest finite f32 rather than -inf: exp(m_old − m_new) stays finite before the first score.
const LOWEST: f32 = -3.4028234663852886e38;

fn thread_index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// ------------------------------------------------------------------------------------------- prep

@group(0) @binding(1) var<storage, read> anc: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<i32>;
@group(0) @binding(3) var<storage, read> akey: array<i32>;
@group(0) @binding(4) var<storage, read> ckey: array<i32>;
@group(0) @binding(5) var<storage, read_write> ahat_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rinfo_out: array<RowInfo>;

@compute @workgroup_size(WG)
fn prep_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let base = i * p.d;
  var ss = 0.0;
  for (var k = 0u; k < p.d; k++) {
    let v = anc[base + k];
    ss += v * v;
  }
  let norm = sqrt(ss);
  var scale = p.inv_tau;
  if (COSINE) { scale = p.inv_tau / max(norm, p.eps); }
  let ob = i * D4 * 4u;
  for (var k = 0u; k < D4 * 4u; k++) {
    var v = 0.0;
    if (k < p.d) { v = anc[base + k] * scale; }
    ahat_out[ob + k] = v;
  }
  var pi = i;
  if (HAS_POS) { pi = u32(pos[i]); }
  var key = 0;
  if (MASK) {
    if (HAS_AKEY) { key = akey[i]; } else { key = ckey[min(pi, p.m - 1u)]; }
  }
  rinfo_out[i] = RowInfo(norm, pi, key, 0u);
}

@group(0) @binding(7) var<storage, read> cand: array<f32>;
@group(0) @binding(8) var<storage, read> logq: array<f32>;
@group(0) @binding(9) var<storage, read_write> chat_out: array<f32>;
@group(0) @binding(10) var<storage, read_write> cinfo_out: array<ColInfo>;

// c̃_j = c_j + σ·ε_j, ε element k of row j = stream element offset + j·d + k (the randNormal convention
// of src/tensor/ops/dropout.ts, so randNormal([M, d], seed, offset)·σ is exactly the perturbation).
// Written unnormalised first, then scaled in place: the noise is drawn once per element.
@compute @workgroup_size(WG)
fn prep_cols(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = thread_index(gid, nwg);
  if (j >= p.m) { return; }
  let base = j * p.d;
  let ob = j * D4 * 4u;
  for (var k = 0u; k < p.d; k++) { chat_out[ob + k] = cand[base + k]; }
  for (var k = p.d; k < D4 * 4u; k++) { chat_out[ob + k] = 0.0; }
  if (NOISE && p.d > 0u) {
    let e0 = p.lane0 + base;
    for (var b = e0 / 4u; b <= (e0 + p.d - 1u) / 4u; b++) {
      let z = rng_normal4(rng_add64(p.block0, b), p.key);
      for (var l = 0u; l < 4u; l++) {
        let e = 4u * b + l;
        if (e >= e0 && e < e0 + p.d) { chat_out[ob + e - e0] += p.sigma * z[l]; }
      }
    }
  }
  var ss = 0.0;
  for (var k = 0u; k < p.d; k++) {
    let v = chat_out[ob + k];
    ss += v * v;
  }
  let norm = sqrt(ss);
  if (COSINE) {
    let inv = 1.0 / max(norm, p.eps);
    for (var k = 0u; k < p.d; k++) { chat_out[ob + k] *= inv; }
  }
  var lq = 0.0;
  if (HAS_LOGQ) { lq = logq[j]; }
  var key = 0;
  if (MASK) { key = ckey[j]; }
  cinfo_out[j] = ColInfo(norm, lq, key, 0u);
}

// ---------------------------------------------------------------------------------------- forward

@group(0) @binding(11) var<storage, read> ahat: array<vec4f>;
@group(0) @binding(12) var<storage, read> chat: array<vec4f>;
@group(0) @binding(13) var<storage, read> rinfo: array<RowInfo>;
@group(0) @binding(14) var<storage, read> cinfo: array<ColInfo>;
@group(0) @binding(15) var<storage, read_write> loss: array<f32>;
@group(0) @binding(16) var<storage, read_write> lse_out: array<f32>;

// A candidate that is not the row's positive but has the positive's id is not a negative.
fn masked(j: u32, ri: RowInfo, cj: ColInfo) -> bool {
  return MASK && j != ri.pos && cj.key == ri.key;
}

// The one score formula every kernel uses, so the backward recomputes exactly the forward's values.
fn score(i: u32, j: u32, cj: ColInfo) -> f32 {
  var t = vec4f(0.0);
  for (var k = 0u; k < D4; k++) { t = fma(ahat[i * D4 + k], chat[j * D4 + k], t); }
  return (t.x + t.y) + (t.z + t.w) - cj.logq;
}

// The same score with this thread's row of Â (QREG) or column of ĉ (QREG in backward_cols) held in
// a private array: measured on llvmpipe, 1024×1024×128 forward, ~80 ms against 130–200 ms reading it
// from memory for every candidate (2 cores shared with other jobs: noisy). Same fma order as score(),
// so the backward recomputes the forward's values exactly.
const MAXQ: u32 = 32u;
override QREG: bool = false;

fn score_rq(q: ptr<function, array<vec4f, MAXQ>>, j: u32, cj: ColInfo) -> f32 {
  var t = vec4f(0.0);
  for (var k = 0u; k < D4; k++) { t = fma((*q)[k], chat[j * D4 + k], t); }
  return (t.x + t.y) + (t.z + t.w) - cj.logq;
}

fn score_cq(q: ptr<function, array<vec4f, MAXQ>>, i: u32, cj: ColInfo) -> f32 {
  var t = vec4f(0.0);
  for (var k = 0u; k < D4; k++) { t = fma(ahat[i * D4 + k], (*q)[k], t); }
  return (t.x + t.y) + (t.z + t.w) - cj.logq;
}

// LOOP LIMIT: Mesa llvmpipe stops a shader invocation's loops after 65535 iterations in all
// (gallivm's loop limiter counts every non-unrolled loop's iterations together, per invocation;
// measured: two sequential loops of 32768 + 37232 stop at 65534, nested loops likewise), silently.
// So the loops over M (forward, backward_rows) and N (backward_cols) cover [lo, hi) per dispatch,
// ≤ 32768 each (infonce.ts LOOP_CHUNK), the running state carried between dispatches in a buffer
// owned by the same thread: the same operations in the same order, so bit-identical to one pass.
@group(0) @binding(25) var<storage, read_write> fstate: array<vec4f>;

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = thread_index(gid, nwg);
  if (i >= p.n) { return; }
  let ri = rinfo[i];
  var mx = LOWEST;
  var s = 0.0;
  var spos = 0.0;
  if (p.lo > 0u) {
    let st = fstate[i];
    mx = st.x;
    s = st.y;
    spos = st.z;
  }
  var q: array<vec4f, MAXQ>;
  if (QREG) { for (var k = 0u; k < D4; k++) { q[k] = ahat[i * D4 + k]; } }
  for (var j = p.lo; j < p.hi; j++) {
    let cj = cinfo[j];
    if (masked(j, ri, cj)) { continue; }
    var sc: f32;
    if (QREG) { sc = score_rq(&q, j, cj); } else { sc = score(i, j, cj); }
    if (j == ri.pos) { spos = sc; }
    if (sc > mx) {
      s = s * exp(mx - sc) + 1.0;
      mx = sc;
    } else {
      s += exp(sc - mx);
    }
  }
  if (p.hi < p.m) {
    fstate[i] = vec4f(mx, s, spos, 0.0);
    return;
  }
  let l = mx + log(s);
  lse_out[i] = l;
  loss[i] = l - spos;
}

// --------------------------------------------------------------------------------------- backward
//
// The accumulator is a private array of MAXKC vec4s (WGSL has no override-sized private arrays): a
// dispatch covers vec4 columns [K0, K0 + KC) of d, KC ≤ MAXKC an override constant so the loops have
// constant bounds. d ≤ 4·MAXKC = 128 is one dispatch with the normalisation backward fused (EPI);
// a wider d takes ⌈d/128⌉ dispatches that write the gradient w.r.t. the normalised rows, and the
// caller finishes with l2Normalize's backward kernel (the x̂·dx̂ dot spans all chunks).

const MAXKC: u32 = 32u;
override KC: u32 = 1;
// First vec4 column of this dispatch, a constant rather than a uniform so the accumulator loops
// unroll and their bounds tests fold: llvmpipe 1024×1024×128 forward+backward 0.76–1.34 s with a
// uniform k0, 0.31 s with K0.
override K0: u32 = 0;
override EPI: bool = false;

struct BwdParams {
  n: u32,
  m: u32,
  d: u32,
  inv_tau: f32,
  tau: f32,
  eps: f32,
  lo: u32,   // this dispatch's [lo, hi) of the long loop (M for rows, N for cols): LOOP LIMIT
  hi: u32,
}
@group(0) @binding(0) var<uniform> bp: BwdParams;
// The accumulators between dispatches of one long loop: [rows, D4] vec4s.
@group(0) @binding(26) var<storage, read_write> bstate: array<vec4f>;

@group(0) @binding(17) var<storage, read> g: array<f32>;
@group(0) @binding(18) var<storage, read> lse: array<f32>;
@group(0) @binding(19) var<storage, read_write> da: array<f32>;

// x̂ = x/max(n, eps): dx = (dx̂ − x̂·(x̂·dx̂))/n for n > eps, else dx̂/eps (as l2Normalize's backward).
// d anchors: dÂ_i = Σ_j w_ij ĉ_j, w_ij = g_i(p_ij − [j = pos_i]); dâ = dÂ/τ.
@compute @workgroup_size(WG)
fn backward_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = thread_index(gid, nwg);
  if (i >= bp.n) { return; }
  var acc: array<vec4f, MAXKC>;
  for (var k = 0u; k < KC; k++) { acc[k] = vec4f(0.0); }
  let ri = rinfo[i];
  let gi = g[i];
  let li = lse[i];
  var q: array<vec4f, MAXQ>;
  if (QREG) { for (var k = 0u; k < D4; k++) { q[k] = ahat[i * D4 + k]; } }
  if (bp.lo > 0u) {
    for (var k = 0u; k < KC; k++) {
      let kk = K0 + k;
      if (kk < D4) { acc[k] = bstate[i * D4 + kk]; }
    }
  }
  for (var j = bp.lo; j < bp.hi; j++) {
    let cj = cinfo[j];
    if (masked(j, ri, cj)) { continue; }
    var sc: f32;
    if (QREG) { sc = score_rq(&q, j, cj); } else { sc = score(i, j, cj); }
    let w = gi * (exp(sc - li) - select(0.0, 1.0, j == ri.pos));
    for (var k = 0u; k < KC; k++) {
      let kk = K0 + k;
      if (kk < D4) { acc[k] = fma(vec4f(w), chat[j * D4 + kk], acc[k]); }
    }
  }
  if (bp.hi < bp.m) {
    for (var k = 0u; k < KC; k++) {
      let kk = K0 + k;
      if (kk < D4) { bstate[i * D4 + kk] = acc[k]; }
    }
    return;
  }
  var dot_xg = 0.0;
  if (EPI) {
    for (var k = 0u; k < KC; k++) { dot_xg += dot(ahat[i * D4 + k] * bp.tau, acc[k] * bp.inv_tau); }
  }
  let ob = i * bp.d;
  for (var k = 0u; k < KC; k++) {
    let kk = K0 + k;
    if (kk >= D4) { break; }
    var v = acc[k] * bp.inv_tau;
    if (EPI) {
      let xn = ahat[i * D4 + kk] * bp.tau;
      if (ri.norm > bp.eps) { v = (v - xn * dot_xg) / ri.norm; } else { v = v / bp.eps; }
    }
    for (var l = 0u; l < 4u; l++) {
      if (4u * kk + l < bp.d) { da[ob + 4u * kk + l] = v[l]; }
    }
  }
}

@group(0) @binding(20) var<storage, read_write> dc: array<f32>;

// d candidates: dĉ_j = Σ_i w_ij Â_i; then through the normalisation of c̃ (dc = dc̃: ε has no gradient).
@compute @workgroup_size(WG)
fn backward_cols(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = thread_index(gid, nwg);
  if (j >= bp.m) { return; }
  var acc: array<vec4f, MAXKC>;
  for (var k = 0u; k < KC; k++) { acc[k] = vec4f(0.0); }
  let cj = cinfo[j];
  var q: array<vec4f, MAXQ>;
  if (QREG) { for (var k = 0u; k < D4; k++) { q[k] = chat[j * D4 + k]; } }
  if (bp.lo > 0u) {
    for (var k = 0u; k < KC; k++) {
      let kk = K0 + k;
      if (kk < D4) { acc[k] = bstate[j * D4 + kk]; }
    }
  }
  for (var i = bp.lo; i < bp.hi; i++) {
    let ri = rinfo[i];
    if (masked(j, ri, cj)) { continue; }
    var sc: f32;
    if (QREG) { sc = score_cq(&q, i, cj); } else { sc = score(i, j, cj); }
    let w = g[i] * (exp(sc - lse[i]) - select(0.0, 1.0, j == ri.pos));
    for (var k = 0u; k < KC; k++) {
      let kk = K0 + k;
      if (kk < D4) { acc[k] = fma(vec4f(w), ahat[i * D4 + kk], acc[k]); }
    }
  }
  if (bp.hi < bp.n) {
    for (var k = 0u; k < KC; k++) {
      let kk = K0 + k;
      if (kk < D4) { bstate[j * D4 + kk] = acc[k]; }
    }
    return;
  }
  var dot_xg = 0.0;
  if (EPI) {
    for (var k = 0u; k < KC; k++) { dot_xg += dot(chat[j * D4 + k], acc[k]); }
  }
  let ob = j * bp.d;
  for (var k = 0u; k < KC; k++) {
    let kk = K0 + k;
    if (kk >= D4) { break; }
    var v = acc[k];
    if (EPI) {
      if (cj.norm > bp.eps) { v = (v - chat[j * D4 + kk] * dot_xg) / cj.norm; } else { v = v / bp.eps; }
    }
    for (var l = 0u; l < 4u; l++) {
      if (4u * kk + l < bp.d) { dc[ob + 4u * kk + l] = v[l]; }
    }
  }
}

// Wide d (chunked backward, cosine): dx from dx̂ for one row, x̂ = scale·xh (scale = τ for Â, 1 for ĉ),
// n = info.x (the stored norm).
struct FinParams {
  rows: u32,
  d: u32,
  scale: f32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> fp: FinParams;
@group(0) @binding(21) var<storage, read> xh: array<f32>;
@group(0) @binding(22) var<storage, read> info: array<vec4f>;
@group(0) @binding(23) var<storage, read> graw: array<f32>;
@group(0) @binding(24) var<storage, read_write> gout: array<f32>;

@compute @workgroup_size(WG)
fn finish_norm(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = thread_index(gid, nwg);
  if (r >= fp.rows) { return; }
  let xb = r * D4 * 4u;
  let gb = r * fp.d;
  var dot_xg = 0.0;
  for (var k = 0u; k < fp.d; k++) { dot_xg += xh[xb + k] * fp.scale * graw[gb + k]; }
  let n = info[r].x;
  for (var k = 0u; k < fp.d; k++) {
    if (n > fp.eps) {
      gout[gb + k] = (graw[gb + k] - xh[xb + k] * fp.scale * dot_xg) / n;
    } else {
      gout[gb + k] = graw[gb + k] / fp.eps;
    }
  }
}

// The tiled kernels (the default for d ≤ 128) are in infonce_tiled.wgsl, built through infonce_t4/8/16/32.
