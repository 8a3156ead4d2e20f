// The tiled InfoNCE kernels with private arrays of 8 vec4s: d ≤ 32 (see infonce_tiled.wgsl).
const TMAX: u32 = 8u;
// @include infonce
// @include infonce_tiled
