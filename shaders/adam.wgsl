// Optimizer family: global gradient norm (two deterministic stages, no atomics) and the fused
// Adam/AdamW update. Each parameter group's parameters, gradients and moments live in flat arenas
// (src/nn/adam.ts), so one dispatch updates the whole group: memory passes are the expensive part on
// the CPU adapters (DESIGN.md §3: an axpy kernel runs at ~1.2–2.9 GB/s), and one fused pass reads
// p, g, m, v once and writes p, m, v once.

override WG: u32 = 256;

// @include grid

// ------------------------------------------------------------------------------ global gradient norm

struct NormParams { n: u32, chunk: u32, out_offset: u32 }
@group(0) @binding(0) var<uniform> np: NormParams;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

var<workgroup> scratch: array<f32, WG>;

// Stage 1: workgroup w sums squares of grads[w·chunk, (w+1)·chunk) into partials[out_offset + w].
@compute @workgroup_size(WG)
fn sumsq_partial(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let start = wid.x * np.chunk;
  let end = min(start + np.chunk, np.n);
  var acc = 0.0;
  for (var i = start + lid.x; i < end; i += WG) {
    let v = grads[i];
    acc += v * v;
  }
  scratch[lid.x] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid.x < s) { scratch[lid.x] += scratch[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { partials[np.out_offset + wid.x] = scratch[0]; }
}

// Stage 2: one workgroup sums all partials; clip[0] = ‖g‖, clip[1] = min(1, max_norm / (‖g‖ + 1e-6))
// (PyTorch's clip_grad_norm_ rule). A non-finite norm propagates to the scale, so the update turns
// the parameters NaN rather than silently skipping: the trainer's NaN guard sees it.
struct ClipParams { count: u32, max_norm: f32 }
@group(0) @binding(0) var<uniform> cpar: ClipParams;
@group(0) @binding(3) var<storage, read> parts: array<f32>;
@group(0) @binding(4) var<storage, read_write> clip: array<f32>;

@compute @workgroup_size(WG)
fn clip_scale(@builtin(local_invocation_id) lid: vec3u) {
  var acc = 0.0;
  for (var i = lid.x; i < cpar.count; i += WG) { acc += parts[i]; }
  scratch[lid.x] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid.x < s) { scratch[lid.x] += scratch[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let norm = sqrt(scratch[0]);
    clip[0] = norm;
    clip[1] = select(1.0, min(1.0, cpar.max_norm / (norm + 1e-6)), cpar.max_norm > 0.0);
  }
}

// -------------------------------------------------------------------------------------- Adam/AdamW

// PyTorch's Adam/AdamW update, bias corrections bc1 = 1 − β1ᵗ, bc2 = 1 − β2ᵗ computed on the CPU:
//   g ← g·scale (+ wd·p for Adam's L2 decay)      m ← β1·m + (1−β1)·g     v ← β2·v + (1−β2)·g²
//   p ← p·(1 − lr·wd) for AdamW (decoupled)       p ← p − lr·(m/bc1)/(√(v/bc2) + ε)
struct AdamParams { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32, decoupled: u32 }
@group(0) @binding(0) var<uniform> ap: AdamParams;
@group(0) @binding(5) var<storage, read_write> p: array<f32>;
@group(0) @binding(6) var<storage, read> g: array<f32>;
@group(0) @binding(7) var<storage, read_write> m: array<f32>;
@group(0) @binding(8) var<storage, read_write> v: array<f32>;
@group(0) @binding(9) var<storage, read> scale: array<f32>;

@compute @workgroup_size(WG)
fn adam_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= ap.n) { return; }
  var pi = p[i];
  var gi = g[i] * scale[1];
  if (ap.decoupled == 1u) {
    pi = pi * (1.0 - ap.lr * ap.wd);
  } else {
    gi = gi + ap.wd * pi;
  }
  let mi = ap.beta1 * m[i] + (1.0 - ap.beta1) * gi;
  let vi = ap.beta2 * v[i] + (1.0 - ap.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = pi - ap.lr * (mi / ap.bc1) / (sqrt(vi / ap.bc2) + ap.eps);
}
