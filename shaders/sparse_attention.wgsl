// Blocked sparse attention (MUFASA SAL, paper §3.2, eq. 6–12; NSA-style kernels): one family, three
// key sets chosen by the MODE override —
//   MODE 0  causal / windowed: query t sees items max(0, t−W+1) … t (W = 0: all of 0 … t);
//   MODE 1  block: query t sees the block embeddings b with (b+1)·bs ≤ t (blocks that end before t);
//   MODE 2  selective: query t sees the items of its selected blocks (i32 list, −1 = none), only blocks
//           visible to t (so an item never attends to itself or the future).
// Sequences are left-aligned: positions ≥ len are padding (output 0, never a key). With LAST_ONLY the
// single query per sequence is t = len − 1.
//
// One thread per query (forward, dQ) or per key row (dK/dV), no barriers and no atomics: on the CPU
// adapters a barrier costs far more than a row's arithmetic (src/tensor/ops/reduce.ts rowConfig), and
// the per-destination loops make backward deterministic (DESIGN.md §3). Forward is an online softmax
// that stores each query's log-sum-exp; backward (FlashAttention-2 / NSA structure) first forms
// Δ_t = Σ o_t·dO_t (attn_delta, packed with lse into one [.., 2] buffer so that dQ and dK/dV stay within
// 8 storage buffers), then dQ loops a query's keys and dK/dV loops the queries that see a key.
//
// Rows are vec4-typed (q, k, v, o, dO and the gradients): attention.ts pads d to a multiple of 4 with
// zero columns, which change no dot product. Reading a row through array<f32> and assembling each vec4
// from four scalar loads made the causal forward 2.4× slower on llvmpipe (B = 64, L = 200, d = 64:
// 157 vs 61 ms in a standalone copy of the kernel; each lane's scalar load is a gather there).
//
// Accumulators: with REG (d ≤ 4·RCAP) a thread keeps its output row(s) in a private
// array<vec4f, RCAP> whose loops have the const bound RCAP with an `if (c < D4)` guard, which Mesa
// unrolls into registers; loops bounded by the override itself (or larger arrays) took seconds to
// compile (see attention.ts). Without REG the thread accumulates its own output row in place in global
// memory (o, dq, dkv rows belong to one thread each). With REG the thread's fixed rows (q and dO, or its
// own k and v) sit in the same kind of arrays and each streamed row is loaded once per key; without REG
// dot products stream from global memory.

override WG: u32 = 64;
override MODE: u32 = 0u;
override LAST_ONLY: bool = false;
override REG: bool = false;
override D4: u32 = 1u;   // p.d4 (REG only)
const RCAP: u32 = 16u;

// Lowest finite f32 stands for −∞ (a query with no keys): exp(LOWEST − m) underflows to 0, no NaN.
const LOWEST: f32 = -3.4028234663852886e38;

