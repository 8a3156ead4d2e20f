// Elementwise family: unary maths (forward + backward), broadcasting binary ops (forward + the
// reduce-to-operand backward), the sum of several same-shape tensors, fill, in-place accumulate, and the
// strided copy that materialises views.
//
// One thread per output element over a 2-D grid of workgroups (maxComputeWorkgroupsPerDimension is
// 65535 on every adapter, too few for 1-D grids over large tensors). Shapes of rank ≤ 8 travel in
// uniforms as array<vec4u, 2>.

override WG: u32 = 256;
// Unary op codes (src/tensor/ops/unary.ts mirrors them):
// 0 relu 1 gelu(tanh approx.) 2 sigmoid 3 tanh 4 exp 5 log 6 neg 7 sqrt 8 square 9 affine(a·x+b) 10 pow(x, a) 11 abs
override OP: u32 = 0;

// @include grid

fn dim(v: array<vec4u, 2>, k: u32) -> u32 {
  return v[k / 4u][k % 4u];
}

// ---------------------------------------------------------------------------------------------- unary

struct UnaryParams { n: u32, a: f32, b: f32 }
@group(0) @binding(0) var<uniform> up: UnaryParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;

fn unary_f(v: f32) -> f32 {
  switch OP {
    case 0u: { return max(v, 0.0); }
    case 1u: { return 0.5 * v * (1.0 + tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v))); }
    case 2u: { return 1.0 / (1.0 + exp(-v)); }
    case 3u: { return tanh(v); }
    case 4u: { return exp(v); }
    case 5u: { return log(v); }
    case 6u: { return -v; }
    case 7u: { return sqrt(v); }
    case 8u: { return v * v; }
    case 9u: { return up.a * v + up.b; }
    case 10u: { return pow(v, up.a); }
    case 11u: { return abs(v); }
    default: { return v; }
  }
}

@compute @workgroup_size(WG)
fn unary(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= up.n) { return; }
  y[i] = unary_f(x[i]);
}

// Backward: `s` is whichever of x or y the op's derivative is cheapest in (unary.ts says which).
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;

fn unary_df(v: f32) -> f32 {
  switch OP {
    case 0u: { return select(0.0, 1.0, v > 0.0); }                 // s = x
    case 1u: {                                                      // s = x
      let u = SQRT_2_OVER_PI * (v + GELU_C * v * v * v);
      let t = tanh(u);
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * v * v);
    }
    case 2u: { return v * (1.0 - v); }                              // s = y
    case 3u: { return 1.0 - v * v; }                                // s = y
    case 4u: { return v; }                                          // s = y
    case 5u: { return 1.0 / v; }                                    // s = x
    case 6u: { return -1.0; }
    case 7u: { return 0.5 / v; }                                    // s = y
    case 8u: { return 2.0 * v; }                                    // s = x
    case 9u: { return up.a; }
    case 10u: { return up.a * pow(v, up.a - 1.0); }                 // s = x
    case 11u: { return sign(v); }                                   // s = x
    default: { return 1.0; }
  }
}

@compute @workgroup_size(WG)
fn unary_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= up.n) { return; }
  gx[i] = gy[i] * unary_df(s[i]);
}

// --------------------------------------------------------------------------------------------- binary

// Binary op codes: 0 add 1 sub 2 mul 3 div 4 maximum 5 minimum
override BOP: u32 = 0;
// Same shape on both sides: skip the index arithmetic.
override SAME_SHAPE: bool = false;
// Shapes coalesced to ≤ 3 dims and left-padded to exactly 3 (binary.ts): index with constant vector
// components. The generic loop indexes the uniform arrays with a runtime k, which llvmpipe compiles
// into slow code; most broadcasts (bias rows, per-row scales, gates) coalesce to 2 or 3 dims.
// (Locals avoid the names of module-scope bindings: wgsl_reflect counts a local `s` as a use of the
// binding `s` and would make the entry point demand that buffer.)
override RANK3: bool = false;

