// Bitonic sort of (key, position) pairs, one dispatch per (k, j) stage: the deterministic way to group
// equal keys without atomics (DESIGN.md §3: no float atomics; scatter-adds sum per destination in a
// fixed order). Pairs compare lexicographically, so equal keys end up ordered by position and every
// pair is distinct (an unstable sort is then as good as a stable one). The caller pads the array to a
// power of two with sentinel keys 0xFFFFFFFF, which sort last.
//
// Each stage is a fixed compare-exchange network (no data-dependent control flow), all stages go into
// the same open compute pass: log2(P)·(log2(P)+1)/2 dispatches, no CPU waits.

override WG: u32 = 256;

// @include grid

struct BitonicParams {
  k: u32,      // size of the bitonic sequences being merged (power of two)
  j: u32,      // compare distance in this stage (power of two, < k)
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
  // Thread t's pair: insert a 0 bit at position log2(j) of t.
  let low = t & (bp.j - 1u);
  let l = ((t - low) << 1u) | low;
  let r = l + bp.j;
  let a = pairs[l];
  let b = pairs[r];
  let ascending = (l & bp.k) == 0u;
  if (pair_greater(a, b) == ascending) {
    pairs[l] = b;
    pairs[r] = a;
  }
}
