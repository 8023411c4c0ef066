// Second pass of the GPU sampler in top-k and top-p mode (one workgroup). Merges the per-chunk
// candidates of sample_partial into the global top k_sel (value descending, id ascending: the CPU
// sampler's order) with the same radix select the chunks used, ranks them, then does on the sorted
// candidates what the CPU does:
//   weights exp(z - m); top-k: total = their sum, top-p: total = S over the whole vocabulary;
//   kept = first j with cum_j >= (topP - eps) * total (top-p only); draw the first j < kept with
//   cum_j > u * cum_{kept-1}.
// In top-p mode a nucleus that the MAX_CANDIDATES best ids do not reach is handed to sample_nucleus
// (nucleus.pending = 1), which then writes the result.
// Prepended: lib/sampling_common.wgsl, lib/sampling_scan.wgsl, lib/sampling_bounds.wgsl, lib/sampling_select.wgsl.

@group(0) @binding(0) var<uniform> params: SampleParams;
@group(0) @binding(1) var<storage, read> partials: array<vec4<u32>>;    // [num_chunks] (max key, its id, bits of f32 sum exp(z - chunk max), -)
@group(0) @binding(2) var<storage, read> candidates: array<vec2<u32>>;  // [num_chunks * k_sel] (key, id); key 0 = empty slot
@group(0) @binding(3) var<storage, read_write> nucleus: NucleusState;   // written in top-p mode only
@group(0) @binding(4) var<storage, read_write> result: array<u32>;      // [1] the chosen id

override WORKGROUP_SIZE: u32 = 256u;   // power of two (lib/sampling_scan.wgsl)
override MAX_CANDIDATES: u32 = 256u;   // >= k_sel: the top-k cap
// Candidate keys an invocation keeps in registers for the select rounds; with more (a vocabulary
// split into many small chunks) they are read from memory each round instead.
const MERGE_ITEMS: u32 = 48u; // GLM-4 (37 chunks) at the cap k = 256: 37 per invocation

var<workgroup> top_key: array<u32, MAX_CANDIDATES>;    // the top k, in gather order
var<workgroup> top_id: array<u32, MAX_CANDIDATES>;
var<workgroup> sorted_key: array<u32, MAX_CANDIDATES>; // the top k in comes_before order
var<workgroup> sorted_id: array<u32, MAX_CANDIDATES>;
var<workgroup> top_weight: array<f32, MAX_CANDIDATES>; // exp(z - m) of the first k, 0 beyond
var<workgroup> top_cum: array<f32, MAX_CANDIDATES>;    // inclusive prefix sums of top_weight
var<workgroup> top_key_max: atomic<u32>;   // largest key overall
var<workgroup> top_key_uniform: u32;
var<workgroup> cut_hit: atomic<u32>;       // first j with cum_j >= threshold (top-p)
var<workgroup> draw_hit: atomic<u32>;      // first j < kept with cum_j > r
var<workgroup> last_positive: atomic<u32>; // 1 + last j < kept with a positive weight (0: none)

var<private> cand_keys: array<u32, MERGE_ITEMS>;
var<private> keys_cached: bool;

