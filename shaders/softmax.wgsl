// Softmax family over the last axis: softmax and log-softmax (LOG), forward and backward.
//
// Row kernels: T threads per row (a power of two), WG / T rows per workgroup (rows over a 2-D grid, so
// more than 65535 workgroups fit); the T threads stride over the row, so any row length works
// (1 … 20000+), and their partial results meet in a workgroup-memory tree over the row's T lanes.
// T = 1 is a thread per row with no barrier at all (what the CPU adapters want: see
// src/tensor/ops/reduce.ts rowConfig); T = WG is one workgroup per row.
//
// Forward is an online softmax (Milakov & Gimelshein 2018): each thread keeps a running
// (max, Σ exp(x − max)) over its elements, the pairs are merged, then a second pass writes the outputs:
// two reads of x instead of three, and exp never sees a positive argument, so logits of ±80 (or far
// beyond) give no Inf/NaN.

override WG: u32 = 256;
override T: u32 = 256;
override LOG: bool = false;

struct Params { rows: u32, d: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;

// Lowest finite f32 rather than -inf: max(m1, m2) − m then stays finite for empty partial sums.
const LOWEST: f32 = -3.4028234663852886e38;

@compute @workgroup_size(WG)
fn softmax_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x + wid.y * nwg.x) * (WG / T);
  if (first >= p.rows) { return; }
  let t = lid % T;
  let row = first + lid / T;
  let valid = row < p.rows;
  let base = row * p.d;
  var m = LOWEST;
  var s = 0.0;
  if (valid) {
    for (var k = t; k < p.d; k += T) {
      let v = x[base + k];
      if (v > m) {
        s = s * exp(m - v) + 1.0;
        m = v;
      } else {
        s += exp(v - m);
      }
    }
  }
  if (T > 1u) {
    red_m[lid] = m;
    red_s[lid] = s;
    workgroupBarrier();
    for (var h = T / 2u; h > 0u; h >>= 1u) {
      if (t < h) {
        let m1 = red_m[lid];
        let m2 = red_m[lid + h];
        let mm = max(m1, m2);
        red_s[lid] = red_s[lid] * exp(m1 - mm) + red_s[lid + h] * exp(m2 - mm);
        red_m[lid] = mm;
      }
      workgroupBarrier();
    }
    m = red_m[lid - t];
    s = red_s[lid - t];
  }
  if (!valid) { return; }
  if (LOG) {
    let shift = m + log(s);
    for (var k = t; k < p.d; k += T) { y[base + k] = x[base + k] - shift; }
  } else {
    let inv = 1.0 / s;
    for (var k = t; k < p.d; k += T) { y[base + k] = exp(x[base + k] - m) * inv; }
  }
}

// Backward from the saved output only:
//   softmax:     dx = y · (g − Σ g·y)
//   log-softmax: dx = g − exp(y) · Σ g
@group(0) @binding(3) var<storage, read> ys: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(WG)
fn softmax_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x + wid.y * nwg.x) * (WG / T);
  if (first >= p.rows) { return; }
  let t = lid % T;
  let row = first + lid / T;
  let valid = row < p.rows;
  let base = row * p.d;
  var acc = 0.0;
  if (valid) {
    for (var k = t; k < p.d; k += T) {
      if (LOG) { acc += g[base + k]; } else { acc += g[base + k] * ys[base + k]; }
    }
  }
  if (T > 1u) {
    red_s[lid] = acc;
    workgroupBarrier();
    for (var h = T / 2u; h > 0u; h >>= 1u) {
      if (t < h) { red_s[lid] += red_s[lid + h]; }
      workgroupBarrier();
    }
    acc = red_s[lid - t];
  }
  if (!valid) { return; }
  for (var k = t; k < p.d; k += T) {
    let yv = ys[base + k];
    if (LOG) { gx[base + k] = g[base + k] - exp(yv) * acc; } else { gx[base + k] = yv * (g[base + k] - acc); }
  }
}
