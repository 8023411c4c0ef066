// The key interval of a bin0_of bin (lib/sampling_common.wgsl), found by the whole workgroup: each
// round every invocation tests one key, splitting the interval WORKGROUP_SIZE ways, so 4 rounds cover
// 2^32 keys where a one-invocation binary search would chain 32 dependent steps per end.
// bin0_of is non-increasing in the key, so the bin's keys are exactly [first, last] with
//   first = smallest key with bin0_of(key) <= bin,   last = largest key with bin0_of(key) >= bin.
// Call from workgroup-uniform control flow with uniform arguments (it contains barriers).

// Keys of real values: -inf up to +inf (the bit patterns beyond are NaNs).
const KEY_MIN: u32 = NEG_INF_KEY;
const KEY_MAX: u32 = 0xff800000u;

var<workgroup> bounds_hit: array<atomic<u32>, 2>; // first probe where each search's predicate turned
var<workgroup> bounds_plain: vec2<u32>;           // the same, copied out for workgroupUniformLoad

fn bin0_key_interval(lid: u32, bin: u32, top: f32) -> vec2<u32> {
  // Invariants: first in [a_lo, a_hi], last in [b_lo, b_hi].
  var a_lo = KEY_MIN;
  var a_hi = KEY_MAX;
  var b_lo = KEY_MIN;
  var b_hi = KEY_MAX;
  loop {
    if (a_lo == a_hi && b_lo == b_hi) {
      break;
    }
    if (lid == 0u) {
      atomicStore(&bounds_hit[0], 0xffffffffu);
      atomicStore(&bounds_hit[1], 0xffffffffu);
    }
    workgroupBarrier();
    // Probe t tests lo + t * step; step makes the WORKGROUP_SIZE probes cover the interval.
    let a_step = (a_hi - a_lo + WORKGROUP_SIZE) / WORKGROUP_SIZE;
    let b_step = (b_hi - b_lo + WORKGROUP_SIZE) / WORKGROUP_SIZE;
    if (lid * a_step <= a_hi - a_lo && bin0_of(a_lo + lid * a_step, top) <= bin) {
      atomicMin(&bounds_hit[0], lid);
    }
    if (lid * b_step <= b_hi - b_lo && bin0_of(b_lo + lid * b_step, top) < bin) {
      atomicMin(&bounds_hit[1], lid);
    }
    workgroupBarrier();
    if (lid == 0u) {
      bounds_plain = vec2<u32>(atomicLoad(&bounds_hit[0]), atomicLoad(&bounds_hit[1]));
    }
    let hit = workgroupUniformLoad(&bounds_plain);
    let a_last = min(WORKGROUP_SIZE - 1u, (a_hi - a_lo) / a_step);
    let b_last = min(WORKGROUP_SIZE - 1u, (b_hi - b_lo) / b_step);
    // first: the first probe that satisfies `<= bin`, or after the last probe.
    if (hit.x == 0u) {
      a_hi = a_lo;
    } else if (hit.x == 0xffffffffu) {
      // (min: a bin with no keys cannot happen, but must not loop forever)
      a_lo = min(a_lo + a_last * a_step + 1u, a_hi);
    } else {
      a_hi = a_lo + hit.x * a_step;
      a_lo = a_lo + (hit.x - 1u) * a_step + 1u;
    }
    // last: just before the first probe that falls below the bin, or from the last probe on.
    if (hit.y == 0u) {
      b_hi = b_lo;
    } else if (hit.y == 0xffffffffu) {
      b_lo = b_lo + b_last * b_step;
    } else {
      b_hi = b_lo + hit.y * b_step - 1u;
      b_lo = b_lo + (hit.y - 1u) * b_step;
    }
  }
  return vec2<u32>(a_lo, b_lo);
}
