// Tiled (register-blocked) InfoNCE kernels, the default path for d ≤ 128 (src/tensor/ops/infonce.ts).
// Not a shader on its own: infonce_t4/8/16/32.wgsl define TMAX (the vec4 length of the private
// arrays) and include infonce.wgsl (declarations, bindings) and this file. Why several sizes: llvmpipe
// lowers private arrays indexed in loops to select ladders the length of the array, so an array of
// 32 vec4s for d = 16 cost ~4.5× the compile time of one of 8 (measured, cold shader cache: 20 s vs
// 4.7 s for the two backward kernels) and every access pays for it.

// ------------------------------------------------------------------------- tiled (register-blocked)
//
// A thread owns 8 rows of Â (forward_tiled) or 8 columns of ĉ (backward_cols_tiled), loaded once
// into private arrays, and streams the other side 4 at a time: each streamed vec4 (the same address
// in every lane of the workgroup) feeds 8 dot products. Measured on llvmpipe, forward
// 1024×1024×128: thread-per-row ~57 ms, 4 own rows (in memory) ~57, 4 held in private arrays ~42,
// 8 held ~13–20 (same runs, noisy machine). The kernels below are written out (8 own × 4 streamed),
// as matmul_rb is: SwiftShader does not unroll loops over private arrays.
// The long axis is cut into segments (grid y): enough workgroups to keep every CPU thread busy even at
// N = 256 (one row-workgroup otherwise), and few enough tiles per thread for the LOOP LIMIT. Each
// segment writes a partial result — (max, Σexp, s_pos) per row, or the gradient rows [seg, rows, D4] —
// and a per-row kernel merges the segments in order: deterministic, no atomics,
// O(segments·(N+M)·d) memory. Every score is dot4acc over k in order minus logQ, in both kernels,
// so the backward recomputes exactly the forward's values.
//
// ACC_U (set when the anchors need a gradient): forward_tiled also accumulates u_i = Σ_j p_ij ĉ_j, the
// softmax-weighted candidates, as flash attention accumulates its output (rescaled whenever the row's
// running max moves). d Â_i = g_i (u_i − ĉ_pos) then needs no second pass over the candidates
// (rows_from_u), so this file has no backward kernel over rows: a training step does 4 N·M·d-sized
// passes (forward scores and u, backward_cols' scores and sums) instead of 5 (a rows backward would
// recompute the scores and sum them again). The tiled path always runs the forward with ACC_U when
// the anchors need a gradient (infoNCE in infonce.ts), so the rows kernel that once stood here was
// never dispatched and is gone; the workgroup and row paths keep theirs.
override ACC_U: bool = false;

struct TileParams {
  n: u32,
  m: u32,
  d: u32,
  inv_tau: f32,
  tau: f32,
  eps: f32,
  seg: u32,    // 4-wide tiles of the long axis per segment
  nseg: u32,
}
@group(0) @binding(0) var<uniform> tp: TileParams;

// t + a·c, one fma per component in order: a single scalar accumulator per score (not a vec4 of partial
// sums reduced at the end) because the CPU adapters keep vectors as one SIMD register per component:
// 16 scores are 16 registers this way, 64 the other (measured: see infonce.ts).
fn dot4acc(a: vec4f, c: vec4f, t: f32) -> f32 {
  return fma(a.w, c.w, fma(a.z, c.z, fma(a.y, c.y, fma(a.x, c.x, t))));
}

fn hsum(t: vec4f) -> f32 {
  return (t.x + t.y) + (t.z + t.w);
}

// Columns j0..j0+3 that row ri scores: before `hi` and not masked (masked() on four columns).
fn cols_ok(j0: u32, hi: u32, ri: RowInfo, ck: vec4i) -> vec4<bool> {
  let j = vec4u(j0) + vec4u(0u, 1u, 2u, 3u);
  var ok = j < vec4u(hi);
  if (MASK) { ok = ok & !((j != vec4u(ri.pos)) & (ck == vec4i(ri.key))); }
  return ok;
}

