// Third pass of the GPU sampler in top-p mode, for the rare step whose nucleus holds more ids than
// sample_topk's candidates (a flat distribution, a high temperature). One workgroup, as large as the
// device allows; it returns at once unless sample_topk set nucleus.pending.
//
// It finds two positions in the CPU sampler's sorted order (value descending, id ascending) without
// sorting: the end of the nucleus (first position where the cumulative weight reaches
// (topP - eps) * S) and the drawn id (first position where it exceeds u * nucleus weight). Each is a
// descent over key intervals with histograms of weight per bin: round 0 bins by distance from the
// largest value (bin0_of, which spreads the ids over many bins so the atomics rarely collide; the
// chosen bin's key interval from bin0_key_interval), then radix rounds of 8 bits over that interval
// until one key value is left; ties at that key are ranked by id.
// Cost, measured on an H200 with Dawn for 151552 ids: about 340 us, against about 70 us for the whole
// top-p step when the nucleus fits in the candidates. It only runs when it does not.
// Weights are summed in 64-bit fixed point (2^-45 units, two u32 atomics with a carry) because WGSL
// has no float atomics, and because exact integer sums let every round see the same totals as the one
// before it: a bin chosen in one round always contains the crossing in the next.
// Prepended: lib/sampling_common.wgsl, lib/sampling_bounds.wgsl.

@group(0) @binding(0) var<uniform> params: SampleParams;
@group(0) @binding(1) var<storage, read> z: array<f32>;            // [vocab] scaled logits from sample_partial
@group(0) @binding(2) var<storage, read> nucleus: NucleusState;    // from sample_topk; read-only so `pending` is uniform
@group(0) @binding(3) var<storage, read_write> result: array<u32>; // [1] the chosen id

override WORKGROUP_SIZE: u32 = 256u; // power of two; src/gpu/sampling.ts asks for up to 1024

const BINS: u32 = BIN0_BINS;
// Ids each invocation loads before it touches the histograms: the atomics would otherwise keep the
// loads of successive ids from overlapping.
const LOAD_BATCH: u32 = 8u;
// Fixed point: vec2<u32>(lo, hi) holds (hi * 2^32 + lo) * 2^-45. A weight is <= 1 and the vocabulary
// is < 2^19 ids (src/gpu/sampling.ts checks), so every sum fits in 64 bits.
const FX_HI_SCALE: f32 = 8192.0;                     // 2^13: weight units per hi unit
const FX_LO_SCALE: f32 = 4294967296.0;               // 2^32
const FX_UNIT: f32 = 1.0 / 35184372088832.0;         // 2^-45

var<workgroup> hist_lo: array<atomic<u32>, BINS>;     // fixed-point weight per bin, low word
var<workgroup> hist_hi: array<atomic<u32>, BINS>;     // high word
var<workgroup> hist_count: array<atomic<u32>, BINS>;  // radix rounds: ids per bin
var<workgroup> bin_min_id: array<atomic<u32>, BINS>;  // radix rounds: lowest id per bin (the answer when a draw picks the first of a key)
var<workgroup> scan_fx_buf: array<vec2<u32>, WORKGROUP_SIZE>;

struct Crossing {
  bin: u32,
  lo: u32,            // the key reached: set by descend once one key is left
  above: vec2<u32>,   // fixed-point weight of every id before the bin in sorted order
  count: u32,         // ids in the bin (radix rounds)
  first_id: u32,      // lowest id in the bin (radix rounds)
  found: u32,         // 0 when no bin crossed the goal (cannot happen for goals below the total)
}
var<workgroup> pick: Crossing;
var<workgroup> level0_total: vec2<u32>;
var<workgroup> tie_id: u32;

fn fx_from_f32(v: f32) -> vec2<u32> {
  let scaled = max(v, 0.0) * FX_HI_SCALE;
  let hi = floor(scaled);
  // scaled - hi is exact, and < 1, so the lo word never overflows.
  return vec2<u32>(u32((scaled - hi) * FX_LO_SCALE), u32(hi));
}

fn fx_to_f32(a: vec2<u32>) -> f32 {
  return f32(a.y) * (1.0 / FX_HI_SCALE) + f32(a.x) * FX_UNIT;
}

