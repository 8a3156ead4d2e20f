// Workgroup-tiled InfoNCE score kernels: the default path on hardware GPUs (src/tensor/ops/infonce.ts
// picks it when the adapter is not a CPU implementation). Same maths, partial formats and merge
// kernels as the register-tiled kernels of infonce_tiled.wgsl, which remain the CPU adapters' path.
//
// Why a second set: the register-tiled kernels give each thread 8 rows held in private arrays
// (8·d floats) and stream the other side from global memory. On a CPU adapter that is what makes the
// loops fast; on an H100 (Dawn/Vulkan) it spills to local memory and leaves most of the GPU idle:
// forward+backward 1024×1024×128 took 17 ms fused vs 5.5 ms unfused, 4096×1682×64 20 ms vs 3.9 ms.
// Here a 256-thread workgroup owns 64 rows (columns for backward_cols_wg) and streams the other side
// 32 at a time through workgroup memory, each thread scoring 4 own × 2 streamed entries; the
// backward stages the tile's weights w in workgroup memory and each thread accumulates 4 own rows ×
// up to 2 vec4 of d. Workgroup memory: 4 + 2 + 8 KiB, inside WebGPU's 16 KiB default.
//
// Every score is Σ_k fma(x_k, y_k, s) over k in order, as dot4acc computes it, so the three kernels
// recompute exactly the forward's scores. Partials per segment of the streamed axis (grid y) are
// merged in order by forward_merge / backward_merge: deterministic, no atomics.

const TMAX: u32 = 32u;
// @include infonce
// @include infonce_tiled

const TO: u32 = 64u;   // own entries per workgroup
const TS: u32 = 32u;   // streamed entries per step (tp.seg steps per segment)

var<workgroup> own_t: array<f32, 1024>;   // [16 floats of d][TO]: the own entries' current d chunk
var<workgroup> str_t: array<f32, 512>;    // [16][TS]: the streamed entries' current d chunk
var<workgroup> w_t: array<f32, 2048>;     // [TS][TO]: dℓ/ds of the tile (backward)

fn prepped(rows: bool, i: u32) -> vec4f {
  if (rows) { return ahat[i]; }
  return chat[i];
}

// Thread (ty, tx) = (lid / 16, lid % 16): own entries o0 + ty + 16r (r < 4) against streamed entries
// s0 + tx + 16q (q < 2): S[r][q]. Entries past the end score 0 (their d chunks load as zeros).
// own_rows: own = rows of Â, streamed = columns of ĉ; else the other way round.
fn score_tile(lid: u32, own_rows: bool, o0: u32, s0: u32) -> array<vec2f, 4> {
  let ty = lid / 16u;
  let tx = lid % 16u;
  let n_own = select(tp.m, tp.n, own_rows);
  let n_str = select(tp.n, tp.m, own_rows);
  var acc = array<vec2f, 4>(vec2f(0.0), vec2f(0.0), vec2f(0.0), vec2f(0.0));
  for (var kc = 0u; kc < D4; kc += 4u) {
    // 64 own entries × 4 vec4 = one vec4 per thread; 32 streamed × 4 for the first 128 threads.
    let e = lid / 4u;
    let kq = lid % 4u;
    var v = vec4f(0.0);
    if (o0 + e < n_own && kc + kq < D4) { v = prepped(own_rows, (o0 + e) * D4 + kc + kq); }
    own_t[(4u * kq) * TO + e] = v.x;
    own_t[(4u * kq + 1u) * TO + e] = v.y;
    own_t[(4u * kq + 2u) * TO + e] = v.z;
    own_t[(4u * kq + 3u) * TO + e] = v.w;
    if (lid < 128u) {
      var u = vec4f(0.0);
      if (s0 + e < n_str && kc + kq < D4) { u = prepped(!own_rows, (s0 + e) * D4 + kc + kq); }
      str_t[(4u * kq) * TS + e] = u.x;
      str_t[(4u * kq + 1u) * TS + e] = u.y;
      str_t[(4u * kq + 2u) * TS + e] = u.z;
      str_t[(4u * kq + 3u) * TS + e] = u.w;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let y = vec2f(str_t[kk * TS + tx], str_t[kk * TS + tx + 16u]);
      acc[0] = fma(vec2f(own_t[kk * TO + ty]), y, acc[0]);
      acc[1] = fma(vec2f(own_t[kk * TO + ty + 16u]), y, acc[1]);
      acc[2] = fma(vec2f(own_t[kk * TO + ty + 32u]), y, acc[2]);
      acc[3] = fma(vec2f(own_t[kk * TO + ty + 48u]), y, acc[3]);
    }
    workgroupBarrier();
  }
  return acc;
}

// Whether column j is a negative or the positive of row ri (masked(): same id as the positive).
fn pair_ok(ri: RowInfo, j: u32, cj: ColInfo) -> bool {
  return !(MASK && j != ri.pos && cj.key == ri.key);
}

