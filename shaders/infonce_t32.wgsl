// The tiled InfoNCE kernels with private arrays of 32 vec4s: d ≤ 128 (see infonce_tiled.wgsl).
const TMAX: u32 = 32u;
// @include infonce
// @include infonce_tiled