struct Params {
  nq: u32,      // B · Lq query rows
  lq: u32,      // queries per sequence (L, or 1 with LAST_ONLY)
  nkeys: u32,   // B · rows key rows
  rows: u32,    // key rows per sequence (L items, or nb blocks)
  d4: u32,      // vec4 columns per row (⌈d/4⌉)
  lmax: u32,    // lengths are clamped to [0, lmax]
  window: u32,  // MODE 0: 0 = full causal
  bs: u32,      // MODE 1, 2: block size
  ksel: u32,    // MODE 2: selected blocks per query
  scale: f32,   // 1/√d of the unpadded d
  window_long: u32,  // MODE 0: the window of sequences longer than long_after items (SAL's paper rule)
  long_after: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> kx: array<vec4f>;
@group(0) @binding(3) var<storage, read> vx: array<vec4f>;
@group(0) @binding(4) var<storage, read> lens: array<i32>;
// MODE 2 only; other modes bind any i32 buffer here (it is not read).
@group(0) @binding(5) var<storage, read> sel: array<i32>;
@group(0) @binding(6) var<storage, read_write> o: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> lse: array<f32>;
@group(0) @binding(8) var<storage, read> dout: array<vec4f>;
// [nq, 2]: (lse, Δ) per query.
@group(0) @binding(9) var<storage, read_write> st: array<f32>;
@group(0) @binding(10) var<storage, read_write> dq: array<vec4f>;
// [2, nkeys, d4]: dK then dV (one buffer: 8 storage buffers per entry point at most).
@group(0) @binding(11) var<storage, read_write> dkv: array<vec4f>;
@group(0) @binding(12) var<storage, read> o_in: array<vec4f>;
@group(0) @binding(13) var<storage, read> lse_in: array<f32>;
// MODE 2 inverse selection index (attn_inv_count / attn_inv_fill below): B·nb counts, then the rows.
// (Not named `inv`: wgsl_reflect would take attn_forward's local `inv` for it and bind it there.)
@group(0) @binding(14) var<storage, read_write> sel_index: array<u32>;
@group(0) @binding(15) var<storage, read> sel_index_in: array<u32>;

fn seq_len(b: u32) -> i32 {
  return clamp(lens[b], 0, i32(p.lmax));
}

// MODE 0: sequence b's window (0 = full causal): window_long if its length exceeds long_after.
fn window_of(b: u32) -> i32 {
  return i32(select(p.window, p.window_long, lens[b] > i32(p.long_after)));
}

// Position of query row qi of sequence b, or −1 for padding.
fn query_pos(len: i32, qi: u32) -> i32 {
  if (LAST_ONLY) { return len - 1; }
  return select(-1, i32(qi), i32(qi) < len);
}

fn n_segments() -> u32 {
  return select(1u, p.ksel, MODE == 2u);
}

// Key rows [x, y) of segment s of query row `row` at position t ≥ 0 (empty when x ≥ y).
fn segment(row: u32, t: i32, s: u32) -> vec2i {
  let bs = i32(p.bs);
  if (MODE == 0u) {
    var lo = 0;
    let w = window_of(row / p.lq);
    if (w > 0) { lo = max(0, t - w + 1); }
    return vec2i(lo, t + 1);
  }
  if (MODE == 1u) {
    return vec2i(0, min(t / bs, i32(p.rows)));
  }
  let blk = sel[row * p.ksel + s];
  if (blk < 0 || (blk + 1) * bs > t) { return vec2i(0, 0); }
  return vec2i(blk * bs, (blk + 1) * bs);
}

fn hsum(v: vec4f) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

fn thread_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn attn_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = thread_index(wid, nwg, lid);
  if (row >= p.nq) { return; }
  let b = row / p.lq;
  let t = query_pos(seq_len(b), row % p.lq);
  let qbase = row * p.d4;
  var acc: array<vec4f, RCAP>;
  var qr: array<vec4f, RCAP>;
  for (var c = 0u; c < RCAP; c++) { acc[c] = vec4f(0.0); }
  if (REG) {
    for (var c = 0u; c < RCAP; c++) { if (c < D4) { qr[c] = q[qbase + c]; } }
  } else {
    for (var c = 0u; c < p.d4; c++) { o[qbase + c] = vec4f(0.0); }
  }
  var m = LOWEST;
  var l = 0.0;
  if (t >= 0) {
    for (var s = 0u; s < n_segments(); s++) {
      let seg = segment(row, t, s);
      for (var j = seg.x; j < seg.y; j++) {
        let kb = (b * p.rows + u32(j)) * p.d4;
        var dv = vec4f(0.0);
        if (REG) {
          for (var c = 0u; c < RCAP; c++) { if (c < D4) { dv += qr[c] * kx[kb + c]; } }
        } else {
          for (var c = 0u; c < p.d4; c++) { dv += q[qbase + c] * kx[kb + c]; }
        }
        let sc = hsum(dv) * p.scale;
        let mn = max(m, sc);
        let corr = exp(m - mn);
        let pj = exp(sc - mn);
        l = l * corr + pj;
        if (REG) {
          for (var c = 0u; c < RCAP; c++) { if (c < D4) { acc[c] = acc[c] * corr + pj * vx[kb + c]; } }
        } else {
          for (var c = 0u; c < p.d4; c++) { o[qbase + c] = o[qbase + c] * corr + pj * vx[kb + c]; }
        }
        m = mn;
      }
    }
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  if (REG) {
    for (var c = 0u; c < RCAP; c++) { if (c < D4) { o[qbase + c] = acc[c] * inv; } }
  } else {
    for (var c = 0u; c < p.d4; c++) { o[qbase + c] *= inv; }
  }
  lse[row] = select(LOWEST, m + log(l), l > 0.0);
}

// MODE 0 over every position with REG: QPT consecutive queries t0 … t0+QPT−1 of one sequence per
// thread (attn_forward_q, attn_dq_q), so each key row is loaded once for all of them. A key outside one
// query's range (after t, before its window, or the query is padding) gets weight 0 and leaves that
// query's running max, sum and accumulator exactly as they were, so the results are bit-identical to
// one query per thread. The query loops are bounded by the const QCAP with an `if (i < QPT)` guard, like
// the d loops (RCAP / D4).
override QPT: u32 = 1u;
const QCAP: u32 = 4u;

// Query i of the thread's group: (row, t, first key); t = −1 for padding or past the sequence's end.
struct QSlot {
  row: u32,
  t: i32,
  lo: i32,
}

fn query_slot(b: u32, t0: u32, i: u32, len: i32) -> QSlot {
  let qi = min(t0 + i, p.lq - 1u);
  let row = b * p.lq + qi;
  var t = -1;
  var lo = 0;
  if (t0 + i < p.lq && i32(t0 + i) < len) {
    t = i32(t0 + i);
    lo = segment(row, t, 0u).x;
  }
  return QSlot(row, t, lo);
}

@compute @workgroup_size(WG)
fn attn_forward_q(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let groups = (p.lq + QPT - 1u) / QPT;
  let th = thread_index(wid, nwg, lid);
  if (th >= p.nq / p.lq * groups) { return; }
  let b = th / groups;
  let t0 = (th % groups) * QPT;
  let len = seq_len(b);
  var qs: array<QSlot, QCAP>;
  var qr: array<array<vec4f, RCAP>, QCAP>;
  var acc: array<array<vec4f, RCAP>, QCAP>;
  var m: array<f32, QCAP>;
  var l: array<f32, QCAP>;
  var jlo = i32(p.lmax);
  var jhi = -1;
  for (var i = 0u; i < QCAP; i++) {
    if (i < QPT) {
      qs[i] = query_slot(b, t0, i, len);
      m[i] = LOWEST;
      l[i] = 0.0;
      for (var c = 0u; c < RCAP; c++) {
        acc[i][c] = vec4f(0.0);
        if (c < D4) { qr[i][c] = q[qs[i].row * p.d4 + c]; }
      }
      if (qs[i].t >= 0) {
        jlo = min(jlo, qs[i].lo);
        jhi = max(jhi, qs[i].t);
      }
    }
  }
  for (var j = jlo; j <= jhi; j++) {
    let kb = (b * p.rows + u32(j)) * p.d4;
    var dots: array<vec4f, QCAP>;
    for (var i = 0u; i < QCAP; i++) { dots[i] = vec4f(0.0); }
    for (var c = 0u; c < RCAP; c++) {
      if (c < D4) {
        let kc = kx[kb + c];
        for (var i = 0u; i < QCAP; i++) { if (i < QPT) { dots[i] += qr[i][c] * kc; } }
      }
    }
    var corr: array<f32, QCAP>;
    var pj: array<f32, QCAP>;
    for (var i = 0u; i < QCAP; i++) {
      if (i < QPT) {
        let ok = j >= qs[i].lo && j <= qs[i].t;
        let sc = hsum(dots[i]) * p.scale;
        let mn = select(m[i], max(m[i], sc), ok);
        corr[i] = exp(m[i] - mn);
        pj[i] = select(0.0, exp(sc - mn), ok);
        l[i] = l[i] * corr[i] + pj[i];
        m[i] = mn;
      }
    }
    for (var c = 0u; c < RCAP; c++) {
      if (c < D4) {
        let vc = vx[kb + c];
        for (var i = 0u; i < QCAP; i++) { if (i < QPT) { acc[i][c] = acc[i][c] * corr[i] + pj[i] * vc; } }
      }
    }
  }
  for (var i = 0u; i < QCAP; i++) {
    if (i < QPT && t0 + i < p.lq) {
      let inv = select(0.0, 1.0 / l[i], l[i] > 0.0);
      for (var c = 0u; c < RCAP; c++) { if (c < D4) { o[qs[i].row * p.d4 + c] = acc[i][c] * inv; } }
      lse[qs[i].row] = select(LOWEST, m[i] + log(l[i]), l[i] > 0.0);
    }
  }
}

// Δ_t = Σ o_t·dO_t, stored beside lse_t.
@compute @workgroup_size(WG)
fn attn_delta(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = thread_index(wid, nwg, lid);
  if (row >= p.nq) { return; }
  let base = row * p.d4;
  var dv = vec4f(0.0);
  for (var c = 0u; c < p.d4; c++) { dv += o_in[base + c] * dout[base + c]; }
  st[2u * row] = lse_in[row];
  st[2u * row + 1u] = hsum(dv);
}

// dQ_t = scale · Σ_j P_tj (dO_t·v_j − Δ_t) k_j, P_tj = exp(scale·q_t·k_j − lse_t).
@compute @workgroup_size(WG)
fn attn_dq(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = thread_index(wid, nwg, lid);
  if (row >= p.nq) { return; }
  let b = row / p.lq;
  let t = query_pos(seq_len(b), row % p.lq);
  let qbase = row * p.d4;
  var acc: array<vec4f, RCAP>;
  var qr: array<vec4f, RCAP>;
  var gr: array<vec4f, RCAP>;
  var kr: array<vec4f, RCAP>;
  for (var c = 0u; c < RCAP; c++) { acc[c] = vec4f(0.0); }
  if (REG) {
    for (var c = 0u; c < RCAP; c++) {
      if (c < D4) {
        qr[c] = q[qbase + c];
        gr[c] = dout[qbase + c];
      }
    }
  } else {
    for (var c = 0u; c < p.d4; c++) { dq[qbase + c] = vec4f(0.0); }
  }
  let lse_t = st[2u * row];
  let delta = st[2u * row + 1u];
  if (t >= 0) {
    for (var s = 0u; s < n_segments(); s++) {
      let seg = segment(row, t, s);
      for (var j = seg.x; j < seg.y; j++) {
        let kb = (b * p.rows + u32(j)) * p.d4;
        var sv = vec4f(0.0);
        var gv = vec4f(0.0);
        if (REG) {
          for (var c = 0u; c < RCAP; c++) {
            if (c < D4) {
              kr[c] = kx[kb + c];
              sv += qr[c] * kr[c];
              gv += gr[c] * vx[kb + c];
            }
          }
        } else {
          for (var c = 0u; c < p.d4; c++) {
            sv += q[qbase + c] * kx[kb + c];
            gv += dout[qbase + c] * vx[kb + c];
          }
        }
        let pj = exp(hsum(sv) * p.scale - lse_t);
        let ds = pj * (hsum(gv) - delta) * p.scale;
        if (REG) {
          for (var c = 0u; c < RCAP; c++) { if (c < D4) { acc[c] += ds * kr[c]; } }
        } else {
          for (var c = 0u; c < p.d4; c++) { dq[qbase + c] += ds * kx[kb + c]; }
        }
      }
    }
  }
  if (REG) {
    for (var c = 0u; c < RCAP; c++) { if (c < D4) { dq[qbase + c] = acc[c]; } }
  }
}

// attn_dq over QPT consecutive queries per thread (see attn_forward_q): a key outside a query's range
// gets ds = 0, which leaves that query's sum as it was.
@compute @workgroup_size(WG)
fn attn_dq_q(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let groups = (p.lq + QPT - 1u) / QPT;
  let th = thread_index(wid, nwg, lid);
  if (th >= p.nq / p.lq * groups) { return; }
  let b = th / groups;
  let t0 = (th % groups) * QPT;
  let len = seq_len(b);
  var qs: array<QSlot, QCAP>;
  var qr: array<array<vec4f, RCAP>, QCAP>;
  var gr: array<array<vec4f, RCAP>, QCAP>;
  var acc: array<array<vec4f, RCAP>, QCAP>;
  var lse_q: array<f32, QCAP>;
  var delta: array<f32, QCAP>;
  var jlo = i32(p.lmax);
  var jhi = -1;
  for (var i = 0u; i < QCAP; i++) {
    if (i < QPT) {
      qs[i] = query_slot(b, t0, i, len);
      let base = qs[i].row * p.d4;
      for (var c = 0u; c < RCAP; c++) {
        acc[i][c] = vec4f(0.0);
        if (c < D4) {
          qr[i][c] = q[base + c];
          gr[i][c] = dout[base + c];
        }
      }
      lse_q[i] = st[2u * qs[i].row];
      delta[i] = st[2u * qs[i].row + 1u];
      if (qs[i].t >= 0) {
        jlo = min(jlo, qs[i].lo);
        jhi = max(jhi, qs[i].t);
      }
    }
  }
  for (var j = jlo; j <= jhi; j++) {
    let kb = (b * p.rows + u32(j)) * p.d4;
    var kr: array<vec4f, RCAP>;
    var sv: array<vec4f, QCAP>;
    var gv: array<vec4f, QCAP>;
    for (var i = 0u; i < QCAP; i++) {
      sv[i] = vec4f(0.0);
      gv[i] = vec4f(0.0);
    }
    for (var c = 0u; c < RCAP; c++) {
      if (c < D4) {
        kr[c] = kx[kb + c];
        let vc = vx[kb + c];
        for (var i = 0u; i < QCAP; i++) {
          if (i < QPT) {
            sv[i] += qr[i][c] * kr[c];
            gv[i] += gr[i][c] * vc;
          }
        }
      }
    }
    var ds: array<f32, QCAP>;
    for (var i = 0u; i < QCAP; i++) {
      if (i < QPT) {
        let ok = j >= qs[i].lo && j <= qs[i].t;
        let pj = select(0.0, exp(hsum(sv[i]) * p.scale - lse_q[i]), ok);
        ds[i] = pj * (hsum(gv[i]) - delta[i]) * p.scale;
      }
    }
    for (var c = 0u; c < RCAP; c++) {
      if (c < D4) {
        for (var i = 0u; i < QCAP; i++) { if (i < QPT) { acc[i][c] += ds[i] * kr[c]; } }
      }
    }
  }
  for (var i = 0u; i < QCAP; i++) {
    if (i < QPT && t0 + i < p.lq) {
      for (var c = 0u; c < RCAP; c++) { if (c < D4) { dq[qs[i].row * p.d4 + c] = acc[i][c]; } }
    }
  }
}

// attn_dkv and attn_dkv_sel share everything but which queries a key visits: one key's state is its k
// and v rows (held in kr/vr when REG) and the gradient sums gk/gv (REG) or dkv itself (not REG).
fn dkv_begin(kbase: u32, vbase: u32, kr: ptr<function, array<vec4f, RCAP>>, vr: ptr<function, array<vec4f, RCAP>>, gk: ptr<function, array<vec4f, RCAP>>, gv: ptr<function, array<vec4f, RCAP>>) {
  for (var c = 0u; c < RCAP; c++) {
    (*gk)[c] = vec4f(0.0);
    (*gv)[c] = vec4f(0.0);
  }
  if (REG) {
    for (var c = 0u; c < RCAP; c++) {
      if (c < D4) {
        (*kr)[c] = kx[kbase + c];
        (*vr)[c] = vx[kbase + c];
      }
    }
  } else {
    for (var c = 0u; c < p.d4; c++) {
      dkv[kbase + c] = vec4f(0.0);
      dkv[vbase + c] = vec4f(0.0);
    }
  }
}

// Query row `row` (weight `mult`: how many times it lists the key's block) adds to the key's dK/dV.
// kbase indexes k/v and dK; vbase = kbase + nkeys·d4 indexes dV.
fn dkv_visit(row: u32, mult: f32, kbase: u32, vbase: u32, kr: ptr<function, array<vec4f, RCAP>>, vr: ptr<function, array<vec4f, RCAP>>, gk: ptr<function, array<vec4f, RCAP>>, gv: ptr<function, array<vec4f, RCAP>>) {
  var qc: array<vec4f, RCAP>;
  var gc: array<vec4f, RCAP>;
  let qbase = row * p.d4;
  var sv = vec4f(0.0);
  var dv = vec4f(0.0);
  if (REG) {
    for (var c = 0u; c < RCAP; c++) {
      if (c < D4) {
        qc[c] = q[qbase + c];
        gc[c] = dout[qbase + c];
        sv += (*kr)[c] * qc[c];
        dv += (*vr)[c] * gc[c];
      }
    }
  } else {
    for (var c = 0u; c < p.d4; c++) {
      sv += kx[kbase + c] * q[qbase + c];
      dv += vx[kbase + c] * dout[qbase + c];
    }
  }
  let pj = mult * exp(hsum(sv) * p.scale - st[2u * row]);
  let ds = pj * (hsum(dv) - st[2u * row + 1u]) * p.scale;
  if (REG) {
    for (var c = 0u; c < RCAP; c++) {
      if (c < D4) {
        (*gk)[c] += ds * qc[c];
        (*gv)[c] += pj * gc[c];
      }
    }
  } else {
    for (var c = 0u; c < p.d4; c++) {
      dkv[kbase + c] += ds * q[qbase + c];
      dkv[vbase + c] += pj * dout[qbase + c];
    }
  }
}

// Write the REG sums gk/gv into dkv (without REG the sums are already there).
fn dkv_store(kbase: u32, vbase: u32, gk: ptr<function, array<vec4f, RCAP>>, gv: ptr<function, array<vec4f, RCAP>>) {
  if (REG) {
    for (var c = 0u; c < RCAP; c++) {
      if (c < D4) {
        dkv[kbase + c] = (*gk)[c];
        dkv[vbase + c] = (*gv)[c];
      }
    }
  }
}

// dK_j = scale · Σ_t P_tj (dO_t·v_j − Δ_t) q_t and dV_j = Σ_t P_tj dO_t over the queries t that see
// key row j: MODE 0 t ∈ [j, j+W−1] (∩ [0, len)), MODE 1 t ≥ (j+1)·bs. MODE 2 (selective) has its own
// kernel, attn_dkv_sel below, which visits only the queries that selected j's block.
@compute @workgroup_size(WG)
fn attn_dkv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let key = thread_index(wid, nwg, lid);
  if (key >= p.nkeys) { return; }
  let b = key / p.rows;
  let j = i32(key % p.rows);
  let len = seq_len(b);
  let bs = i32(p.bs);
  let kbase = key * p.d4;
  let vbase = (p.nkeys + key) * p.d4;
  var gk: array<vec4f, RCAP>;
  var gv: array<vec4f, RCAP>;
  var kr: array<vec4f, RCAP>;
  var vr: array<vec4f, RCAP>;
  dkv_begin(kbase, vbase, &kr, &vr, &gk, &gv);
  var ta = j;
  var tb = len - 1;
  if (MODE == 0u) {
    let w = window_of(b);
    if (w > 0) { tb = min(tb, j + w - 1); }
  }
  if (MODE == 1u) { ta = (j + 1) * bs; }
  if (LAST_ONLY) { ta = max(ta, len - 1); }
  for (var t = ta; t <= tb; t++) {
    let row = b * p.lq + select(u32(t), 0u, LAST_ONLY);
    dkv_visit(row, 1.0, kbase, vbase, &kr, &vr, &gk, &gv);
  }
  dkv_store(kbase, vbase, &gk, &gv);
}