struct BinaryParams {
  n: u32,
  rank: u32,
  shape: array<vec4u, 2>,     // output shape
  a_strides: array<vec4u, 2>, // 0 on broadcast dims
  b_strides: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> bp: BinaryParams;
@group(0) @binding(6) var<storage, read> a: array<f32>;
@group(0) @binding(7) var<storage, read> b: array<f32>;
@group(0) @binding(8) var<storage, read_write> c: array<f32>;

fn binary_f(u: f32, v: f32) -> f32 {
  switch BOP {
    case 0u: { return u + v; }
    case 1u: { return u - v; }
    case 2u: { return u * v; }
    case 3u: { return u / v; }
    case 4u: { return max(u, v); }
    case 5u: { return min(u, v); }
    default: { return u; }
  }
}

@compute @workgroup_size(WG)
fn binary(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= bp.n) { return; }
  if (SAME_SHAPE) {
    c[i] = binary_f(a[i], b[i]);
    return;
  }
  if (RANK3) {
    let shp = bp.shape[0].xyz;
    let idx = vec3u(i / (shp.y * shp.z), (i / shp.z) % shp.y, i % shp.z);
    c[i] = binary_f(a[dot(idx, bp.a_strides[0].xyz)], b[dot(idx, bp.b_strides[0].xyz)]);
    return;
  }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  for (var k = i32(bp.rank) - 1; k >= 0; k--) {
    let d = dim(bp.shape, u32(k));
    let idx = rem % d;
    rem = rem / d;
    ia += idx * dim(bp.a_strides, u32(k));
    ib += idx * dim(bp.b_strides, u32(k));
  }
  c[i] = binary_f(a[ia], b[ib]);
}

// Gradient of one operand (WHICH = 0: a, 1: b), summed over the dims it was broadcast along. One
// thread per operand element, looping over the output elements that read it: deterministic (fixed
// summation order), no atomics (WGSL has no float atomics).
override WHICH: u32 = 0;

struct BinaryBwParams {
  n: u32,            // operand elements
  rank: u32,
  r: u32,            // output elements per operand element
  shape: array<vec4u, 2>,     // output shape
  op_shape: array<vec4u, 2>,  // operand shape padded to the output rank (1 on broadcast dims)
  a_strides: array<vec4u, 2>,
  b_strides: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> bbp: BinaryBwParams;
@group(0) @binding(9) var<storage, read> g: array<f32>;
@group(0) @binding(10) var<storage, read_write> gop: array<f32>;

fn binary_df(gv: f32, u: f32, v: f32) -> f32 {
  switch BOP {
    case 0u: { return gv; }
    case 1u: { return select(-gv, gv, WHICH == 0u); }
    case 2u: { return select(gv * u, gv * v, WHICH == 0u); }
    case 3u: { return select(-gv * u / (v * v), gv / v, WHICH == 0u); }
    case 4u: { // maximum: the gradient goes to the larger side, to a on ties
      let to_a = u >= v;
      return select(select(0.0, gv, !to_a), select(0.0, gv, to_a), WHICH == 0u);
    }
    case 5u: { // minimum: to the smaller side, to a on ties
      let to_a = u <= v;
      return select(select(0.0, gv, !to_a), select(0.0, gv, to_a), WHICH == 0u);
    }
    default: { return gv; }
  }
}

@compute @workgroup_size(WG)
fn binary_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = flat_index(gid, nwg);
  if (j >= bbp.n) { return; }
  var acc = 0.0;
  if (RANK3) {
    // Operand extent per dim (1 where broadcast) and output extent: j runs over the operand's dims,
    // q over the broadcast ones, both in row-major order.
    let shp = bbp.shape[0].xyz;
    let o = bbp.op_shape[0].xyz;
    let jdx = vec3u(j / (o.y * o.z), (j / o.z) % o.y, j % o.z);
    let bsh = select(shp, vec3u(1u), o == shp); // broadcast extents (1 on the operand's own dims)
    for (var q = 0u; q < bbp.r; q++) {
      let qdx = vec3u(q / (bsh.y * bsh.z), (q / bsh.z) % bsh.y, q % bsh.z);
      let idx = select(qdx, jdx, o == shp);
      let io = (idx.x * shp.y + idx.y) * shp.z + idx.z;
      acc += binary_df(g[io], a[dot(idx, bbp.a_strides[0].xyz)], b[dot(idx, bbp.b_strides[0].xyz)]);
    }
    gop[j] = acc;
    return;
  }
  for (var q = 0u; q < bbp.r; q++) {
    // Rebuild the output multi-index from (j over the operand's dims, q over the broadcast dims).
    var rj = j;
    var rq = q;
    var io = 0u;
    var ia = 0u;
    var ib = 0u;
    var stride = 1u;
    for (var k = i32(bbp.rank) - 1; k >= 0; k--) {
      let kk = u32(k);
      let d = dim(bbp.shape, kk);
      let od = dim(bbp.op_shape, kk);
      var idx = 0u;
      if (od == d) {
        idx = rj % d;
        rj = rj / d;
      } else {
        idx = rq % d;
        rq = rq / d;
      }
      io += idx * stride;
      stride *= d;
      ia += idx * dim(bbp.a_strides, kk);
      ib += idx * dim(bbp.b_strides, kk);
    }
    acc += binary_df(g[io], a[ia], b[ib]);
  }
  gop[j] = acc;
}

