// Exact top-k selection inside one workgroup, then a gather that keeps every key above the k-th and,
// among keys equal to it, the lowest ids: the CPU sampler's order (value descending, id ascending).
//
// The selection narrows an interval of u32 keys (lib/sampling_common.wgsl key_of) that holds the k-th
// largest key, one histogram round at a time:
//   round 0: bin0_of (lib/sampling_common.wgsl): 256 bins by distance from the largest value. The
//            chosen bin's key interval comes from bin0_key_interval (lib/sampling_bounds.wgsl).
//   rounds 1..: plain radix, 8 bits at a time, from the highest bit where the interval's ends differ.
//
// Needs lib/sampling_scan.wgsl and lib/sampling_bounds.wgsl, and from the including kernel:
//   fn sel_key(lid: u32, j: u32) -> u32   key of this invocation's j-th item, 0 for "no item". Items
//                                         are contiguous per invocation and in id order (invocation 0
//                                         holds the lowest ids), so a prefix sum over invocations
//                                         ranks equal keys by id.
//   fn sel_emit(lid: u32, j: u32, slot: u32)   stores that item in output slot `slot` (0 <= slot < k).
// Call from workgroup-uniform control flow with uniform `items`, `k` and `top_key`, and
// 1 <= k <= number of items.

const SEL_BINS: u32 = BIN0_BINS;

// Items an invocation reads (sel_key) before it touches the histogram: loads from memory then overlap
// instead of waiting one by one behind the atomics.
const SEL_BATCH: u32 = 8u;

var<workgroup> sel_count: array<atomic<u32>, SEL_BINS>;
var<workgroup> sel_pick: vec2<u32>; // (bin, items in the bins before it)

// Finds the bin holding the remaining-th largest item. `descending`: bin 0 holds the largest values
// (round 0); otherwise bin 255 does (radix rounds). Returns (bin, items in the bins before it) to all.
fn sel_cross(lid: u32, remaining: u32, descending: bool) -> vec2<u32> {
  let bins_per_thread = max(1u, SEL_BINS / WORKGROUP_SIZE);
  var own = 0u;
  for (var q = 0u; q < bins_per_thread; q = q + 1u) {
    let r = lid * bins_per_thread + q;
    if (r < SEL_BINS) {
      own = own + atomicLoad(&sel_count[select(SEL_BINS - 1u - r, r, descending)]);
    }
  }
  var above = wg_scan_u32(lid, own).x;
  for (var q = 0u; q < bins_per_thread; q = q + 1u) {
    let r = lid * bins_per_thread + q;
    if (r < SEL_BINS) {
      let b = select(SEL_BINS - 1u - r, r, descending);
      let count = atomicLoad(&sel_count[b]);
      // Exactly one bin qualifies: fewer items before it than wanted, enough with it.
      if (above < remaining && remaining <= above + count) {
        sel_pick = vec2<u32>(b, above);
      }
      above = above + count;
    }
  }
  return workgroupUniformLoad(&sel_pick);
}

// Histogram of the items' bins: round 0 (bin0_of) when `round0`, else the radix digit
// (key >> shift) & digit_mask of the items with keys in [lo, hi].
fn sel_histogram(lid: u32, items: u32, round0: bool, top: f32, lo: u32, hi: u32, shift: u32, digit_mask: u32) {
  for (var j0 = 0u; j0 < items; j0 = j0 + SEL_BATCH) {
    var keys: array<u32, SEL_BATCH>;
    for (var u = 0u; u < SEL_BATCH; u = u + 1u) {
      keys[u] = select(0u, sel_key(lid, j0 + u), j0 + u < items);
    }
    for (var u = 0u; u < SEL_BATCH; u = u + 1u) {
      let key = keys[u];
      if (key != 0u) {
        if (round0) {
          atomicAdd(&sel_count[bin0_of(key, top)], 1u);
        } else if (key >= lo && key <= hi) {
          atomicAdd(&sel_count[(key >> shift) & digit_mask], 1u);
        }
      }
    }
  }
}

// Returns (T, need): T is the key of the k-th largest item; the top k are all items with key > T plus
// the `need` lowest-id items with key == T. `top_key`: the largest key among the items.
fn radix_select(lid: u32, items: u32, k: u32, top_key: u32) -> vec2<u32> {
  let top = value_of(top_key);
  for (var b = lid; b < SEL_BINS; b = b + WORKGROUP_SIZE) {
    atomicStore(&sel_count[b], 0u);
  }
  workgroupBarrier();
  sel_histogram(lid, items, true, top, 0u, 0u, 0u, 0u);
  workgroupBarrier();
  let first = sel_cross(lid, k, true);
  let interval = bin0_key_interval(lid, first.x, top);
  var lo = interval.x;
  var hi = interval.y;
  var remaining = k - first.y;
  loop {
    if (lo == hi) {
      break;
    }
    let p = firstLeadingBit(lo ^ hi);
    let shift = max(p, 7u) - 7u;
    let digit_mask = (2u << (p - shift)) - 1u;
    for (var b = lid; b < SEL_BINS; b = b + WORKGROUP_SIZE) {
      atomicStore(&sel_count[b], 0u);
    }
    workgroupBarrier();
    sel_histogram(lid, items, false, top, lo, hi, shift, digit_mask);
    workgroupBarrier();
    let pick = sel_cross(lid, remaining, false);
    let block_lo = (lo & bits_above(p)) | (pick.x << shift);
    let block_hi = block_lo | ((1u << shift) - 1u);
    lo = max(lo, block_lo);
    hi = min(hi, block_hi);
    remaining = remaining - pick.y;
  }
  return vec2<u32>(lo, remaining);
}

// Emits the top k (k = #keys above T + need) into slots 0..k-1: keys above T first, then the ties at T,
// each group in id order.
fn select_gather(lid: u32, items: u32, threshold: vec2<u32>) {
  let t = threshold.x;
  let need = threshold.y;
  var above_count = 0u;
  var tie_count = 0u;
  for (var j0 = 0u; j0 < items; j0 = j0 + SEL_BATCH) {
    var keys: array<u32, SEL_BATCH>;
    for (var u = 0u; u < SEL_BATCH; u = u + 1u) {
      keys[u] = select(0u, sel_key(lid, j0 + u), j0 + u < items);
    }
    for (var u = 0u; u < SEL_BATCH; u = u + 1u) {
      above_count = above_count + select(0u, 1u, keys[u] > t);
      tie_count = tie_count + select(0u, 1u, keys[u] == t);
    }
  }
  // Both counts are below 2^16 (items per workgroup), so one scan carries them in two halves.
  let scan = wg_scan_u32(lid, above_count | (tie_count << 16u));
  var above_slot = scan.x & 0xffffu;
  let above_total = scan.y & 0xffffu;
  var tie_rank = scan.x >> 16u;
  for (var j0 = 0u; j0 < items; j0 = j0 + SEL_BATCH) {
    var keys: array<u32, SEL_BATCH>;
    for (var u = 0u; u < SEL_BATCH; u = u + 1u) {
      keys[u] = select(0u, sel_key(lid, j0 + u), j0 + u < items);
    }
    for (var u = 0u; u < SEL_BATCH; u = u + 1u) {
      if (keys[u] > t) {
        sel_emit(lid, j0 + u, above_slot);
        above_slot = above_slot + 1u;
      } else if (keys[u] == t) {
        if (tie_rank < need) {
          sel_emit(lid, j0 + u, above_total + tie_rank);
        }
        tie_rank = tie_rank + 1u;
      }
    }
  }
}