// Online (max, Σexp) of one row over two more scores v (ok: scored), and its positive's score.
fn lse_pair(st: Lse, v: vec2f, ok: vec2<bool>, j: vec2u, pj: u32) -> Lse {
  var o = st;
  let x = select(vec2f(LOWEST), v, ok);
  let nm = max(o.mx, max(x.x, x.y));
  let e = select(vec2f(0.0), exp(x - nm), ok);
  o.s = o.s * exp(o.mx - nm) + e.x + e.y;
  o.mx = nm;
  if (ok.x && j.x == pj) { o.sp = v.x; o.hp = 1.0; }
  if (ok.y && j.y == pj) { o.sp = v.y; o.hp = 1.0; }
  return o;
}

// (max, Σexp, s_pos) of rows wid.x·64 … +63 over the columns of segment wid.y: fpart[wid.y·n + i].
// Each thread keeps the state of its 4 rows over its columns tx + 16q of every tile; at the end the
// 16 states of a row are merged in tx order through workgroup memory (deterministic).
@compute @workgroup_size(256)
fn forward_wg(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let ty = lid / 16u;
  let tx = lid % 16u;
  let i0 = wid.x * TO;
  let lo = wid.y * tp.seg * TS;
  let hi = min(tp.m, lo + tp.seg * TS);
  let n1 = tp.n - 1u;
  let m1 = tp.m - 1u;
  var ri: array<RowInfo, 4>;
  var st: array<Lse, 4>;
  for (var r = 0u; r < 4u; r++) {
    ri[r] = rinfo[min(i0 + ty + 16u * r, n1)];
    st[r] = Lse(LOWEST, 0.0, 0.0, 0.0);
  }
  for (var s0 = lo; s0 < hi; s0 += TS) {
    let sc = score_tile(lid, true, i0, s0);
    let j = vec2u(s0 + tx, s0 + tx + 16u);
    let c0 = cinfo[min(j.x, m1)];
    let c1 = cinfo[min(j.y, m1)];
    let lq = vec2f(c0.logq, c1.logq);
    for (var r = 0u; r < 4u; r++) {
      let ok = (j < vec2u(hi)) & vec2<bool>(pair_ok(ri[r], j.x, c0), pair_ok(ri[r], j.y, c1));
      st[r] = lse_pair(st[r], sc[r] - lq, ok, j, ri[r].pos);
    }
  }
  // w_t[row·32 + 2·tx + {0, 1}] = (max, Σexp); own_t[2·row + {0, 1}] = (s_pos, found), written only
  // by the one thread whose columns hold the row's positive, after the tx = 0 threads cleared it.
  if (tx == 0u) {
    for (var r = 0u; r < 4u; r++) {
      own_t[2u * (ty + 16u * r)] = 0.0;
      own_t[2u * (ty + 16u * r) + 1u] = 0.0;
    }
  }
  workgroupBarrier();
  for (var r = 0u; r < 4u; r++) {
    let row = ty + 16u * r;
    w_t[row * 32u + 2u * tx] = st[r].mx;
    w_t[row * 32u + 2u * tx + 1u] = st[r].s;
    if (st[r].hp > 0.0) {
      own_t[2u * row] = st[r].sp;
      own_t[2u * row + 1u] = 1.0;
    }
  }
  workgroupBarrier();
  if (tx == 0u) {
    for (var r = 0u; r < 4u; r++) {
      let row = ty + 16u * r;
      var mx = LOWEST;
      for (var t = 0u; t < 16u; t++) { mx = max(mx, w_t[row * 32u + 2u * t]); }
      var sum = 0.0;
      for (var t = 0u; t < 16u; t++) { sum += w_t[row * 32u + 2u * t + 1u] * exp(w_t[row * 32u + 2u * t] - mx); }
      if (i0 + row < tp.n) { fpart[wid.y * tp.n + i0 + row] = Lse(mx, sum, own_t[2u * row], own_t[2u * row + 1u]); }
    }
  }
}

// Σ over the streamed entries c of the tile of w_t[c][own] · x_c, x_c the streamed side's prepped
// rows: acc[2r + q2] for own entry ty + 16r and vec4 tx + 16·q2 of d.
fn accumulate_tile(lid: u32, str_rows: bool, s0: u32, hi: u32, acc: ptr<function, array<vec4f, 8>>) {
  let ty = lid / 16u;
  let tx = lid % 16u;
  let cn = min(TS, hi - s0);
  for (var c = 0u; c < cn; c++) {
    let w = vec4f(w_t[c * TO + ty], w_t[c * TO + ty + 16u], w_t[c * TO + ty + 32u], w_t[c * TO + ty + 48u]);
    for (var q2 = 0u; q2 < 2u; q2++) {
      let k4 = tx + 16u * q2;
      if (k4 < D4) {
        let x = prepped(str_rows, (s0 + c) * D4 + k4);
        (*acc)[q2] = fma(vec4f(w.x), x, (*acc)[q2]);
        (*acc)[2u + q2] = fma(vec4f(w.y), x, (*acc)[2u + q2]);
        (*acc)[4u + q2] = fma(vec4f(w.z), x, (*acc)[4u + q2]);
        (*acc)[6u + q2] = fma(vec4f(w.w), x, (*acc)[6u + q2]);
      }
    }
  }
}

