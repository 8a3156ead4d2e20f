// Shared helper for 1-D kernels launched on a 2-D grid of workgroups (src/gpu/engine.ts `grid()`:
// maxComputeWorkgroupsPerDimension is 65535, too few for one dimension over large tensors). The
// including file declares `override WG` (its workgroup size). Pull in with `// @include grid`.

fn flat_index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}
