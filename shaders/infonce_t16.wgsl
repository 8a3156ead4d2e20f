// The tiled InfoNCE kernels with private arrays of 16 vec4s: d ≤ 64 (see infonce_tiled.wgsl).
const TMAX: u32 = 16u;
// @include infonce
// @include infonce_tiled
