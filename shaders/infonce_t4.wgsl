// The tiled InfoNCE kernels with private arrays of 4 vec4s: d ≤ 16 (see infonce_tiled.wgsl).
const TMAX: u32 = 4u;
// @include infonce
// @include infonce_tiled