fn fx_add(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let lo = a.x + b.x;
  return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

// a - b for a >= b.
fn fx_sub(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

fn fx_lt(a: vec2<u32>, b: vec2<u32>) -> bool {
  return a.y < b.y || (a.y == b.y && a.x < b.x);
}

// a * t for t < 2^19 (a count of ids) and a <= one weight: 16-bit limbs keep each partial product in u32.
fn fx_mul_u32(a: vec2<u32>, t: u32) -> vec2<u32> {
  let a0 = a.x & 0xffffu;
  let a1 = a.x >> 16u;
  let t0 = t & 0xffffu;
  let t1 = t >> 16u;
  var r = vec2<u32>(a0 * t0, a1 * t1 + a.y * t);
  let m1 = a0 * t1;
  let m2 = a1 * t0;
  r = fx_add(r, vec2<u32>(m1 << 16u, m1 >> 16u));
  r = fx_add(r, vec2<u32>(m2 << 16u, m2 >> 16u));
  return r;
}

fn hist_add(bin: u32, w: vec2<u32>) {
  var carry = 0u;
  if (w.x != 0u) {
    let old = atomicAdd(&hist_lo[bin], w.x);
    if (old > 0xffffffffu - w.x) {
      carry = 1u;
    }
  }
  let hi = w.y + carry;
  if (hi != 0u) {
    atomicAdd(&hist_hi[bin], hi);
  }
}

fn bin_weight(bin: u32) -> vec2<u32> {
  return vec2<u32>(atomicLoad(&hist_lo[bin]), atomicLoad(&hist_hi[bin]));
}

// Exclusive prefix sum and total of fixed-point values over the workgroup, blocked as in
// lib/sampling_scan.wgsl (few barriers: this kernel is one workgroup).
const SCAN_BLOCK: u32 = 32u; // WORKGROUP_SIZE is a power of two >= 64, so blocks are full
override SCAN_BLOCKS: u32 = WORKGROUP_SIZE / SCAN_BLOCK;
var<workgroup> scan_fx_blocks: array<vec2<u32>, SCAN_BLOCKS>;

fn wg_scan_fx(lid: u32, value: vec2<u32>) -> array<vec2<u32>, 2> {
  scan_fx_buf[lid] = value;
  workgroupBarrier();
  let block = lid / SCAN_BLOCK;
  let block_start = block * SCAN_BLOCK;
  if (lid == block_start) {
    var sum = vec2<u32>(0u, 0u);
    for (var j = 0u; j < SCAN_BLOCK; j = j + 1u) {
      sum = fx_add(sum, scan_fx_buf[block_start + j]);
    }
    scan_fx_blocks[block] = sum;
  }
  workgroupBarrier();
  var before = vec2<u32>(0u, 0u);
  var total = vec2<u32>(0u, 0u);
  for (var b = 0u; b < SCAN_BLOCKS; b = b + 1u) {
    let t = scan_fx_blocks[b];
    if (b < block) {
      before = fx_add(before, t);
    }
    total = fx_add(total, t);
  }
  for (var j = 0u; j < SCAN_BLOCK; j = j + 1u) {
    if (block_start + j < lid) {
      before = fx_add(before, scan_fx_buf[block_start + j]);
    }
  }
  workgroupBarrier();
  return array<vec2<u32>, 2>(before, total);
}

fn clear_bins(lid: u32) {
  for (var b = lid; b < BINS; b = b + WORKGROUP_SIZE) {
    atomicStore(&hist_lo[b], 0u);
    atomicStore(&hist_hi[b], 0u);
    atomicStore(&hist_count[b], 0u);
    atomicStore(&bin_min_id[b], 0xffffffffu);
  }
  workgroupBarrier();
  if (lid == 0u) {
    pick.found = 0u;
  }
}

// Round 0 only needs weights (the crossing); counts and lowest ids come from the radix rounds, which
// see far fewer ids. Fewer atomics per id in round 0 is most of this kernel's speed.
fn add_item(bin: u32, key: u32, id: u32, m: f32, round0: bool) {
  if (!round0) {
    atomicAdd(&hist_count[bin], 1u);
    atomicMin(&bin_min_id[bin], id);
  }
  let w = weight_of(key, m);
  if (w > 0.0) {
    hist_add(bin, fx_from_f32(w));
  }
}

// The bin where the cumulative weight (sorted order, starting from `above`) crosses `goal`:
// strict = false: first position with cum >= goal; strict = true: first position with cum > goal.
// `descending`: bin 0 holds the largest values (round 0); otherwise bin 255 does (radix rounds).
fn cross(lid: u32, goal: vec2<u32>, strict: bool, descending: bool, above: vec2<u32>) -> Crossing {
  let bins_per_thread = max(1u, BINS / WORKGROUP_SIZE);
  var own = vec2<u32>(0u, 0u);
  for (var q = 0u; q < bins_per_thread; q = q + 1u) {
    let r = lid * bins_per_thread + q;
    if (r < BINS) {
      own = fx_add(own, bin_weight(select(BINS - 1u - r, r, descending)));
    }
  }
  let scanned = wg_scan_fx(lid, own);
  if (descending && lid == 0u) {
    level0_total = scanned[1];
  }
  var before = fx_add(above, scanned[0]);
  for (var q = 0u; q < bins_per_thread; q = q + 1u) {
    let r = lid * bins_per_thread + q;
    if (r < BINS) {
      let b = select(BINS - 1u - r, r, descending);
      let after = fx_add(before, bin_weight(b));
      var hit: bool;
      if (strict) {
        hit = !fx_lt(goal, before) && fx_lt(goal, after);
      } else {
        hit = fx_lt(before, goal) && !fx_lt(after, goal);
      }
      if (hit) {
        pick = Crossing(b, 0u, before, atomicLoad(&hist_count[b]), atomicLoad(&bin_min_id[b]), 1u);
      }
      before = after;
    }
  }
  return workgroupUniformLoad(&pick);
}

// Keys of ids base, base + WORKGROUP_SIZE, ... (LOAD_BATCH of them; 0 past the vocabulary).
fn load_keys(base: u32) -> array<u32, LOAD_BATCH> {
  var keys: array<u32, LOAD_BATCH>;
  for (var u = 0u; u < LOAD_BATCH; u = u + 1u) {
    let i = base + u * WORKGROUP_SIZE;
    keys[u] = select(0u, key_of(z[min(i, params.vocab - 1u)]), i < params.vocab);
  }
  return keys;
}

// Descent to the single key where the cumulative weight crosses `goal` (see cross). Round 0 also
// leaves the total weight of the vocabulary in level0_total.
fn descend(lid: u32, m: f32, goal: vec2<u32>, strict: bool) -> Crossing {
  let n = params.vocab;
  clear_bins(lid);
  for (var base = lid; base < n; base = base + WORKGROUP_SIZE * LOAD_BATCH) {
    let keys = load_keys(base);
    for (var u = 0u; u < LOAD_BATCH; u = u + 1u) {
      let i = base + u * WORKGROUP_SIZE;
      if (i < n) {
        add_item(bin0_of(keys[u], m), keys[u], i, m, true);
      }
    }
  }
  workgroupBarrier();
  var c = cross(lid, goal, strict, true, vec2<u32>(0u, 0u));
  let interval = bin0_key_interval(lid, c.bin, m);
  var lo = interval.x;
  var hi = interval.y;
  var radix_rounds = 0u;
  loop {
    // At least one radix round: it counts the ids at the final key and finds the lowest of them.
    if (c.found == 0u || (lo == hi && radix_rounds > 0u)) {
      break;
    }
    radix_rounds = radix_rounds + 1u;
    let p = select(firstLeadingBit(lo ^ hi), 0u, lo == hi);
    let shift = max(p, 7u) - 7u;
    let digit_mask = (2u << (p - shift)) - 1u;
    let above = c.above;
    clear_bins(lid);
    for (var base = lid; base < n; base = base + WORKGROUP_SIZE * LOAD_BATCH) {
      let keys = load_keys(base);
      for (var u = 0u; u < LOAD_BATCH; u = u + 1u) {
        let key = keys[u];
        if (key >= lo && key <= hi && base + u * WORKGROUP_SIZE < n) {
          add_item((key >> shift) & digit_mask, key, base + u * WORKGROUP_SIZE, m, false);
        }
      }
    }
    workgroupBarrier();
    c = cross(lid, goal, strict, false, above);
    let block_lo = (lo & bits_above(p)) | (c.bin << shift);
    lo = max(lo, block_lo);
    hi = min(hi, block_lo | ((1u << shift) - 1u));
  }
  c.lo = lo;
  return c;
}

// The id of the t-th (1-based) id in id order whose key is `key`.
fn find_tie(lid: u32, key: u32, t: u32) -> u32 {
  let n = params.vocab;
  let per = (n + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
  let first = lid * per;
  let last = min(first + per, n);
  var own = 0u;
  for (var i = first; i < last; i = i + 1u) {
    if (key_of(z[i]) == key) {
      own = own + 1u;
    }
  }
  let before = wg_scan_fx(lid, vec2<u32>(own, 0u))[0].x;
  if (before < t && t <= before + own) {
    var seen = before;
    for (var i = first; i < last; i = i + 1u) {
      if (key_of(z[i]) == key) {
        seen = seen + 1u;
        if (seen == t) {
          tie_id = i;
          break;
        }
      }
    }
  }
  return workgroupUniformLoad(&tie_id);
}

// Smallest t in [1, count] with above + t * w >= goal (strict: > goal), from an f32 estimate
// corrected against the exact fixed-point sums.
fn tie_rank(above: vec2<u32>, w: vec2<u32>, count: u32, goal: vec2<u32>, strict: bool) -> u32 {
  let gap = fx_to_f32(fx_sub(goal, above)) / fx_to_f32(w);
  var t: u32;
  if (strict) {
    t = u32(floor(gap)) + 1u;
  } else {
    t = u32(ceil(gap));
  }
  t = clamp(t, 1u, count);
  // reached(t): the first t ids of the tie reach the goal.
  let prev = fx_add(above, fx_mul_u32(w, t - 1u));
  let prev_reached = select(!fx_lt(prev, goal), fx_lt(goal, prev), strict);
  if (t > 1u && prev_reached) {
    t = t - 1u;
  }
  let cur = fx_add(above, fx_mul_u32(w, t));
  let cur_reached = select(!fx_lt(cur, goal), fx_lt(goal, cur), strict);
  if (t < count && !cur_reached) {
    t = t + 1u;
  }
  return t;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_index) lid: u32) {
  if (nucleus.pending == 0u) {
    return;
  }
  let m = nucleus.max_value;
  if (lid == 0u) {
    tie_id = 0u;
  }

  // End of the nucleus: the CPU keeps ids up to the first cumulative probability >= topP - eps.
  let cut_goal = fx_from_f32(params.top_p_threshold * nucleus.total);
  let cut = descend(lid, m, cut_goal, false);
  var cut_key = 0u;
  var cut_t = 0u;
  var kept_weight = workgroupUniformLoad(&level0_total);
  if (cut.found != 0u) {
    let w = fx_from_f32(weight_of(cut.lo, m));
    cut_key = cut.lo;
    cut_t = tie_rank(cut.above, w, cut.count, cut_goal, false);
    kept_weight = fx_add(cut.above, fx_mul_u32(w, cut_t));
  }

  // The draw: first id whose cumulative weight exceeds u * (weight of the nucleus), kept strictly
  // below that weight so that it always lands inside the nucleus.
  var draw_goal = fx_from_f32(uniform_for(params.seed, params.step) * fx_to_f32(kept_weight));
  if (!fx_lt(draw_goal, kept_weight)) {
    draw_goal = fx_sub(kept_weight, vec2<u32>(1u, 0u));
  }
  let draw = descend(lid, m, draw_goal, true);
  var key = cut_key;
  var t = cut_t;
  var first_id = cut.first_id;
  if (draw.found != 0u) {
    key = draw.lo;
    t = tie_rank(draw.above, fx_from_f32(weight_of(draw.lo, m)), draw.count, draw_goal, true);
    first_id = draw.first_id;
    if (cut.found != 0u && (key < cut_key || (key == cut_key && t > cut_t))) {
      key = cut_key;
      t = cut_t;
      first_id = cut.first_id;
    }
  } else if (cut.found == 0u) {
    // Unreachable for a positive nucleus weight; fall back to the most likely id.
    key = key_of(m);
    t = 1u;
    first_id = find_tie(lid, key, 1u);
  }
  var id = first_id;
  if (t > 1u) {
    id = find_tie(lid, key, t);
  }
  if (lid == 0u) {
    result[0] = id;
  }
}
