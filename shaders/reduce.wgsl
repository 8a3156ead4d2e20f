// Reduction family: sum (and mean, via `scale`) of a tensor viewed as [outer, r, inner] over r, and
// the backward that broadcasts the output gradient back over the reduced axes.
//
// Two forward kernels (src/tensor/ops/reduce.ts picks one per reduced axis group):
// - reduce_rows (inner == 1): T threads per (row, chunk) output, WG / T outputs per workgroup; the T
//   threads stride over the row, then a tree over their T lanes in workgroup memory. T = WG is one
//   workgroup per row (GPUs); T = 1 a thread per row without barriers (the CPU adapters, where a
//   barrier costs more than the arithmetic: see rowConfig in reduce.ts). T and WG: powers of two.
// - reduce_cols (inner > 1): one thread per (outer, chunk, inner) output, looping over r; adjacent
//   threads read adjacent addresses (coalesced over inner).
// Both split r into `chunks` pieces when there are too few outputs to keep the device busy (a
// reduce-all would otherwise be one workgroup, or one thread); the caller reduces the
// [outer, chunks, inner] partials again. Fixed summation order everywhere: results are deterministic.

override WG: u32 = 256;
override T: u32 = 256;

// ------------------------------------------------------------------------------------------- rows

struct RowParams {
  rows: u32,      // outputs: outer * chunks
  r: u32,
  chunks: u32,
  chunk_len: u32,
  scale: f32,
}
@group(0) @binding(0) var<uniform> rp: RowParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn reduce_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x + wid.y * nwg.x) * (WG / T);
  if (first >= rp.rows) { return; }
  let t = lid % T;
  let w = first + lid / T; // output index: row * chunks + chunk
  let valid = w < rp.rows;
  var acc = 0.0;
  if (valid) {
    let start = (w % rp.chunks) * rp.chunk_len;
    let end = min(rp.r, start + rp.chunk_len);
    let base = (w / rp.chunks) * rp.r;
    for (var k = start + t; k < end; k += T) {
      acc += x[base + k];
    }
  }
  if (T > 1u) {
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = T / 2u; s > 0u; s >>= 1u) {
      if (t < s) { partial[lid] += partial[lid + s]; }
      workgroupBarrier();
    }
    acc = partial[lid];
  }
  if (valid && t == 0u) { y[w] = acc * rp.scale; }
}

// ------------------------------------------------------------------------------------------- cols

struct ColParams {
  n: u32,         // outer * chunks * inner outputs
  r: u32,
  inner: u32,
  chunks: u32,
  chunk_len: u32,
  scale: f32,
}
@group(0) @binding(0) var<uniform> cp: ColParams;

@compute @workgroup_size(WG)
fn reduce_cols(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= cp.n) { return; }
  let j = i % cp.inner;
  let oc = i / cp.inner;
  let o = oc / cp.chunks;
  let start = (oc % cp.chunks) * cp.chunk_len;
  let end = min(cp.r, start + cp.chunk_len);
  var p = (o * cp.r + start) * cp.inner + j;
  var acc = 0.0;
  for (var k = start; k < end; k++) {
    acc += x[p];
    p += cp.inner;
  }
  y[i] = acc * cp.scale;
}

// --------------------------------------------------------------------------------------- backward

// gx[i] = g[index of i with the reduced coordinates dropped] · scale. `shape` is the input shape with
// adjacent same-kind axes merged; g_strides is 0 on reduced axes.
struct BackParams {
  n: u32,
  rank: u32,
  scale: f32,
  shape: array<vec4u, 2>,
  g_strides: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> bp: BackParams;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;

fn dim(v: array<vec4u, 2>, k: u32) -> u32 {
  return v[k / 4u][k % 4u];
}

@compute @workgroup_size(WG)
fn reduce_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= bp.n) { return; }
  var rem = i;
  var gi = 0u;
  for (var k = i32(bp.rank) - 1; k >= 0; k--) {
    let d = dim(bp.shape, u32(k));
    gi += (rem % d) * dim(bp.g_strides, u32(k));
    rem = rem / d;
  }
  gx[i] = g[gi] * bp.scale;
}
