// First pass of the GPU sampler, one workgroup per chunk of CHUNK_SIZE ids (src/gpu/sampling.ts).
// Per id: the CPU sampler's preprocessing (HF repetition penalty, NaN -> -inf, / temperature) into z.
// Per chunk: its largest value and lowest id holding it, sum(exp(z - chunk max)) (merged by the final
// kernels as an online softmax), and in top-k / top-p mode the chunk's own top k_sel candidates.
// Any id of the global top k is in its chunk's top k, so the final kernel only merges candidates.
// Prepended: lib/sampling_common.wgsl, lib/sampling_scan.wgsl, lib/sampling_bounds.wgsl, lib/sampling_select.wgsl.

@group(0) @binding(0) var<storage, read> logits: array<f32>;                 // [vocab] f32, the caller's logits (bound at its offset)
@group(0) @binding(1) var<storage, read> recent: array<u32>;                 // [>= num_recent] ids to penalise, duplicates allowed
@group(0) @binding(2) var<uniform> params: SampleParams;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;                // [vocab] scaled logits; not written in greedy mode
@group(0) @binding(4) var<storage, read_write> partials: array<vec4<u32>>;   // [num_chunks] (max key, its lowest id, bits of f32 sum exp(z - max), 0)
@group(0) @binding(5) var<storage, read_write> candidates: array<vec2<u32>>; // [num_chunks * k_sel] (key, id); key 0 = empty slot

override WORKGROUP_SIZE: u32 = 256u;   // power of two >= 16 (lib/sampling_scan.wgsl)
// Consecutive ids per invocation (id order = (invocation, item) order). A const, not an override:
// the keys stay in a private array across the selection rounds, and its size must be a constant.
const ITEMS_PER_THREAD: u32 = 16u;
override CHUNK_SIZE: u32 = WORKGROUP_SIZE * ITEMS_PER_THREAD;
override PENALTY_WORDS: u32 = (CHUNK_SIZE + 31u) / 32u;

// One bit per id of the chunk: set when the id is in `recent`. Built once per chunk so that the
// per-id test is O(1) and duplicate ids are penalised once, as in the CPU sampler.
var<workgroup> penalised: array<atomic<u32>, PENALTY_WORDS>;
var<workgroup> best_key: atomic<u32>;
var<workgroup> best_id: atomic<u32>;
var<workgroup> chunk_key_plain: u32; // best_key copied out, for workgroupUniformLoad

var<private> chunk_first_id: u32;   // first id of this workgroup's chunk
var<private> chunk_first_slot: u32; // first candidate slot of this chunk
// This invocation's keys (0 past the vocabulary), kept in registers: the selection reads them in every
// round, and reloading them from memory would put a load latency in front of each round.
var<private> item_keys: array<u32, ITEMS_PER_THREAD>;

fn sel_key(lid: u32, j: u32) -> u32 {
  return select(0u, item_keys[min(j, ITEMS_PER_THREAD - 1u)], j < ITEMS_PER_THREAD);
}