// Writes acc (rows own0 + ty + 16r of `rows`, vec4s tx + 16·q2) to gpart segment wid_y.
fn store_partial(lid: u32, own0: u32, rows: u32, seg: u32, acc: array<vec4f, 8>) {
  let ty = lid / 16u;
  let tx = lid % 16u;
  for (var r = 0u; r < 4u; r++) {
    let o = own0 + ty + 16u * r;
    for (var q2 = 0u; q2 < 2u; q2++) {
      let k4 = tx + 16u * q2;
      if (o < rows && k4 < D4) { gpart[(seg * rows + o) * D4 + k4] = acc[2u * r + q2]; }
    }
  }
}

// d Â partial of rows wid.x·64 … +63 over the columns of segment wid.y: Σ_j w_ij ĉ_j.
@compute @workgroup_size(256)
fn backward_rows_wg(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let ty = lid / 16u;
  let tx = lid % 16u;
  let i0 = wid.x * TO;
  let lo = wid.y * tp.seg * TS;
  let hi = min(tp.m, lo + tp.seg * TS);
  let n1 = tp.n - 1u;
  let m1 = tp.m - 1u;
  var ri: array<RowInfo, 4>;
  var gl: array<vec2f, 4>;   // (g_i, lse_i)
  for (var r = 0u; r < 4u; r++) {
    let i = min(i0 + ty + 16u * r, n1);
    ri[r] = rinfo[i];
    gl[r] = vec2f(g[i], lse[i]);
  }
  var acc: array<vec4f, 8>;
  for (var s0 = lo; s0 < hi; s0 += TS) {
    let sc = score_tile(lid, true, i0, s0);
    let j = vec2u(s0 + tx, s0 + tx + 16u);
    let c0 = cinfo[min(j.x, m1)];
    let c1 = cinfo[min(j.y, m1)];
    let lq = vec2f(c0.logq, c1.logq);
    for (var r = 0u; r < 4u; r++) {
      let own_ok = i0 + ty + 16u * r < tp.n;
      let ok = (j < vec2u(hi)) & vec2<bool>(own_ok && pair_ok(ri[r], j.x, c0), own_ok && pair_ok(ri[r], j.y, c1));
      let y = select(vec2f(0.0), vec2f(1.0), j == vec2u(ri[r].pos));
      let w = select(vec2f(0.0), gl[r].x * (exp(sc[r] - lq - gl[r].y) - y), ok);
      w_t[tx * TO + ty + 16u * r] = w.x;
      w_t[(tx + 16u) * TO + ty + 16u * r] = w.y;
    }
    workgroupBarrier();
    accumulate_tile(lid, false, s0, hi, &acc);
    workgroupBarrier();
  }
  store_partial(lid, i0, tp.n, wid.y, acc);
}

// d ĉ partial of columns wid.x·64 … +63 over the rows of segment wid.y: Σ_i w_ij Â_i.
@compute @workgroup_size(256)
fn backward_cols_wg(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let ty = lid / 16u;
  let tx = lid % 16u;
  let j0 = wid.x * TO;
  let lo = wid.y * tp.seg * TS;
  let hi = min(tp.n, lo + tp.seg * TS);
  let n1 = tp.n - 1u;
  let m1 = tp.m - 1u;
  var cj: array<ColInfo, 4>;
  for (var r = 0u; r < 4u; r++) { cj[r] = cinfo[min(j0 + ty + 16u * r, m1)]; }
  var acc: array<vec4f, 8>;
  for (var s0 = lo; s0 < hi; s0 += TS) {
    let sc = score_tile(lid, false, j0, s0);
    let i = vec2u(s0 + tx, s0 + tx + 16u);
    let r0 = rinfo[min(i.x, n1)];
    let r1 = rinfo[min(i.y, n1)];
    let gv = vec2f(g[min(i.x, n1)], g[min(i.y, n1)]);
    let lv = vec2f(lse[min(i.x, n1)], lse[min(i.y, n1)]);
    for (var r = 0u; r < 4u; r++) {
      let j = j0 + ty + 16u * r;
      let own_ok = j < tp.m;
      let ok = (i < vec2u(hi)) & vec2<bool>(own_ok && pair_ok(r0, j, cj[r]), own_ok && pair_ok(r1, j, cj[r]));
      let y = select(vec2f(0.0), vec2f(1.0), vec2u(r0.pos, r1.pos) == vec2u(j));
      let w = select(vec2f(0.0), gv * (exp(sc[r] - vec2f(cj[r].logq) - lv) - y), ok);
      w_t[tx * TO + ty + 16u * r] = w.x;
      w_t[(tx + 16u) * TO + ty + 16u * r] = w.y;
    }
    workgroupBarrier();
    accumulate_tile(lid, true, s0, hi, &acc);
    workgroupBarrier();
  }
  store_partial(lid, j0, tp.m, wid.y, acc);
}