struct Lse {
  mx: f32,
  s: f32,
  sp: f32,   // the positive's score, if it lies in this segment
  hp: f32,   // 1 if it does
}

// One 4-column step of the online log-sum-exp: the new state, the columns' exp(s − max) and the factor
// exp(old max − new max) that rescales what was summed before (ACC_U's accumulators too).
struct LseStep {
  st: Lse,
  e: vec4f,
  scale: f32,
}

fn lse_acc_step(st: Lse, sc: vec4f, ok: vec4<bool>, j0: u32, pj: u32) -> LseStep {
  var o = st;
  let v = select(vec4f(LOWEST), sc, ok);
  let nm = max(o.mx, max(max(v.x, v.y), max(v.z, v.w)));
  let e = select(vec4f(0.0), exp(v - nm), ok);
  let scale = exp(o.mx - nm);
  o.s = o.s * scale + hsum(e);
  o.mx = nm;
  if (pj >= j0 && pj < j0 + 4u) {
    o.sp = sc[pj - j0];
    o.hp = 1.0;
  }
  return LseStep(o, e, scale);
}

// acc·scale + Σ_q e_q x_q: ACC_U's update of one row's u over one tile (x_q = ĉ_{j0+q}[k]).
fn acc_u(acc: vec4f, t: LseStep, x0: vec4f, x1: vec4f, x2: vec4f, x3: vec4f) -> vec4f {
  return fma(vec4f(t.e.w), x3, fma(vec4f(t.e.z), x2, fma(vec4f(t.e.y), x1, fma(vec4f(t.e.x), x0, acc * t.scale))));
}

@group(0) @binding(27) var<storage, read_write> fpart: array<Lse>;   // [nseg, n]

@group(0) @binding(28) var<storage, read> fpart_in: array<Lse>;

// lse and loss of one row from its segments, merged in segment order.
@compute @workgroup_size(WG)
fn forward_merge(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = thread_index(gid, nwg);
  if (i >= tp.n) { return; }
  var mx = LOWEST;
  for (var sg = 0u; sg < tp.nseg; sg++) { mx = max(mx, fpart_in[sg * tp.n + i].mx); }
  var s = 0.0;
  var sp = 0.0;
  for (var sg = 0u; sg < tp.nseg; sg++) {
    let st = fpart_in[sg * tp.n + i];
    s += st.s * exp(st.mx - mx);
    if (st.hp > 0.0) { sp = st.sp; }
  }
  let l = mx + log(s);
  lse_out[i] = l;
  loss[i] = l - sp;
  if (ACC_U) {
    // u_i = Σ_seg exp(max_seg − lse_i)·u_seg: each segment's sum was taken relative to its own max.
    for (var k = 0u; k < D4; k++) {
      var t = vec4f(0.0);
      for (var sg = 0u; sg < tp.nseg; sg++) { t += exp(fpart_in[sg * tp.n + i].mx - l) * gpart_in[(sg * tp.n + i) * D4 + k]; }
      u_out[i * D4 + k] = t;
    }
  }
}

// Gradient partials w.r.t. the prepped rows: [nseg, rows, D4] (rows: N for d Â, M for d ĉ).
@group(0) @binding(29) var<storage, read_write> gpart: array<vec4f>;

// A thread's 8 accumulators (own entries e0 … e0 + 7) into gpart from `base`; entries ≥ n are not written.
fn store_rows(base: u32, e0: u32, n: u32, a0: ptr<function, array<vec4f, TMAX>>, a1: ptr<function, array<vec4f, TMAX>>, a2: ptr<function, array<vec4f, TMAX>>, a3: ptr<function, array<vec4f, TMAX>>, a4: ptr<function, array<vec4f, TMAX>>, a5: ptr<function, array<vec4f, TMAX>>, a6: ptr<function, array<vec4f, TMAX>>, a7: ptr<function, array<vec4f, TMAX>>) {
  for (var k = 0u; k < D4; k++) {
    gpart[base + k] = (*a0)[k];
    if (e0 + 1u < n) { gpart[base + 1u * D4 + k] = (*a1)[k]; }
    if (e0 + 2u < n) { gpart[base + 2u * D4 + k] = (*a2)[k]; }
    if (e0 + 3u < n) { gpart[base + 3u * D4 + k] = (*a3)[k]; }
    if (e0 + 4u < n) { gpart[base + 4u * D4 + k] = (*a4)[k]; }
    if (e0 + 5u < n) { gpart[base + 5u * D4 + k] = (*a5)[k]; }
    if (e0 + 6u < n) { gpart[base + 6u * D4 + k] = (*a6)[k]; }
    if (e0 + 7u < n) { gpart[base + 7u * D4 + k] = (*a7)[k]; }
  }
}

