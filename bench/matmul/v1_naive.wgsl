// Lab v1: naive matmul, one invocation per output element. C[M,N] = A[M,K] · B[K,N], row-major.
// The baseline every other version is measured against; x runs along N so that neighbouring
// invocations (SIMD lanes on the CPU adapters) read neighbouring B elements.

override WGX: u32 = 16;
override WGY: u32 = 16;

struct Params { M: u32, N: u32, K: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let col = gid.x;
  let row = gid.y;
  if (row >= p.M || col >= p.N) { return; }
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc = fma(a[row * p.K + k], b[k * p.N + col], acc);
  }
  c[row * p.N + col] = acc;
}