// ------------------------------------------------------------------------------------------- add_n

// out = ((t0 + t1) + t2) + … over SUM_N ≤ 7 same-shape tensors (binary.ts addN; the tape sums a tensor's
// gradient contributions with it). Left to right, as chained adds would: the same bits, read in one
// pass (n + 1 memory passes instead of 3(n − 1)). 8 storage buffers: WebGPU's minimum per stage.
override SUM_N: u32 = 2u;
struct SumParams { n: u32 }
@group(0) @binding(0) var<uniform> sp: SumParams;
@group(0) @binding(15) var<storage, read> t0: array<f32>;
@group(0) @binding(16) var<storage, read> t1: array<f32>;
@group(0) @binding(17) var<storage, read> t2: array<f32>;
@group(0) @binding(18) var<storage, read> t3: array<f32>;
@group(0) @binding(19) var<storage, read> t4: array<f32>;
@group(0) @binding(20) var<storage, read> t5: array<f32>;
@group(0) @binding(21) var<storage, read> t6: array<f32>;
@group(0) @binding(22) var<storage, read_write> tsum: array<f32>;

@compute @workgroup_size(WG)
fn add_n(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= sp.n) { return; }
  var v = t0[i] + t1[i];
  if (SUM_N > 2u) { v += t2[i]; }
  if (SUM_N > 3u) { v += t3[i]; }
  if (SUM_N > 4u) { v += t4[i]; }
  if (SUM_N > 5u) { v += t5[i]; }
  if (SUM_N > 6u) { v += t6[i]; }
  tsum[i] = v;
}

// ---------------------------------------------------------------------------------- fill, accumulate

struct FillParams { n: u32, value: f32 }
@group(0) @binding(0) var<uniform> fp: FillParams;
@group(0) @binding(11) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= fp.n) { return; }
  dst[i] = fp.value;
}

// dst += src, in place: the optimizer's gradient accumulators (a buffer cannot be bound both as
// read and read_write in one dispatch, so `add` cannot do this).
@group(0) @binding(12) var<storage, read> src: array<f32>;

@compute @workgroup_size(WG)
fn accumulate(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= fp.n) { return; }
  dst[i] = dst[i] + src[i];
}

// ------------------------------------------------------------------------------------- strided copy

// dst[dst_offset + Σ idx_k·dst_strides_k] = src[src_offset + Σ idx_k·src_strides_k]: materialises
// views (transpose, slice) and writes concat's parts into place. Copies raw bits, so it serves i32
// tensors too.
struct CopyParams {
  n: u32,
  rank: u32,
  src_offset: u32,
  dst_offset: u32,
  shape: array<vec4u, 2>,
  src_strides: array<vec4u, 2>,
  dst_strides: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> cp: CopyParams;
@group(0) @binding(13) var<storage, read> csrc: array<u32>;
@group(0) @binding(14) var<storage, read_write> cdst: array<u32>;

@compute @workgroup_size(WG)
fn copy_strided(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= cp.n) { return; }
  if (RANK3) {
    // Coalesced to ≤ 3 dims (layout.ts): the general loop's dynamic indexing into uniform arrays made
    // this copy ~10× slower than a binary op of the same size on llvmpipe (58 ms vs 5 ms, 819k elements).
    let shp = cp.shape[0].xyz;
    let idx = vec3u(i / (shp.y * shp.z), (i / shp.z) % shp.y, i % shp.z);
    cdst[cp.dst_offset + dot(idx, cp.dst_strides[0].xyz)] = csrc[cp.src_offset + dot(idx, cp.src_strides[0].xyz)];
    return;
  }
  var rem = i;
  var is = cp.src_offset;
  var id = cp.dst_offset;
  for (var k = i32(cp.rank) - 1; k >= 0; k--) {
    let d = dim(cp.shape, u32(k));
    let idx = rem % d;
    rem = rem / d;
    is += idx * dim(cp.src_strides, u32(k));
    id += idx * dim(cp.dst_strides, u32(k));
  }
  cdst[id] = csrc[is];
}