// ACC_U: the merged u [N, D4] (forward_merge) and its reader (rows_from_u).
@group(0) @binding(32) var<storage, read_write> u_out: array<vec4f>;
@group(0) @binding(33) var<storage, read> u_in: array<vec4f>;

// d Â's one-segment partial from the forward's u: g_i (u_i − ĉ_pos_i), for backward_merge (nseg = 1).
@compute @workgroup_size(WG)
fn rows_from_u(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = thread_index(gid, nwg);
  if (i >= tp.n) { return; }
  let gi = g[i];
  let cp = rinfo[i].pos * D4;
  for (var k = 0u; k < D4; k++) { gpart[i * D4 + k] = gi * (u_in[i * D4 + k] - chat[cp + k]); }
}

// Four streamed rows of the backward_cols loop: indices, positives, keys, g, lse.
struct RowQuad {
  ids: vec4u,
  pv: vec4u,
  kv: vec4i,
  gv: vec4f,
  lv: vec4f,
}

// w_ij = g_i(p_ij − [j = pos_i]) of column j against the four rows; 0 for rows at or past `hi` and
// masked pairs (masked() on four rows).
fn col_w(sc: vec4f, rq: RowQuad, hi: u32, j: u32, cj: ColInfo) -> vec4f {
  var ok = rq.ids < vec4u(hi);
  if (MASK) { ok = ok & !((vec4u(j) != rq.pv) & (rq.kv == vec4i(cj.key))); }
  let y = select(vec4f(0.0), vec4f(1.0), rq.pv == vec4u(j));
  return select(vec4f(0.0), rq.gv * (exp(sc - cj.logq - rq.lv) - y), ok);
}

