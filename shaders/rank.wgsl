// Full-catalog ranking for evaluation (issue 4 §2, DESIGN.md §6): the rank of each target item in a
// chunk of the [users, items] score matrix, and each user's top-k items. Only ranks / item ids leave the
// GPU; the score matrix never does.
//
// One thread per (user, target) resp. per user, looping over item ids in increasing order: no atomics,
// no barriers, no workgroup memory, and the result does not depend on the thread layout.
//
// Catalog slices: each dispatch covers item ids [j0, j1) and adds to the previous slices' result
// (kept in the output buffers), because llvmpipe (Mesa's gallivm loop limiter) silently stops a
// shader invocation's loops after ~65535 loop passes in total: measured here, a single loop over the
// catalog returned rank 16384 for a target that had 59999 items above it. src/train/metrics.ts sizes
// the slices well under that bound.
//
// Exclusions come as CSR per (user, target) row (src/train/metrics.ts merges the user's seen items
// and the user's other targets, sorted ascending, deduplicated, the row's own target removed), so the
// ascending item loop needs one pointer and one comparison per item, no inner loop; the pointer's
// start in a slice is found by binary search.
//
// Tie rule (rank_targets): rank = #candidates with a strictly higher score + #candidates with an equal
// score and a lower item id. A model that outputs one constant score then gets the rank "number of lower
// ids", not 0: constant or collapsed scores are not rewarded. NaN is treated pessimistically: a NaN
// target ranks last among the candidates; a NaN competitor counts as the lowest finite score.

override WG: u32 = 64;

fn is_nan(v: f32) -> bool {
  // Not `v != v`: compilers may assume no NaNs and fold it away.
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// The lowest finite f32 (a constant −inf is rejected by the WGSL front end).
const LOWEST: f32 = -3.4028234663852886e38;

// First position p in [a, b) with ex_items[p] >= j (b if none).
fn lower_bound(a: i32, b: i32, j: i32) -> i32 {
  var lo = a;
  var hi = b;
  while (lo < hi) {
    let mid = (lo + hi) / 2;
    if (ex_items[mid] < j) { lo = mid + 1; } else { hi = mid; }
  }
  return lo;
}

struct RankParams {
  nu: u32,   // users in this chunk
  t: u32,    // targets per user
  ni: u32,   // catalog size (row length of scores)
  u0: u32,   // first user of the chunk
  j0: u32,   // item slice [j0, j1)
  j1: u32,
  first: u32, // 1: this slice starts the sum
}
@group(0) @binding(0) var<uniform> rp: RankParams;
@group(0) @binding(1) var<storage, read> scores: array<f32>;     // [nu, ni], this chunk's rows
@group(0) @binding(2) var<storage, read> targets: array<i32>;    // [U·t]
@group(0) @binding(3) var<storage, read> ex_off: array<i32>;     // [rows + 1], rows = U·t (rank) or U (top-k)
@group(0) @binding(4) var<storage, read> ex_items: array<i32>;   // ascending, unique within each row
@group(0) @binding(5) var<storage, read_write> ranks: array<i32>; // [U·t]

@compute @workgroup_size(WG)
fn rank_targets(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WG + lid;  // (user in chunk) · t + target slot
  if (row >= rp.nu * rp.t) { return; }
  let ul = row / rp.t;
  let g = rp.u0 * rp.t + row;
  let tgt = targets[g];
  let base = ul * rp.ni;
  let st = scores[base + u32(tgt)];
  let pend = ex_off[g + 1u];
  var p = lower_bound(ex_off[g], pend, i32(rp.j0));
  var cand = 0;
  var better = 0;
  for (var j = i32(rp.j0); j < i32(rp.j1); j++) {
    if (p < pend && ex_items[p] == j) {
      p++;
      continue;
    }
    if (j == tgt) { continue; }
    cand++;
    var sj = scores[base + u32(j)];
    if (is_nan(sj)) { sj = LOWEST; }
    if (sj > st || (sj == st && j < tgt)) { better++; }
  }
  let add = select(better, cand, is_nan(st));
  if (rp.first != 0u) { ranks[g] = add; } else { ranks[g] = ranks[g] + add; }
}

// Top-k items per user, best first (score descending, ties → lower id); −1 marks empty slots (fewer
// non-excluded items than k). The sorted list lives in global memory ([U, k] ids and scores) and
// each catalog slice inserts into it; ids are visited upwards, so an item only displaces strictly
// lower scores and ties keep the lower id. (A 100-entry private-array version also returned wrong
// lists on llvmpipe for k = 100: the loop limiter again, the insertion shifts count as loop passes;
// the slices are sized for the worst case of k shifts per item.)
struct TopkParams {
  nu: u32,
  ni: u32,
  u0: u32,
  k: u32,
  j0: u32,
  j1: u32,
  first: u32,
}
@group(0) @binding(0) var<uniform> tp: TopkParams;
@group(0) @binding(6) var<storage, read_write> top: array<i32>;     // [U, k]
@group(0) @binding(7) var<storage, read_write> top_s: array<f32>;   // [U, k] their scores

@compute @workgroup_size(WG)
fn topk_items(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ul = (wid.x + wid.y * nwg.x) * WG + lid;
  if (ul >= tp.nu) { return; }
  let u = tp.u0 + ul;
  let base = ul * tp.ni;
  let o = u * tp.k;
  if (tp.first != 0u) {
    for (var s = 0u; s < tp.k; s++) {
      top[o + s] = -1;
      top_s[o + s] = LOWEST;
    }
  }
  let pend = ex_off[u + 1u];
  var p = lower_bound(ex_off[u], pend, i32(tp.j0));
  let last = o + tp.k - 1u;
  for (var j = i32(tp.j0); j < i32(tp.j1); j++) {
    if (p < pend && ex_items[p] == j) {
      p++;
      continue;
    }
    var sc = scores[base + u32(j)];
    if (is_nan(sc)) { sc = LOWEST; }
    if (top[last] >= 0 && !(sc > top_s[last])) { continue; }
    var pos = last;
    while (pos > o && (top[pos - 1u] < 0 || top_s[pos - 1u] < sc)) {
      top[pos] = top[pos - 1u];
      top_s[pos] = top_s[pos - 1u];
      pos--;
    }
    top[pos] = j;
    top_s[pos] = sc;
  }
}