// attn_dkv (MODE 0, every position, REG) over QPT consecutive keys j0 … j0+QPT−1 per thread: each
// query row's q and dO are loaded once for all of them. A query outside one key's range (before the
// key, or past its window) adds exact zeros to that key's sums.
@compute @workgroup_size(WG)
fn attn_dkv_q(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let groups = (p.rows + QPT - 1u) / QPT;
  let th = thread_index(wid, nwg, lid);
  if (th >= p.nkeys / p.rows * groups) { return; }
  let b = th / groups;
  let j0 = (th % groups) * QPT;
  let len = seq_len(b);
  let w = window_of(b);
  var kr: array<array<vec4f, RCAP>, QCAP>;
  var vr: array<array<vec4f, RCAP>, QCAP>;
  var gk: array<array<vec4f, RCAP>, QCAP>;
  var gv: array<array<vec4f, RCAP>, QCAP>;
  var tb: array<i32, QCAP>;
  var thi = -1;
  for (var i = 0u; i < QCAP; i++) {
    if (i < QPT) {
      let base = (b * p.rows + min(j0 + i, p.rows - 1u)) * p.d4;
      for (var c = 0u; c < RCAP; c++) {
        gk[i][c] = vec4f(0.0);
        gv[i][c] = vec4f(0.0);
        if (c < D4) {
          kr[i][c] = kx[base + c];
          vr[i][c] = vx[base + c];
        }
      }
      // Last query that sees key j0 + i (none when the key is padding or past the rows).
      tb[i] = -1;
      if (j0 + i < p.rows) {
        tb[i] = len - 1;
        if (w > 0) { tb[i] = min(tb[i], i32(j0 + i) + w - 1); }
      }
      thi = max(thi, tb[i]);
    }
  }
  for (var t = i32(j0); t <= thi; t++) {
    let row = b * p.lq + u32(t);
    let qbase = row * p.d4;
    var qc: array<vec4f, RCAP>;
    var gc: array<vec4f, RCAP>;
    var sv: array<vec4f, QCAP>;
    var dv: array<vec4f, QCAP>;
    for (var i = 0u; i < QCAP; i++) {
      sv[i] = vec4f(0.0);
      dv[i] = vec4f(0.0);
    }
    for (var c = 0u; c < RCAP; c++) {
      if (c < D4) {
        qc[c] = q[qbase + c];
        gc[c] = dout[qbase + c];
        for (var i = 0u; i < QCAP; i++) {
          if (i < QPT) {
            sv[i] += kr[i][c] * qc[c];
            dv[i] += vr[i][c] * gc[c];
          }
        }
      }
    }
    let lse_t = st[2u * row];
    let delta = st[2u * row + 1u];
    var pj: array<f32, QCAP>;
    var ds: array<f32, QCAP>;
    for (var i = 0u; i < QCAP; i++) {
      if (i < QPT) {
        let ok = t >= i32(j0 + i) && t <= tb[i];
        pj[i] = select(0.0, exp(hsum(sv[i]) * p.scale - lse_t), ok);
        ds[i] = pj[i] * (hsum(dv[i]) - delta) * p.scale;
      }
    }
    for (var c = 0u; c < RCAP; c++) {
      if (c < D4) {
        for (var i = 0u; i < QCAP; i++) {
          if (i < QPT) {
            gk[i][c] += ds[i] * qc[c];
            gv[i][c] += pj[i] * gc[c];
          }
        }
      }
    }
  }
  for (var i = 0u; i < QCAP; i++) {
    if (i < QPT && j0 + i < p.rows) {
      let key = b * p.rows + j0 + i;
      for (var c = 0u; c < RCAP; c++) {
        if (c < D4) {
          dkv[key * p.d4 + c] = gk[i][c];
          dkv[(p.nkeys + key) * p.d4 + c] = gv[i][c];
        }
      }
    }
  }
}