// S[o][q] = Â_{i0+o}·ĉ_{s0+q}: the thread's 8 rows (own_x) against 4 columns of ĉ (clamped).
fn tile_rows(q0: ptr<function, array<vec4f, TMAX>>, q1: ptr<function, array<vec4f, TMAX>>, q2: ptr<function, array<vec4f, TMAX>>, q3: ptr<function, array<vec4f, TMAX>>, q4: ptr<function, array<vec4f, TMAX>>, q5: ptr<function, array<vec4f, TMAX>>, q6: ptr<function, array<vec4f, TMAX>>, q7: ptr<function, array<vec4f, TMAX>>, s0: u32) -> array<vec4f, 8> {
  let last = tp.m - 1u;
  let b0 = min(s0 + 0u, last) * D4;
  let b1 = min(s0 + 1u, last) * D4;
  let b2 = min(s0 + 2u, last) * D4;
  let b3 = min(s0 + 3u, last) * D4;
  var t0 = vec4f(0.0);
  var t1 = vec4f(0.0);
  var t2 = vec4f(0.0);
  var t3 = vec4f(0.0);
  var t4 = vec4f(0.0);
  var t5 = vec4f(0.0);
  var t6 = vec4f(0.0);
  var t7 = vec4f(0.0);
  for (var k = 0u; k < D4; k++) {
    let x0 = chat[b0 + k]; let x1 = chat[b1 + k]; let x2 = chat[b2 + k]; let x3 = chat[b3 + k];
    let y0 = (*q0)[k];
    t0 = vec4f(dot4acc(y0, x0, t0.x), dot4acc(y0, x1, t0.y), dot4acc(y0, x2, t0.z), dot4acc(y0, x3, t0.w));
    let y1 = (*q1)[k];
    t1 = vec4f(dot4acc(y1, x0, t1.x), dot4acc(y1, x1, t1.y), dot4acc(y1, x2, t1.z), dot4acc(y1, x3, t1.w));
    let y2 = (*q2)[k];
    t2 = vec4f(dot4acc(y2, x0, t2.x), dot4acc(y2, x1, t2.y), dot4acc(y2, x2, t2.z), dot4acc(y2, x3, t2.w));
    let y3 = (*q3)[k];
    t3 = vec4f(dot4acc(y3, x0, t3.x), dot4acc(y3, x1, t3.y), dot4acc(y3, x2, t3.z), dot4acc(y3, x3, t3.w));
    let y4 = (*q4)[k];
    t4 = vec4f(dot4acc(y4, x0, t4.x), dot4acc(y4, x1, t4.y), dot4acc(y4, x2, t4.z), dot4acc(y4, x3, t4.w));
    let y5 = (*q5)[k];
    t5 = vec4f(dot4acc(y5, x0, t5.x), dot4acc(y5, x1, t5.y), dot4acc(y5, x2, t5.z), dot4acc(y5, x3, t5.w));
    let y6 = (*q6)[k];
    t6 = vec4f(dot4acc(y6, x0, t6.x), dot4acc(y6, x1, t6.y), dot4acc(y6, x2, t6.z), dot4acc(y6, x3, t6.w));
    let y7 = (*q7)[k];
    t7 = vec4f(dot4acc(y7, x0, t7.x), dot4acc(y7, x1, t7.y), dot4acc(y7, x2, t7.z), dot4acc(y7, x3, t7.w));
  }
  return array<vec4f, 8>(t0, t1, t2, t3, t4, t5, t6, t7);
}

// S[o][r] = Â_{s0+r}·ĉ_{j0+o}: the thread's 8 columns (own_x) against 4 rows of Â (clamped).
fn tile_cols(q0: ptr<function, array<vec4f, TMAX>>, q1: ptr<function, array<vec4f, TMAX>>, q2: ptr<function, array<vec4f, TMAX>>, q3: ptr<function, array<vec4f, TMAX>>, q4: ptr<function, array<vec4f, TMAX>>, q5: ptr<function, array<vec4f, TMAX>>, q6: ptr<function, array<vec4f, TMAX>>, q7: ptr<function, array<vec4f, TMAX>>, s0: u32) -> array<vec4f, 8> {
  let last = tp.n - 1u;
  let b0 = min(s0 + 0u, last) * D4;
  let b1 = min(s0 + 1u, last) * D4;
  let b2 = min(s0 + 2u, last) * D4;
  let b3 = min(s0 + 3u, last) * D4;
  var t0 = vec4f(0.0);
  var t1 = vec4f(0.0);
  var t2 = vec4f(0.0);
  var t3 = vec4f(0.0);
  var t4 = vec4f(0.0);
  var t5 = vec4f(0.0);
  var t6 = vec4f(0.0);
  var t7 = vec4f(0.0);
  for (var k = 0u; k < D4; k++) {
    let x0 = ahat[b0 + k]; let x1 = ahat[b1 + k]; let x2 = ahat[b2 + k]; let x3 = ahat[b3 + k];
    let y0 = (*q0)[k];
    t0 = vec4f(dot4acc(y0, x0, t0.x), dot4acc(y0, x1, t0.y), dot4acc(y0, x2, t0.z), dot4acc(y0, x3, t0.w));
    let y1 = (*q1)[k];
    t1 = vec4f(dot4acc(y1, x0, t1.x), dot4acc(y1, x1, t1.y), dot4acc(y1, x2, t1.z), dot4acc(y1, x3, t1.w));
    let y2 = (*q2)[k];
    t2 = vec4f(dot4acc(y2, x0, t2.x), dot4acc(y2, x1, t2.y), dot4acc(y2, x2, t2.z), dot4acc(y2, x3, t2.w));
    let y3 = (*q3)[k];
    t3 = vec4f(dot4acc(y3, x0, t3.x), dot4acc(y3, x1, t3.y), dot4acc(y3, x2, t3.z), dot4acc(y3, x3, t3.w));
    let y4 = (*q4)[k];
    t4 = vec4f(dot4acc(y4, x0, t4.x), dot4acc(y4, x1, t4.y), dot4acc(y4, x2, t4.z), dot4acc(y4, x3, t4.w));
    let y5 = (*q5)[k];
    t5 = vec4f(dot4acc(y5, x0, t5.x), dot4acc(y5, x1, t5.y), dot4acc(y5, x2, t5.z), dot4acc(y5, x3, t5.w));
    let y6 = (*q6)[k];
    t6 = vec4f(dot4acc(y6, x0, t6.x), dot4acc(y6, x1, t6.y), dot4acc(y6, x2, t6.z), dot4acc(y6, x3, t6.w));
    let y7 = (*q7)[k];
    t7 = vec4f(dot4acc(y7, x0, t7.x), dot4acc(y7, x1, t7.y), dot4acc(y7, x2, t7.z), dot4acc(y7, x3, t7.w));
  }
  return array<vec4f, 8>(t0, t1, t2, t3, t4, t5, t6, t7);
}

