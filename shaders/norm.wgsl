// Normalisation family over the last axis: L2 normalisation and layer norm, forward and backward.
//
// Row kernels: T threads per row striding over it, WG / T rows per workgroup (rows over a 2-D grid),
// a workgroup-memory tree over each row's T lanes for the row sums; T = 1 (the CPU adapters) needs no
// barrier, T = WG is one workgroup per row (see rowConfig in src/tensor/ops/reduce.ts); both powers
// of two. Layer norm's parameter gradients are column sums over rows: one thread per (row chunk, column), looping over its rows in order —
// deterministic, no atomics; the caller sums the [chunks, d] partials with the reduce family.

override WG: u32 = 256;
override T: u32 = 256;

struct RowParams { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: RowParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;

var<workgroup> red: array<vec2f, WG>;

/** Sum of `v` over the T lanes of this thread's row (two sums at once); each lane gets the result. */
fn row_sum2(lid: u32, v: vec2f) -> vec2f {
  if (T == 1u) { return v; }
  workgroupBarrier(); // earlier readers of red[] are done
  red[lid] = v;
  workgroupBarrier();
  let t = lid % T;
  for (var h = T / 2u; h > 0u; h >>= 1u) {
    if (t < h) { red[lid] += red[lid + h]; }
    workgroupBarrier();
  }
  return red[lid - t];
}

struct Row { row: u32, t: u32, valid: bool }

/** First row of this workgroup (uniform: a whole workgroup past the last row returns at once). */
fn first_row(wid: vec3u, nwg: vec3u) -> u32 {
  return (wid.x + wid.y * nwg.x) * (WG / T);
}

// ----------------------------------------------------------------------------------- L2 normalise

// y = x / max(‖x‖, eps)
@compute @workgroup_size(WG)
fn l2_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = first_row(wid, nwg);
  if (first >= p.rows) { return; }
  let r = Row(first + lid / T, lid % T, first + lid / T < p.rows);
  let base = r.row * p.d;
  var ss = 0.0;
  if (r.valid) {
    for (var k = r.t; k < p.d; k += T) {
      let v = x[base + k];
      ss += v * v;
    }
  }
  let inv = 1.0 / max(sqrt(row_sum2(lid, vec2f(ss, 0.0)).x), p.eps);
  if (!r.valid) { return; }
  for (var k = r.t; k < p.d; k += T) { y[base + k] = x[base + k] * inv; }
}

// From x (saved; the norm is recomputed rather than stored): with n = ‖x‖,
//   n > eps: dx = (g − y·(g·y)) / n = (g − x·(g·x)/n²) / n;   else y = x/eps and dx = g / eps.
@compute @workgroup_size(WG)
fn l2_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = first_row(wid, nwg);
  if (first >= p.rows) { return; }
  let r = Row(first + lid / T, lid % T, first + lid / T < p.rows);
  let base = r.row * p.d;
  var acc = vec2f(0.0);
  if (r.valid) {
    for (var k = r.t; k < p.d; k += T) {
      let v = x[base + k];
      acc += vec2f(v * v, v * g[base + k]);
    }
  }
  let s = row_sum2(lid, acc);
  if (!r.valid) { return; }
  let n = sqrt(s.x);
  if (n > p.eps) {
    let inv = 1.0 / n;
    let c = s.y * inv * inv;
    for (var k = r.t; k < p.d; k += T) { gx[base + k] = (g[base + k] - x[base + k] * c) * inv; }
  } else {
    let inv = 1.0 / p.eps;
    for (var k = r.t; k < p.d; k += T) { gx[base + k] = g[base + k] * inv; }
  }
}

// ------------------------------------------------------------------------------------- layer norm

@group(0) @binding(5) var<storage, read> gamma: array<f32>;
@group(0) @binding(6) var<storage, read> beta: array<f32>;
// Per-row (mean, rstd), written by the forward for the backward.
@group(0) @binding(7) var<storage, read_write> stats: array<vec2f>;
@group(0) @binding(8) var<storage, read> st: array<vec2f>;

// Two-pass mean and variance (the row is re-read from cache): Σ(x − mean)² does not cancel the way
// Σx² − d·mean² does for rows with a large mean.
@compute @workgroup_size(WG)
fn ln_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = first_row(wid, nwg);
  if (first >= p.rows) { return; }
  let r = Row(first + lid / T, lid % T, first + lid / T < p.rows);
  let base = r.row * p.d;
  let fd = f32(p.d);
  var s = 0.0;
  if (r.valid) {
    for (var k = r.t; k < p.d; k += T) { s += x[base + k]; }
  }
  let mean = row_sum2(lid, vec2f(s, 0.0)).x / fd;
  var q = 0.0;
  if (r.valid) {
    for (var k = r.t; k < p.d; k += T) {
      let c = x[base + k] - mean;
      q += c * c;
    }
  }
  let rstd = inverseSqrt(row_sum2(lid, vec2f(q, 0.0)).x / fd + p.eps);
  if (!r.valid) { return; }
  for (var k = r.t; k < p.d; k += T) {
    y[base + k] = (x[base + k] - mean) * rstd * gamma[k] + beta[k];
  }
  if (r.t == 0u) { stats[r.row] = vec2f(mean, rstd); }
}

// dx = rstd · (dy − mean(dy) − x̂ · mean(dy · x̂)), dy = g · gamma, x̂ = (x − mean) · rstd
@compute @workgroup_size(WG)
fn ln_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = first_row(wid, nwg);
  if (first >= p.rows) { return; }
  let r = Row(first + lid / T, lid % T, first + lid / T < p.rows);
  let base = r.row * p.d;
  var ms = vec2f(0.0);
  var acc = vec2f(0.0);
  if (r.valid) {
    ms = st[r.row];
    for (var k = r.t; k < p.d; k += T) {
      let dy = g[base + k] * gamma[k];
      acc += vec2f(dy, dy * (x[base + k] - ms.x) * ms.y);
    }
  }
  let s = row_sum2(lid, acc) / f32(p.d);
  if (!r.valid) { return; }
  for (var k = r.t; k < p.d; k += T) {
    let xh = (x[base + k] - ms.x) * ms.y;
    gx[base + k] = ms.y * (g[base + k] * gamma[k] - s.x - xh * s.y);
  }
}

// dgamma[j] = Σ_rows g·x̂, dbeta[j] = Σ_rows g, over the rows of chunk c (output [chunks, d]).
struct ParamGradParams { rows: u32, d: u32, chunks: u32, chunk_rows: u32 }
@group(0) @binding(0) var<uniform> pp: ParamGradParams;
@group(0) @binding(9) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(10) var<storage, read_write> dbeta: array<f32>;

@compute @workgroup_size(WG)
fn ln_backward_params(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= pp.chunks * pp.d) { return; }
  let j = i % pp.d;
  let r0 = (i / pp.d) * pp.chunk_rows;
  let r1 = min(pp.rows, r0 + pp.chunk_rows);
  var dg = 0.0;
  var db = 0.0;
  for (var r = r0; r < r1; r++) {
    let ms = st[r];
    let gv = g[r * pp.d + j];
    dg += gv * (x[r * pp.d + j] - ms.x) * ms.y;
    db += gv;
  }
  dgamma[i] = dg;
  dbeta[i] = db;
}