fn slots_per_thread() -> u32 {
  return (params.num_chunks * params.k_sel + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
}

fn slot_key(slot: u32) -> u32 {
  if (slot >= params.num_chunks * params.k_sel) {
    return 0u;
  }
  return candidates[slot].x;
}

// Every candidate slot, contiguous per invocation (slots are in chunk order, so in id order per key).
fn sel_key(lid: u32, j: u32) -> u32 {
  if (keys_cached) {
    return cand_keys[min(j, MERGE_ITEMS - 1u)];
  }
  return slot_key(lid * slots_per_thread() + j);
}

fn sel_emit(lid: u32, j: u32, slot: u32) {
  let c = candidates[lid * slots_per_thread() + j];
  top_key[slot] = c.x;
  top_id[slot] = c.y;
}

// The CPU sampler's order: larger value first, lower id first among equal values.
fn comes_before(key_a: u32, id_a: u32, key_b: u32, id_b: u32) -> bool {
  return key_a > key_b || (key_a == key_b && id_a < id_b);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_index) lid: u32) {
  let k = params.k_sel;
  if (lid == 0u) {
    atomicStore(&top_key_max, 0u);
    atomicStore(&cut_hit, 0xffffffffu);
    atomicStore(&draw_hit, 0xffffffffu);
    atomicStore(&last_positive, 0u);
  }
  let per = slots_per_thread();
  keys_cached = per <= MERGE_ITEMS;
  if (keys_cached) {
    for (var j = 0u; j < MERGE_ITEMS; j = j + 1u) {
      cand_keys[j] = select(0u, slot_key(lid * per + j), j < per);
    }
  }
  workgroupBarrier();
  var my_top = 0u;
  for (var c = lid; c < params.num_chunks; c = c + WORKGROUP_SIZE) {
    my_top = max(my_top, partials[c].x);
  }
  atomicMax(&top_key_max, my_top);
  workgroupBarrier();
  if (lid == 0u) {
    top_key_uniform = atomicLoad(&top_key_max);
  }
  let top = workgroupUniformLoad(&top_key_uniform);

  select_gather(lid, per, radix_select(lid, per, k, top));
  workgroupBarrier();
  // Rank sort: (key, id) pairs are distinct, so each candidate's rank is the number that come before it.
  for (var i = lid; i < k; i = i + WORKGROUP_SIZE) {
    let ki = top_key[i];
    let ii = top_id[i];
    var rank = 0u;
    for (var j = 0u; j < k; j = j + 1u) {
      if (comes_before(top_key[j], top_id[j], ki, ii)) {
        rank = rank + 1u;
      }
    }
    sorted_key[rank] = ki;
    sorted_id[rank] = ii;
  }
  workgroupBarrier();

  let m = value_of(top);

  // Weights and their inclusive prefix sums, each invocation over a contiguous run of candidates.
  let per_cand = max(1u, MAX_CANDIDATES / WORKGROUP_SIZE);
  let cand_run = lid * per_cand;
  var own_weight = 0.0;
  for (var q = 0u; q < per_cand; q = q + 1u) {
    let i = cand_run + q;
    if (i < MAX_CANDIDATES) {
      var w = 0.0;
      if (i < k) {
        w = weight_of(sorted_key[i], m);
      }
      top_weight[i] = w;
      own_weight = own_weight + w;
    }
  }
  var acc = wg_scan_f32(lid, own_weight).x;
  for (var q = 0u; q < per_cand; q = q + 1u) {
    let i = cand_run + q;
    if (i < MAX_CANDIDATES) {
      acc = acc + top_weight[i];
      top_cum[i] = acc;
    }
  }

  // The softmax denominator: over the k candidates in top-k mode, over the whole vocabulary in top-p
  // mode (the CPU normalises before the nucleus cut), merged from the chunks' online sums.
  var s = 0.0;
  if (params.mode == MODE_TOP_P) {
    for (var c = lid; c < params.num_chunks; c = c + WORKGROUP_SIZE) {
      let p = partials[c];
      if (p.x > NEG_INF_KEY) {
        s = s + bitcast<f32>(p.z) * exp(value_of(p.x) - m);
      }
    }
  }
  let vocab_total = wg_scan_f32(lid, s).y; // also the barrier that publishes top_cum
  var total = top_cum[max(k, 1u) - 1u];
  if (params.mode == MODE_TOP_P) {
    total = vocab_total;
  }

  let threshold = params.top_p_threshold * total;
  if (params.top_p_active != 0u) {
    for (var i = lid; i < k; i = i + WORKGROUP_SIZE) {
      if (top_cum[i] >= threshold) {
        atomicMin(&cut_hit, i);
      }
    }
  }
  workgroupBarrier();
  let cut = atomicLoad(&cut_hit);
  var kept = k;
  if (cut != 0xffffffffu) {
    kept = cut + 1u;
  }
  // Not reached within the candidates: with top-p over a vocabulary larger than them, the nucleus
  // is bigger than MAX_CANDIDATES ids (otherwise the CPU, too, keeps every candidate).
  let pending = params.mode == MODE_TOP_P && params.top_p_active != 0u && cut == 0xffffffffu && k < params.vocab;

  let r = uniform_for(params.seed, params.step) * top_cum[kept - 1u];
  for (var i = lid; i < kept; i = i + WORKGROUP_SIZE) {
    if (top_cum[i] > r) {
      atomicMin(&draw_hit, i);
    }
    if (top_weight[i] > 0.0) {
      atomicMax(&last_positive, i + 1u);
    }
  }
  workgroupBarrier();

  if (lid == 0u) {
    var chosen = atomicLoad(&draw_hit);
    if (chosen == 0xffffffffu) {
      // u * total rounded up to the last cumulative sum: the last id with a positive weight, as the CPU.
      chosen = max(atomicLoad(&last_positive), 1u) - 1u;
    }
    if (params.mode == MODE_TOP_P) {
      nucleus = NucleusState(select(0u, 1u, pending), m, vocab_total, 0u);
    }
    if (top <= NEG_INF_KEY) {
      result[0] = INVALID_ID;
    } else if (!pending) {
      result[0] = sorted_id[chosen];
    }
  }
}
