// Dropout and random tensors over the Philox stream of shaders/rng.wgsl.
//
// Element i of a call with (seed, offset) uses stream element e = offset + i. Each thread takes one
// Philox block (4 consecutive stream elements): thread t covers block ⌊offset/4⌋ + t, whose word j is
// element 4t + j − (offset mod 4) of this call (skipped when outside [0, n)). So one Philox evaluation
// serves four elements, and the mask depends only on (seed, offset + i) — backward regenerates it.

// @include rng

override WG: u32 = 256;

// @include grid

// -------------------------------------------------------------------------------------------- dropout

struct DropoutParams {
  n: u32,
  lane0: u32,       // offset mod 4
  block0: vec2u,    // ⌊offset/4⌋ as (lo, hi)
  key: vec2u,       // seed as (lo, hi)
  threshold: u32,   // keep iff word ≥ threshold = round(p·2^32): P(keep) = 1 − threshold/2^32
  scale: f32,       // 1/(1 − p)
}
@group(0) @binding(0) var<uniform> dp: DropoutParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// The keep decisions for this thread's block; each entry point loops over it with its own buffers
// (a helper touching both x/y and gy/gx would make every entry point bind all four).
fn dropout_keep(t: u32) -> vec4<bool> {
  let w = rng_block(rng_add64(dp.block0, t), dp.key);
  return w >= vec4u(dp.threshold);
}

@compute @workgroup_size(WG)
fn dropout(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = flat_index(gid, nwg);
  if (4u * t >= dp.n + dp.lane0) { return; }
  let keep = dropout_keep(t);
  for (var j = 0u; j < 4u; j++) {
    let k = 4u * t + j;
    if (k < dp.lane0) { continue; }
    let i = k - dp.lane0;
    if (i >= dp.n) { break; }
    y[i] = select(0.0, x[i] * dp.scale, keep[j]);
  }
}

// Backward: the same mask and scale applied to the gradient, regenerated from (seed, offset).
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(WG)
fn dropout_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = flat_index(gid, nwg);
  if (4u * t >= dp.n + dp.lane0) { return; }
  let keep = dropout_keep(t);
  for (var j = 0u; j < 4u; j++) {
    let k = 4u * t + j;
    if (k < dp.lane0) { continue; }
    let i = k - dp.lane0;
    if (i >= dp.n) { break; }
    gx[i] = select(0.0, gy[i] * dp.scale, keep[j]);
  }
}

// -------------------------------------------------------------------------------------- random tensors

struct RandParams {
  n: u32,
  lane0: u32,
  block0: vec2u,
  key: vec2u,
}
@group(0) @binding(0) var<uniform> rp: RandParams;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

// DIST = 0: uniform in [0, 1); 1: standard normal (Box–Muller).
override DIST: u32 = 0;

@compute @workgroup_size(WG)
fn rand(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = flat_index(gid, nwg);
  if (4u * t >= rp.n + rp.lane0) { return; }
  let blk = rng_add64(rp.block0, t);
  var v: vec4f;
  if (DIST == 0u) {
    v = rng_uniform4(blk, rp.key);
  } else {
    v = rng_normal4(blk, rp.key);
  }
  for (var j = 0u; j < 4u; j++) {
    let k = 4u * t + j;
    if (k < rp.lane0) { continue; }
    let i = k - rp.lane0;
    if (i >= rp.n) { break; }
    out[i] = v[j];
  }
}

// Raw Philox words for arbitrary (counter, key): thread t writes philox4x32_10(ctr + t, key) (t added
// to the 64-bit counter words 0–1) to bits[4t … 4t+3]. For the Random123 known-answer tests.
struct RawParams {
  n: u32,           // blocks
  ctr: vec4u,
  key: vec2u,
}
@group(0) @binding(0) var<uniform> rawp: RawParams;
@group(0) @binding(6) var<storage, read_write> bits: array<u32>;

@compute @workgroup_size(WG)
fn philox_raw(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = flat_index(gid, nwg);
  if (t >= rawp.n) { return; }
  let lo = rng_add64(rawp.ctr.xy, t);
  let w = philox4x32_10(vec4u(lo, rawp.ctr.zw), rawp.key);
  bits[4u * t] = w.x;
  bits[4u * t + 1u] = w.y;
  bits[4u * t + 2u] = w.z;
  bits[4u * t + 3u] = w.w;
}