// MODE 2 inverse selection index, built in two passes of one thread per (sequence b, block c) — no
// sort, no atomics. A query t can select c only once c has ended ((c+1)·bs ≤ t), so the thread scans
// t ∈ [(c+1)·bs, len) and each of t's ksel entries:
//   attn_inv_count: sel_index[b·nb + c] = how many entries name c;
//   attn_inv_fill:  writes those entries' query rows, in ascending t, into c's run of sequence b's
//                   region (lq·ksel slots starting at B·nb + b·lq·ksel; runs in block order, so a
//                   run starts after the counts of the sequence's earlier blocks).
// This replaced a bitonic sort of (b·nb + c, row) pairs: 37 dispatches → 2 for B = 64, L = 200, k = 4
// (2^16 pairs); same runs, same order, so the same sums bit for bit.
fn inv_scan(b: u32, c: i32, fill: bool) -> u32 {
  let len = seq_len(b);
  var t = (c + 1) * i32(p.bs);
  if (LAST_ONLY) { t = max(t, len - 1); }
  let nb = (p.rows + p.bs - 1u) / p.bs;
  var at = 0u;
  if (fill) {
    at = p.nkeys / p.rows * nb + b * p.lq * p.ksel;
    for (var cc = 0u; cc < u32(c); cc++) { at += sel_index[b * nb + cc]; }
  }
  var n = 0u;
  for (; t < len; t++) {
    let row = b * p.lq + select(u32(t), 0u, LAST_ONLY);
    for (var s = 0u; s < p.ksel; s++) {
      if (sel[row * p.ksel + s] == c) {
        if (fill) { sel_index[at + n] = row; }
        n++;
      }
    }
  }
  return n;
}

