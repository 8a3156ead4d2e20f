// Row gather (embedding lookup) and its deterministic adjoint, the row scatter-add.
//
// Forward: one thread per COLS adjacent columns of an output row. An index outside [0, V) reads as
// a zero row (the index tensor has no CPU copy to validate; `indexTensor` checks on upload) and
// receives no gradient.
//
// Backward (DESIGN.md §3, no float atomics): the (index, position) pairs are sorted on the GPU
// (shaders/sort.wgsl), a CSR row pointer is found by binary search, and one thread per (row,
// COLS-column block) sums its run of gradient rows in position order — a fixed summation order, so
// the result is bit-identical run to run and rows no index touches get exact zeros.

override WG: u32 = 256;

// @include grid

const SENTINEL: u32 = 0xFFFFFFFFu;

// --------------------------------------------------------------------------------------------- gather

struct GatherParams {
  n: u32,       // output elements = indices · d
  d: u32,
  vocab: u32,
}
@group(0) @binding(0) var<uniform> gp: GatherParams;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> indices: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Columns per thread (1–4): one index read and one row offset serve COLS outputs.
override COLS: u32 = 4;

@compute @workgroup_size(WG)
fn gather_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = flat_index(gid, nwg);
  let cb = (gp.d + COLS - 1u) / COLS;    // column blocks per row
  let row = t / cb;
  if (row >= gp.n / gp.d) { return; }
  let c0 = (t - row * cb) * COLS;
  let v = indices[row];
  let nc = min(COLS, gp.d - c0);
  if (v < 0 || u32(v) >= gp.vocab) {
    for (var j = 0u; j < nc; j++) { out[row * gp.d + c0 + j] = 0.0; }
  } else {
    let src = u32(v) * gp.d + c0;
    for (var j = 0u; j < nc; j++) { out[row * gp.d + c0 + j] = table[src + j]; }
  }
}

// ------------------------------------------------------------------------------------ backward: keys

// pairs[i] = (index, i) for valid indices, (SENTINEL, i) for out-of-range ones and the padding.
struct KeysParams {
  n: u32,       // indices
  padded: u32,  // power of two ≥ n
  vocab: u32,
}
@group(0) @binding(0) var<uniform> kp: KeysParams;
@group(0) @binding(4) var<storage, read_write> pairs: array<vec2u>;

@compute @workgroup_size(WG)
fn make_pairs(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= kp.padded) { return; }
  var key = SENTINEL;
  if (i < kp.n) {
    let v = indices[i];
    if (v >= 0 && u32(v) < kp.vocab) { key = u32(v); }
  }
  pairs[i] = vec2u(key, i);
}

// ------------------------------------------------------------------------------- backward: row pointer

// rowptr[v] = first sorted position whose key is ≥ v, for v in [0, V]: row v's run is
// [rowptr[v], rowptr[v+1]). Sentinels sort last, so rowptr[V] counts the valid indices.
struct RowPtrParams {
  n: u32,       // sorted entries to search (the indices; the padding lies beyond)
  vocab: u32,
}
@group(0) @binding(0) var<uniform> rpp: RowPtrParams;
@group(0) @binding(5) var<storage, read> sorted: array<vec2u>;
@group(0) @binding(6) var<storage, read_write> rowptr_out: array<u32>;

@compute @workgroup_size(WG)
fn row_pointers(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let v = flat_index(gid, nwg);
  if (v > rpp.vocab) { return; }
  var lo = 0u;
  var hi = rpp.n;
  while (lo < hi) {
    let mid = lo + (hi - lo) / 2u;
    if (sorted[mid].x < v) { lo = mid + 1u; } else { hi = mid; }
  }
  rowptr_out[v] = lo;
}

// ------------------------------------------------------------------------------- backward: scatter-add

// gtable[v, c] = Σ over row v's run (ascending position p) of gy[p, c].
struct ScatterParams {
  n: u32,       // vocab · d
  d: u32,
}
@group(0) @binding(0) var<uniform> sp: ScatterParams;
@group(0) @binding(7) var<storage, read> rowptr: array<u32>;
@group(0) @binding(8) var<storage, read> gy: array<f32>;
@group(0) @binding(9) var<storage, read_write> gtable: array<f32>;

@compute @workgroup_size(WG)
fn scatter_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = flat_index(gid, nwg);
  let cb = (sp.d + COLS - 1u) / COLS;
  let v = t / cb;
  if (v >= sp.n / sp.d) { return; }
  let c0 = (t - v * cb) * COLS;
  let nc = min(COLS, sp.d - c0);
  var acc = vec4f(0.0);
  for (var k = rowptr[v]; k < rowptr[v + 1u]; k++) {
    let src = sorted[k].y * sp.d + c0;
    for (var j = 0u; j < nc; j++) {
      acc[j] += gy[src + j];
    }
  }
  for (var j = 0u; j < nc; j++) {
    gtable[v * sp.d + c0 + j] = acc[j];
  }
}
