// Philox 4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11;
// the Random123 library): a counter-based RNG. Its output is a pure function of (counter, key), so a
// thread draws element e of a stream with no state, any order of threads gives the same numbers, and a
// backward pass regenerates exactly what the forward drew (dropout stores no mask; DESIGN.md §4 uses
// the same stream for the Gaussian perturbations of L_fus-cl).
//
// Helpers only — no bindings, entry points or override constants, so that any kernel file can pull it
// in with `// @include rng` without clashing with its own declarations.
//
// Stream convention (src/tensor/ops/dropout.ts and test/reference/gather.ts mirror it): element e of
// the stream with key `seed` is word (e mod 4) of philox4x32_10(counter = (⌊e/4⌋ as 64-bit lo, hi,
// 0, 0), key = seed). One Philox call yields four words, so kernels give each thread one 4-word block.
// (Names say `blk`: wgsl_reflect, which reflects every kernel file, fails to parse an identifier `block`.)

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// (high, low) 32 bits of the 64-bit product a·b. WGSL has no 64-bit integers: 16-bit limbs.
fn philox_mulhilo(a: u32, b: u32) -> vec2u {
  let al = a & 0xFFFFu;
  let ah = a >> 16u;
  let bl = b & 0xFFFFu;
  let bh = b >> 16u;
  let ll = al * bl;
  let lh = al * bh;
  let hl = ah * bl;
  let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu); // < 3·2^16: no overflow
  let hi = ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2u(hi, a * b);
}

fn philox_round(c: vec4u, k: vec2u) -> vec4u {
  let p0 = philox_mulhilo(PHILOX_M0, c.x);
  let p1 = philox_mulhilo(PHILOX_M1, c.z);
  return vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
}

// The Random123 philox4x32 with 10 rounds.
fn philox4x32_10(ctr: vec4u, key: vec2u) -> vec4u {
  var c = ctr;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    c = philox_round(c, k);
    k += vec2u(PHILOX_W0, PHILOX_W1);
  }
  return c;
}

// a + b for a 64-bit a = (lo, hi).
fn rng_add64(a: vec2u, b: u32) -> vec2u {
  let lo = a.x + b;
  return vec2u(lo, a.y + select(0u, 1u, lo < b));
}

// The four stream words of 64-bit block index `blk` (elements 4·blk … 4·blk+3).
fn rng_block(blk: vec2u, key: vec2u) -> vec4u {
  return philox4x32_10(vec4u(blk.x, blk.y, 0u, 0u), key);
}

// Uniform in [0, 1): the top 24 bits, so every value is an exact f32 and 1.0 is never returned.
fn rng_u01(w: u32) -> f32 {
  return f32(w >> 8u) * (1.0 / 16777216.0);
}

fn rng_uniform4(blk: vec2u, key: vec2u) -> vec4f {
  let w = rng_block(blk, key);
  return vec4f(rng_u01(w.x), rng_u01(w.y), rng_u01(w.z), rng_u01(w.w));
}

// Box–Muller: two standard normals from two words (u1 in (0, 1] so log(u1) is finite).
fn rng_normal2(w0: u32, w1: u32) -> vec2f {
  let u1 = (f32(w0 >> 8u) + 1.0) * (1.0 / 16777216.0);
  let r = sqrt(-2.0 * log(u1));
  let theta = 6.283185307179586 * rng_u01(w1);
  return vec2f(r * cos(theta), r * sin(theta));
}

// Normals for elements 4·blk … 4·blk+3: words (0, 1) and (2, 3) each make a Box–Muller pair.
fn rng_normal4(blk: vec2u, key: vec2u) -> vec4f {
  let w = rng_block(blk, key);
  return vec4f(rng_normal2(w.x, w.y), rng_normal2(w.z, w.w));
}