@compute @workgroup_size(WG)
fn attn_inv_count(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid);
  let nb = (p.rows + p.bs - 1u) / p.bs;
  if (i >= p.nkeys / p.rows * nb) { return; }
  sel_index[i] = inv_scan(i / nb, i32(i % nb), false);
}

@compute @workgroup_size(WG)
fn attn_inv_fill(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = thread_index(wid, nwg, lid);
  let nb = (p.rows + p.bs - 1u) / p.bs;
  if (i >= p.nkeys / p.rows * nb) { return; }
  inv_scan(i / nb, i32(i % nb), true);
}

// MODE 2 dK/dV: key j of block c visits only the queries that selected c (its run of the inverse
// index), O(L·k·bs) per sequence. Scanning every later query's list here instead made the whole SAL
// step 1.4× slower at L = 800 on llvmpipe (the scan loop carries the key's register state). The run
// is in ascending t; a block listed m times by one query is m equal adjacent rows, counted with weight m.
@compute @workgroup_size(WG)
fn attn_dkv_sel(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let key = thread_index(wid, nwg, lid);
  if (key >= p.nkeys) { return; }
  let b = key / p.rows;
  let c = (key % p.rows) / p.bs;
  let nb = (p.rows + p.bs - 1u) / p.bs;
  var it = p.nkeys / p.rows * nb + b * p.lq * p.ksel;
  for (var cc = 0u; cc < c; cc++) { it += sel_index_in[b * nb + cc]; }
  let end = it + sel_index_in[b * nb + c];
  let kbase = key * p.d4;
  let vbase = (p.nkeys + key) * p.d4;
  var gk: array<vec4f, RCAP>;
  var gv: array<vec4f, RCAP>;
  var kr: array<vec4f, RCAP>;
  var vr: array<vec4f, RCAP>;
  dkv_begin(kbase, vbase, &kr, &vr, &gk, &gv);
  while (it < end) {
    let row = sel_index_in[it];
    var mult = 1.0;
    while (it + 1u < end && sel_index_in[it + 1u] == row) {
      mult += 1.0;
      it++;
    }
    it++;
    dkv_visit(row, mult, kbase, vbase, &kr, &vr, &gk, &gv);
  }
  dkv_store(kbase, vbase, &gk, &gv);
}