@compute @workgroup_size(WG)
fn forward_tiled(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let i0 = gid.x * 8u;
  if (i0 >= tp.n) { return; }
  let lo = wid.y * tp.seg * 4u;
  let hi = min(tp.m, lo + tp.seg * 4u);
  let n1 = tp.n - 1u;
  let m1 = tp.m - 1u;
  var q0: array<vec4f, TMAX>;
  var q1: array<vec4f, TMAX>;
  var q2: array<vec4f, TMAX>;
  var q3: array<vec4f, TMAX>;
  var q4: array<vec4f, TMAX>;
  var q5: array<vec4f, TMAX>;
  var q6: array<vec4f, TMAX>;
  var q7: array<vec4f, TMAX>;
  for (var k = 0u; k < D4; k++) {
    q0[k] = ahat[min(i0 + 0u, n1) * D4 + k];
    q1[k] = ahat[min(i0 + 1u, n1) * D4 + k];
    q2[k] = ahat[min(i0 + 2u, n1) * D4 + k];
    q3[k] = ahat[min(i0 + 3u, n1) * D4 + k];
    q4[k] = ahat[min(i0 + 4u, n1) * D4 + k];
    q5[k] = ahat[min(i0 + 5u, n1) * D4 + k];
    q6[k] = ahat[min(i0 + 6u, n1) * D4 + k];
    q7[k] = ahat[min(i0 + 7u, n1) * D4 + k];
  }
  let r0 = rinfo[min(i0 + 0u, n1)];
  let r1 = rinfo[min(i0 + 1u, n1)];
  let r2 = rinfo[min(i0 + 2u, n1)];
  let r3 = rinfo[min(i0 + 3u, n1)];
  let r4 = rinfo[min(i0 + 4u, n1)];
  let r5 = rinfo[min(i0 + 5u, n1)];
  let r6 = rinfo[min(i0 + 6u, n1)];
  let r7 = rinfo[min(i0 + 7u, n1)];
  // ACC_U: this segment's Σ_j exp(s_ij − max_i) ĉ_j per own row (unused otherwise).
  var acc0: array<vec4f, TMAX>;
  var acc1: array<vec4f, TMAX>;
  var acc2: array<vec4f, TMAX>;
  var acc3: array<vec4f, TMAX>;
  var acc4: array<vec4f, TMAX>;
  var acc5: array<vec4f, TMAX>;
  var acc6: array<vec4f, TMAX>;
  var acc7: array<vec4f, TMAX>;
  var s0 = Lse(LOWEST, 0.0, 0.0, 0.0);
  var s1 = s0;
  var s2 = s0;
  var s3 = s0;
  var s4 = s0;
  var s5 = s0;
  var s6 = s0;
  var s7 = s0;
  for (var j0 = lo; j0 < hi; j0 += 4u) {
    let sc = tile_rows(&q0, &q1, &q2, &q3, &q4, &q5, &q6, &q7, j0);
    let c0 = cinfo[j0];
    let c1 = cinfo[min(j0 + 1u, m1)];
    let c2 = cinfo[min(j0 + 2u, m1)];
    let c3 = cinfo[min(j0 + 3u, m1)];
    let lq = vec4f(c0.logq, c1.logq, c2.logq, c3.logq);
    let ck = vec4i(c0.key, c1.key, c2.key, c3.key);
    let t0 = lse_acc_step(s0, sc[0] - lq, cols_ok(j0, hi, r0, ck), j0, r0.pos);
    let t1 = lse_acc_step(s1, sc[1] - lq, cols_ok(j0, hi, r1, ck), j0, r1.pos);
    let t2 = lse_acc_step(s2, sc[2] - lq, cols_ok(j0, hi, r2, ck), j0, r2.pos);
    let t3 = lse_acc_step(s3, sc[3] - lq, cols_ok(j0, hi, r3, ck), j0, r3.pos);
    let t4 = lse_acc_step(s4, sc[4] - lq, cols_ok(j0, hi, r4, ck), j0, r4.pos);
    let t5 = lse_acc_step(s5, sc[5] - lq, cols_ok(j0, hi, r5, ck), j0, r5.pos);
    let t6 = lse_acc_step(s6, sc[6] - lq, cols_ok(j0, hi, r6, ck), j0, r6.pos);
    let t7 = lse_acc_step(s7, sc[7] - lq, cols_ok(j0, hi, r7, ck), j0, r7.pos);
    s0 = t0.st; s1 = t1.st; s2 = t2.st; s3 = t3.st; s4 = t4.st; s5 = t5.st; s6 = t6.st; s7 = t7.st;
    if (ACC_U) {
      let b0 = j0 * D4;
      let b1 = min(j0 + 1u, m1) * D4;
      let b2 = min(j0 + 2u, m1) * D4;
      let b3 = min(j0 + 3u, m1) * D4;
      for (var k = 0u; k < D4; k++) {
        let x0 = chat[b0 + k]; let x1 = chat[b1 + k]; let x2 = chat[b2 + k]; let x3 = chat[b3 + k];
        acc0[k] = acc_u(acc0[k], t0, x0, x1, x2, x3);
        acc1[k] = acc_u(acc1[k], t1, x0, x1, x2, x3);
        acc2[k] = acc_u(acc2[k], t2, x0, x1, x2, x3);
        acc3[k] = acc_u(acc3[k], t3, x0, x1, x2, x3);
        acc4[k] = acc_u(acc4[k], t4, x0, x1, x2, x3);
        acc5[k] = acc_u(acc5[k], t5, x0, x1, x2, x3);
        acc6[k] = acc_u(acc6[k], t6, x0, x1, x2, x3);
        acc7[k] = acc_u(acc7[k], t7, x0, x1, x2, x3);
      }
    }
  }
  let ob = wid.y * tp.n + i0;
  if (i0 + 0u < tp.n) { fpart[ob + 0u] = s0; }
  if (i0 + 1u < tp.n) { fpart[ob + 1u] = s1; }
  if (i0 + 2u < tp.n) { fpart[ob + 2u] = s2; }
  if (i0 + 3u < tp.n) { fpart[ob + 3u] = s3; }
  if (i0 + 4u < tp.n) { fpart[ob + 4u] = s4; }
  if (i0 + 5u < tp.n) { fpart[ob + 5u] = s5; }
  if (i0 + 6u < tp.n) { fpart[ob + 6u] = s6; }
  if (i0 + 7u < tp.n) { fpart[ob + 7u] = s7; }
  if (ACC_U) { store_rows(ob * D4, i0, tp.n, &acc0, &acc1, &acc2, &acc3, &acc4, &acc5, &acc6, &acc7); }
}

