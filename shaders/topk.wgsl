// Top-k block selection for selective attention (MUFASA §3.2.3, eq. 10): for each query t, the k
// visible blocks ((b+1)·bs ≤ t) with the highest scores q_t·kb_b, best first. Softmax and the 1/√d
// scale are monotonic, so these are also the blocks with the highest attention weights, and neither
// is computed. Ties go to the earlier block: blocks are scanned in increasing order and a block only
// displaces strictly smaller scores. −1 fills the list when fewer than k blocks are visible, and for
// padding queries.
//
// One thread per query with its list in private arrays (k ≤ KCAP, a small insertion sort), rows read
// from global memory: no barriers, no row arrays (see shaders/sparse_attention.wgsl for both whys).

override WG: u32 = 64;
override LAST_ONLY: bool = false;
override K: u32 = 1u;
const KCAP: u32 = 32u;
const LOWEST: f32 = -3.4028234663852886e38;

struct Params {
  nq: u32,    // B · Lq
  lq: u32,
  nb: u32,    // blocks per sequence
  d: u32,
  lmax: u32,
  bs: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kb: array<f32>;
@group(0) @binding(3) var<storage, read> lens: array<i32>;
@group(0) @binding(4) var<storage, read_write> sel_out: array<i32>;

@compute @workgroup_size(WG)
fn topk_blocks(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WG + lid;
  if (row >= p.nq) { return; }
  let b = row / p.lq;
  let len = clamp(lens[b], 0, i32(p.lmax));
  var t = len - 1;
  if (!LAST_ONLY) { t = select(-1, i32(row % p.lq), i32(row % p.lq) < len); }
  var nvis = 0;
  if (t >= 0) { nvis = min(t / i32(p.bs), i32(p.nb)); }
  var vals: array<f32, KCAP>;
  var idx: array<i32, KCAP>;
  for (var s = 0u; s < K; s++) {
    vals[s] = LOWEST;
    idx[s] = -1;
  }
  var count = 0u;
  for (var blk = 0; blk < nvis; blk++) {
    let base = (b * p.nb + u32(blk)) * p.d;
    var sc = 0.0;
    for (var c = 0u; c < p.d; c++) { sc += q[row * p.d + c] * kb[base + c]; }
    if (count == K && !(sc > vals[K - 1u])) { continue; }
    // Shift the strictly smaller tail down one place and insert.
    var pos = min(count, K - 1u);
    while (pos > 0u && vals[pos - 1u] < sc) {
      vals[pos] = vals[pos - 1u];
      idx[pos] = idx[pos - 1u];
      pos--;
    }
    vals[pos] = sc;
    idx[pos] = blk;
    count = min(count + 1u, K);
  }
  for (var s = 0u; s < K; s++) { sel_out[row * K + s] = idx[s]; }
}