// attn_dkv_sel (REG) over up to QPT keys of one block per thread: the block's keys share its run of
// the index, so each selecting query's q and dO rows are loaded once for all of them.
@compute @workgroup_size(WG)
fn attn_dkv_sel_q(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let nb = (p.rows + p.bs - 1u) / p.bs;
  let per_block = (p.bs + QPT - 1u) / QPT;
  let th = thread_index(wid, nwg, lid);
  if (th >= p.nkeys / p.rows * nb * per_block) { return; }
  let b = th / (nb * per_block);
  let c = (th / per_block) % nb;
  let first = c * p.bs + (th % per_block) * QPT;
  // Keys first … first + n − 1: within block c and within the rows (the last block may be partial).
  if (first >= p.rows) { return; }
  let n = min(min(QPT, (c + 1u) * p.bs - first), p.rows - first);
  var it = p.nkeys / p.rows * nb + b * p.lq * p.ksel;
  for (var cc = 0u; cc < c; cc++) { it += sel_index_in[b * nb + cc]; }
  let end = it + sel_index_in[b * nb + c];
  var kr: array<array<vec4f, RCAP>, QCAP>;
  var vr: array<array<vec4f, RCAP>, QCAP>;
  var gk: array<array<vec4f, RCAP>, QCAP>;
  var gv: array<array<vec4f, RCAP>, QCAP>;
  for (var i = 0u; i < QCAP; i++) {
    if (i < QPT) {
      let base = (b * p.rows + first + min(i, n - 1u)) * p.d4;
      for (var ch = 0u; ch < RCAP; ch++) {
        gk[i][ch] = vec4f(0.0);
        gv[i][ch] = vec4f(0.0);
        if (ch < D4) {
          kr[i][ch] = kx[base + ch];
          vr[i][ch] = vx[base + ch];
        }
      }
    }
  }
  while (it < end) {
    let row = sel_index_in[it];
    var mult = 1.0;
    while (it + 1u < end && sel_index_in[it + 1u] == row) {
      mult += 1.0;
      it++;
    }
    it++;
    let qbase = row * p.d4;
    var qc: array<vec4f, RCAP>;
    var gc: array<vec4f, RCAP>;
    var sv: array<vec4f, QCAP>;
    var dv: array<vec4f, QCAP>;
    for (var i = 0u; i < QCAP; i++) {
      sv[i] = vec4f(0.0);
      dv[i] = vec4f(0.0);
    }
    for (var ch = 0u; ch < RCAP; ch++) {
      if (ch < D4) {
        qc[ch] = q[qbase + ch];
        gc[ch] = dout[qbase + ch];
        for (var i = 0u; i < QCAP; i++) {
          if (i < QPT) {
            sv[i] += kr[i][ch] * qc[ch];
            dv[i] += vr[i][ch] * gc[ch];
          }
        }
      }
    }
    let lse_t = st[2u * row];
    let delta = st[2u * row + 1u];
    var pj: array<f32, QCAP>;
    var ds: array<f32, QCAP>;
    for (var i = 0u; i < QCAP; i++) {
      if (i < QPT) {
        pj[i] = mult * exp(hsum(sv[i]) * p.scale - lse_t);
        ds[i] = pj[i] * (hsum(dv[i]) - delta) * p.scale;
      }
    }
    for (var ch = 0u; ch < RCAP; ch++) {
      if (ch < D4) {
        for (var i = 0u; i < QCAP; i++) {
          if (i < QPT) {
            gk[i][ch] += ds[i] * qc[ch];
            gv[i][ch] += pj[i] * gc[ch];
          }
        }
      }
    }
  }
  for (var i = 0u; i < QCAP; i++) {
    if (i < n) {
      let key = b * p.rows + first + i;
      for (var ch = 0u; ch < RCAP; ch++) {
        if (ch < D4) {
          dkv[key * p.d4 + ch] = gk[i][ch];
          dkv[(p.nkeys + key) * p.d4 + ch] = gv[i][ch];
        }
      }
    }
  }
}