// d ĉ for columns 8·gid.x .. +7 from the rows of segment wid.y: Σ_i w_ij Â_i.
@compute @workgroup_size(WG)
fn backward_cols_tiled(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let j0 = gid.x * 8u;
  if (j0 >= tp.m) { return; }
  let lo = wid.y * tp.seg * 4u;
  let hi = min(tp.n, lo + tp.seg * 4u);
  let n1 = tp.n - 1u;
  let m1 = tp.m - 1u;
  var q0: array<vec4f, TMAX>;
  var q1: array<vec4f, TMAX>;
  var q2: array<vec4f, TMAX>;
  var q3: array<vec4f, TMAX>;
  var q4: array<vec4f, TMAX>;
  var q5: array<vec4f, TMAX>;
  var q6: array<vec4f, TMAX>;
  var q7: array<vec4f, TMAX>;
  for (var k = 0u; k < D4; k++) {
    q0[k] = chat[min(j0 + 0u, m1) * D4 + k];
    q1[k] = chat[min(j0 + 1u, m1) * D4 + k];
    q2[k] = chat[min(j0 + 2u, m1) * D4 + k];
    q3[k] = chat[min(j0 + 3u, m1) * D4 + k];
    q4[k] = chat[min(j0 + 4u, m1) * D4 + k];
    q5[k] = chat[min(j0 + 5u, m1) * D4 + k];
    q6[k] = chat[min(j0 + 6u, m1) * D4 + k];
    q7[k] = chat[min(j0 + 7u, m1) * D4 + k];
  }
  var acc0: array<vec4f, TMAX>;
  var acc1: array<vec4f, TMAX>;
  var acc2: array<vec4f, TMAX>;
  var acc3: array<vec4f, TMAX>;
  var acc4: array<vec4f, TMAX>;
  var acc5: array<vec4f, TMAX>;
  var acc6: array<vec4f, TMAX>;
  var acc7: array<vec4f, TMAX>;
  let c0 = cinfo[min(j0 + 0u, m1)];
  let c1 = cinfo[min(j0 + 1u, m1)];
  let c2 = cinfo[min(j0 + 2u, m1)];
  let c3 = cinfo[min(j0 + 3u, m1)];
  let c4 = cinfo[min(j0 + 4u, m1)];
  let c5 = cinfo[min(j0 + 5u, m1)];
  let c6 = cinfo[min(j0 + 6u, m1)];
  let c7 = cinfo[min(j0 + 7u, m1)];
  for (var i0 = lo; i0 < hi; i0 += 4u) {
    let sc = tile_cols(&q0, &q1, &q2, &q3, &q4, &q5, &q6, &q7, i0);
    let b0 = i0 * D4;
    let b1 = min(i0 + 1u, n1) * D4;
    let b2 = min(i0 + 2u, n1) * D4;
    let b3 = min(i0 + 3u, n1) * D4;
    let r0 = rinfo[i0];
    let r1 = rinfo[min(i0 + 1u, n1)];
    let r2 = rinfo[min(i0 + 2u, n1)];
    let r3 = rinfo[min(i0 + 3u, n1)];
    let rows = RowQuad(vec4u(i0) + vec4u(0u, 1u, 2u, 3u), vec4u(r0.pos, r1.pos, r2.pos, r3.pos), vec4i(r0.key, r1.key, r2.key, r3.key),
      vec4f(g[i0], g[min(i0 + 1u, n1)], g[min(i0 + 2u, n1)], g[min(i0 + 3u, n1)]),
      vec4f(lse[i0], lse[min(i0 + 1u, n1)], lse[min(i0 + 2u, n1)], lse[min(i0 + 3u, n1)]));
    let w0 = col_w(sc[0], rows, hi, j0 + 0u, c0);
    let w1 = col_w(sc[1], rows, hi, j0 + 1u, c1);
    let w2 = col_w(sc[2], rows, hi, j0 + 2u, c2);
    let w3 = col_w(sc[3], rows, hi, j0 + 3u, c3);
    let w4 = col_w(sc[4], rows, hi, j0 + 4u, c4);
    let w5 = col_w(sc[5], rows, hi, j0 + 5u, c5);
    let w6 = col_w(sc[6], rows, hi, j0 + 6u, c6);
    let w7 = col_w(sc[7], rows, hi, j0 + 7u, c7);
    for (var k = 0u; k < D4; k++) {
      let x0 = ahat[b0 + k]; let x1 = ahat[b1 + k]; let x2 = ahat[b2 + k]; let x3 = ahat[b3 + k];
      acc0[k] = fma(vec4f(w0.w), x3, fma(vec4f(w0.z), x2, fma(vec4f(w0.y), x1, fma(vec4f(w0.x), x0, acc0[k]))));
      acc1[k] = fma(vec4f(w1.w), x3, fma(vec4f(w1.z), x2, fma(vec4f(w1.y), x1, fma(vec4f(w1.x), x0, acc1[k]))));
      acc2[k] = fma(vec4f(w2.w), x3, fma(vec4f(w2.z), x2, fma(vec4f(w2.y), x1, fma(vec4f(w2.x), x0, acc2[k]))));
      acc3[k] = fma(vec4f(w3.w), x3, fma(vec4f(w3.z), x2, fma(vec4f(w3.y), x1, fma(vec4f(w3.x), x0, acc3[k]))));
      acc4[k] = fma(vec4f(w4.w), x3, fma(vec4f(w4.z), x2, fma(vec4f(w4.y), x1, fma(vec4f(w4.x), x0, acc4[k]))));
      acc5[k] = fma(vec4f(w5.w), x3, fma(vec4f(w5.z), x2, fma(vec4f(w5.y), x1, fma(vec4f(w5.x), x0, acc5[k]))));
      acc6[k] = fma(vec4f(w6.w), x3, fma(vec4f(w6.z), x2, fma(vec4f(w6.y), x1, fma(vec4f(w6.x), x0, acc6[k]))));
      acc7[k] = fma(vec4f(w7.w), x3, fma(vec4f(w7.z), x2, fma(vec4f(w7.y), x1, fma(vec4f(w7.x), x0, acc7[k]))));
    }
  }
  store_rows((wid.y * tp.m + j0) * D4, j0, tp.m, &acc0, &acc1, &acc2, &acc3, &acc4, &acc5, &acc6, &acc7);
}

