// Bitonic sort of (key, position) pairs, one dispatch per (k, j) stage: the deterministic way to group
// equal keys without atomics (DESIGN.md §3: no float atomics; scatter-adds sum per destination in a
// fixed order). Pairs compare lexicographically, so equal keys end up ordered by position and every
// pair is distinct (an unstable sort is then as good as a stable one). The caller pads the array to a
// power of two with sentinel keys 0xFFFFFFFF, which sort last.
//
// Each stage is a fixed compare-exchange network (no data-dependent control flow), all stages go into
// the same open compute pass, no CPU waits. The stages whose compare distance j is below one
// workgroup's block (2·WG pairs) stay inside that block, so bitonic_local runs a whole run of them in
// workgroup memory in one dispatch; only the stages with j ≥ 2·WG are dispatched one by one
// (bitonic_step). Why: on a real GPU a dispatch costs more than such a stage's work. Measured on an
// H100 (Dawn/Vulkan), SAL's backward at L = 200 sorted 2^16 pairs in 136 dispatches, 57 % of its
// per-kernel profile; with bitonic_local it is 36 (2^13 pairs for an embedding gather's backward:
// 91 → 15).

override WG: u32 = 256;

// @include grid

struct BitonicParams {
  k: u32,      // size of the bitonic sequences being merged (power of two); bitonic_local: 0 = sort each block
  j: u32,      // compare distance in this stage (power of two, < k); bitonic_local: unused
  half: u32,   // P/2: one thread per compared pair
}
@group(0) @binding(0) var<uniform> bp: BitonicParams;
@group(0) @binding(1) var<storage, read_write> pairs: array<vec2u>;

fn pair_greater(a: vec2u, b: vec2u) -> bool {
  return a.x > b.x || (a.x == b.x && a.y > b.y);
}

@compute @workgroup_size(WG)
fn bitonic_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = flat_index(gid, nwg);
  if (t >= bp.half) { return; }
  let l = stage_left(t, bp.j);
  let r = l + bp.j;
  let a = pairs[l];
  let b = pairs[r];
  let ascending = (l & bp.k) == 0u;
  if (pair_greater(a, b) == ascending) {
    pairs[l] = b;
    pairs[r] = a;
  }
}

// Pair (l, r = l + j) that thread t of a stage with distance j compares: a 0 bit inserted at log2(j).
fn stage_left(t: u32, j: u32) -> u32 {
  let low = t & (j - 1u);
  return ((t - low) << 1u) | low;
}

var<workgroup> wpairs: array<vec2u, 2u * WG>;

// One workgroup per block of 2·WG consecutive pairs. bp.k = 0: every stage k = 2 … 2·WG (sorts the
// block, ascending or descending by its place in the next merge, as the global network would); bp.k >
// 2·WG: the stages j = WG … 1 of merge k, after bitonic_step has done its j ≥ 2·WG.
@compute @workgroup_size(WG)
fn bitonic_local(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let span = 2u * WG;
  let base = (wid.x + wid.y * nwg.x) * span;
  if (base >= 2u * bp.half) { return; }   // the grid's spare workgroups (uniform per workgroup)
  let t = lid.x;
  wpairs[t] = pairs[base + t];
  wpairs[t + WG] = pairs[base + t + WG];
  workgroupBarrier();
  var k = select(bp.k, 2u, bp.k == 0u);
  let k_end = select(bp.k, span, bp.k == 0u);
  loop {
    if (k > k_end) { break; }
    var j = min(k / 2u, WG);
    loop {
      if (j == 0u) { break; }
      let l = stage_left(t, j);
      let a = wpairs[l];
      let b = wpairs[l + j];
      if (pair_greater(a, b) == (((base + l) & k) == 0u)) {
        wpairs[l] = b;
        wpairs[l + j] = a;
      }
      workgroupBarrier();
      j = j / 2u;
    }
    k = k * 2u;
  }
  pairs[base + t] = wpairs[t];
  pairs[base + t + WG] = wpairs[t + WG];
}