// blockAttention's matmul path, between the two matmuls (attention.ts blockAttentionMM): raw scores
// S = q·kbᵀ [nq, nb] → P = softmax(scale·S) over the blocks visible to the row's query ((c+1)·bs ≤ t),
// 0 elsewhere and for rows that see no block (padding, t < bs). With KSEL > 0 the same pass writes the
// top-KSEL visible blocks by score (selectBlocks' rule: best first, ties → earlier block, −1 fill), so
// the selective branch needs no second pass over q·kb. Backward: dS = scale·P⊙(dP − Σ dP⊙P).
override KSEL: u32 = 0u;
const KCAP: u32 = 32u;
@group(0) @binding(17) var<storage, read> scores: array<f32>;
@group(0) @binding(18) var<storage, read_write> probs: array<f32>;
@group(0) @binding(19) var<storage, read_write> sel_out: array<i32>;
@group(0) @binding(20) var<storage, read> probs_in: array<f32>;
@group(0) @binding(21) var<storage, read> dprobs: array<f32>;
@group(0) @binding(22) var<storage, read_write> dscores: array<f32>;

// Blocks visible to query row `row` (p.rows = nb).
fn visible_blocks(row: u32) -> u32 {
  let t = query_pos(seq_len(row / p.lq), row % p.lq);
  if (t < 0) { return 0u; }
  return min(u32(t) / p.bs, p.rows);
}