// One gradient row: the segments' partials summed in order, times gscale (1/τ for Â, 1 for ĉ), then
// through the normalisation with COSINE (x̂ = xscale·xh4, n = info.x; as finish_norm).
struct MergeParams {
  rows: u32,
  d: u32,
  nseg: u32,
  eps: f32,
  gscale: f32,
  xscale: f32,
}
@group(0) @binding(0) var<uniform> mp: MergeParams;
@group(0) @binding(30) var<storage, read> gpart_in: array<vec4f>;
@group(0) @binding(31) var<storage, read> xh4: array<vec4f>;

@compute @workgroup_size(WG)
fn backward_merge(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = thread_index(gid, nwg);
  if (r >= mp.rows) { return; }
  var v: array<vec4f, TMAX>;
  var dot_xg = 0.0;
  for (var k = 0u; k < D4; k++) {
    var t = vec4f(0.0);
    for (var sg = 0u; sg < mp.nseg; sg++) { t += gpart_in[(sg * mp.rows + r) * D4 + k]; }
    t *= mp.gscale;
    v[k] = t;
    if (COSINE) { dot_xg += dot(xh4[r * D4 + k] * mp.xscale, t); }
  }
  let n = info[r].x;
  let ob = r * mp.d;
  for (var k = 0u; k < D4; k++) {
    var t = v[k];
    if (COSINE) {
      if (n > mp.eps) { t = (t - xh4[r * D4 + k] * mp.xscale * dot_xg) / n; } else { t = t / mp.eps; }
    }
    for (var l = 0u; l < 4u; l++) {
      if (4u * k + l < mp.d) { gout[ob + 4u * k + l] = t[l]; }
    }
  }
}