fn sel_emit(lid: u32, j: u32, slot: u32) {
  candidates[chunk_first_slot + slot] = vec2<u32>(item_keys[j], chunk_first_id + lid * ITEMS_PER_THREAD + j);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let chunk = wid.x;
  // Kept in a let as well: control flow that reaches barriers must be provably uniform, and the
  // uniformity analysis does not follow values through private variables.
  let first_id = chunk * CHUNK_SIZE;
  chunk_first_id = first_id;
  chunk_first_slot = chunk * params.k_sel;
  let n = params.vocab;
  let greedy = params.mode == MODE_GREEDY;
  let penalise = params.penalty != 1.0 && params.num_recent > 0u;

  if (lid == 0u) {
    atomicStore(&best_key, 0u);
    atomicStore(&best_id, 0xffffffffu);
  }
  if (penalise) {
    for (var w = lid; w < PENALTY_WORDS; w = w + WORKGROUP_SIZE) {
      atomicStore(&penalised[w], 0u);
    }
    workgroupBarrier();
    for (var r = lid; r < params.num_recent; r = r + WORKGROUP_SIZE) {
      let id = recent[r];
      if (id >= chunk_first_id && id - chunk_first_id < CHUNK_SIZE) {
        let local = id - chunk_first_id;
        atomicOr(&penalised[local / 32u], 1u << (local % 32u));
      }
    }
  }
  workgroupBarrier();

  // Scaled values; each invocation keeps its best (first = lowest id on ties).
  let first = first_id + lid * ITEMS_PER_THREAD;
  var my_key = 0u;
  var my_id = 0xffffffffu;
  for (var j = 0u; j < ITEMS_PER_THREAD; j = j + 1u) {
    item_keys[j] = 0u;
  }
  for (var j = 0u; j < ITEMS_PER_THREAD; j = j + 1u) {
    let i = first + j;
    if (i >= n) {
      break;
    }
    var bits = bitcast<u32>(logits[i]);
    if (is_nan_bits(bits)) {
      bits = NEG_INF_BITS;
    }
    if (is_finite_bits(bits)) {
      var v = bitcast<f32>(bits);
      if (penalise) {
        let local = i - chunk_first_id;
        if ((atomicLoad(&penalised[local / 32u]) & (1u << (local % 32u))) != 0u) {
          // HF RepetitionPenaltyLogitsProcessor: shrink positive logits, push negative ones further down.
          v = select(v * params.penalty, v / params.penalty, v > 0.0);
        }
      }
      if (!greedy) {
        v = v / params.temperature;
      }
      bits = bitcast<u32>(v);
    }
    if (!greedy) {
      z[i] = bitcast<f32>(bits);
    }
    let key = key_of_bits(bits);
    item_keys[j] = key;
    if (key > my_key) {
      my_key = key;
      my_id = i;
    }
  }
  atomicMax(&best_key, my_key);
  workgroupBarrier();
  if (lid == 0u) {
    chunk_key_plain = atomicLoad(&best_key);
  }
  // Uniform, because the selection's control flow (with barriers) depends on it.
  let chunk_key = workgroupUniformLoad(&chunk_key_plain);
  if (my_key == chunk_key) {
    atomicMin(&best_id, my_id);
  }
  workgroupBarrier();

  var chunk_sum = 0.0;
  if (!greedy) {
    let m = value_of(chunk_key);
    var s = 0.0;
    if (chunk_key > NEG_INF_KEY) {
      for (var j = 0u; j < ITEMS_PER_THREAD; j = j + 1u) {
        if (item_keys[j] != 0u) {
          s = s + weight_of(item_keys[j], m);
        }
      }
    }
    chunk_sum = wg_scan_f32(lid, s).y;
  }
  let k = params.k_sel;
  if (k > 0u) {
    let valid = min(CHUNK_SIZE, n - first_id);
    if (valid <= k) {
      // The whole chunk is a candidate; the slots after it are marked empty.
      let taken = min(ITEMS_PER_THREAD, valid - min(valid, lid * ITEMS_PER_THREAD));
      let slot = wg_scan_u32(lid, taken).x;
      for (var j = 0u; j < taken; j = j + 1u) {
        sel_emit(lid, j, slot + j);
      }
      for (var s = valid + lid; s < k; s = s + WORKGROUP_SIZE) {
        candidates[chunk_first_slot + s] = vec2<u32>(0u, 0xffffffffu);
      }
    } else {
      select_gather(lid, ITEMS_PER_THREAD, radix_select(lid, ITEMS_PER_THREAD, k, chunk_key));
    }
  }
  if (lid == 0u) {
    partials[chunk] = vec4<u32>(chunk_key, atomicLoad(&best_id), bitcast<u32>(chunk_sum), 0u);
  }
}