@compute @workgroup_size(WG)
fn block_softmax_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = thread_index(wid, nwg, lid);
  if (row >= p.nq) { return; }
  let nvis = visible_blocks(row);
  let base = row * p.rows;
  var m = LOWEST;
  var vals: array<f32, KCAP>;
  var idx: array<i32, KCAP>;
  for (var s = 0u; s < KSEL; s++) {
    vals[s] = LOWEST;
    idx[s] = -1;
  }
  var count = 0u;
  for (var c = 0u; c < nvis; c++) {
    let raw = scores[base + c];
    m = max(m, raw * p.scale);
    if (KSEL == 0u || (count == KSEL && !(raw > vals[max(KSEL, 1u) - 1u]))) { continue; }
    // Shift the strictly smaller tail down one place and insert (shaders/topk.wgsl's rule).
    var pos = min(count, KSEL - 1u);
    while (pos > 0u && vals[pos - 1u] < raw) {
      vals[pos] = vals[pos - 1u];
      idx[pos] = idx[pos - 1u];
      pos--;
    }
    vals[pos] = raw;
    idx[pos] = i32(c);
    count = min(count + 1u, KSEL);
  }
  for (var s = 0u; s < KSEL; s++) { sel_out[row * KSEL + s] = idx[s]; }
  var l = 0.0;
  for (var c = 0u; c < nvis; c++) { l += exp(scores[base + c] * p.scale - m); }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var c = 0u; c < p.rows; c++) {
    probs[base + c] = select(0.0, exp(scores[base + c] * p.scale - m) * inv, c < nvis);
  }
}

@compute @workgroup_size(WG)
fn block_softmax_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = thread_index(wid, nwg, lid);
  if (row >= p.nq) { return; }
  let base = row * p.rows;
  var dot = 0.0;
  for (var c = 0u; c < p.rows; c++) { dot += dprobs[base + c] * probs_in[base + c]; }
  for (var c = 0u; c < p.rows; c++) { dscores[base + c] = p.scale * probs_in[base + c] * (dprobs[base + c] - dot); }
}
