// Second pass of the GPU sampler when nothing is filtered (top-k and top-p off): like the CPU sampler,
// walk the whole vocabulary in id order and return the first id whose cumulative weight exceeds
// u * S. One workgroup: chunk weights come from sample_partial's online sums
// (sum_c * exp(max_c - m)), which locate the chunk; only that chunk is read again.
// Prepended: lib/sampling_common.wgsl, lib/sampling_scan.wgsl.

@group(0) @binding(0) var<uniform> params: SampleParams;
@group(0) @binding(1) var<storage, read> partials: array<vec4<u32>>; // [num_chunks] (max key, its id, bits of f32 sum exp(z - chunk max), 0)
@group(0) @binding(2) var<storage, read> z: array<f32>;              // [vocab] scaled logits from sample_partial
@group(0) @binding(3) var<storage, read_write> result: array<u32>;   // [1] the chosen id

override WORKGROUP_SIZE: u32 = 256u; // power of two (lib/sampling_scan.wgsl)

var<workgroup> best_key: atomic<u32>;
var<workgroup> hit_chunk: atomic<u32>;     // first chunk whose inclusive cumulative weight exceeds r
var<workgroup> last_chunk: atomic<u32>;    // 1 + last chunk with a positive weight
var<workgroup> chunk_base: f32;            // cumulative weight of the chunks before the chosen one
var<workgroup> draw_hit: atomic<u32>;      // first id of the chunk whose cumulative weight exceeds r
var<workgroup> last_positive: atomic<u32>; // 1 + last id of the chunk with a positive weight

fn chunk_weight(c: u32, m: f32) -> f32 {
  if (c >= params.num_chunks) {
    return 0.0;
  }
  let p = partials[c];
  if (p.x <= NEG_INF_KEY) {
    return 0.0;
  }
  return bitcast<f32>(p.z) * exp(value_of(p.x) - m);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    atomicStore(&best_key, 0u);
    atomicStore(&hit_chunk, 0xffffffffu);
    atomicStore(&last_chunk, 0u);
    atomicStore(&draw_hit, 0xffffffffu);
    atomicStore(&last_positive, 0u);
    chunk_base = 0.0;
  }
  workgroupBarrier();
  var my_key = 0u;
  for (var c = lid; c < params.num_chunks; c = c + WORKGROUP_SIZE) {
    my_key = max(my_key, partials[c].x);
  }
  atomicMax(&best_key, my_key);
  workgroupBarrier();
  let top = atomicLoad(&best_key);
  let m = value_of(top);

  // S, then the chunk holding r = u * S. The running sums can end a rounding short of S: then no
  // chunk crosses r and the last chunk with weight is taken, as the CPU takes its last positive id.
  var total = 0.0;
  for (var block = 0u; block < params.num_chunks; block = block + WORKGROUP_SIZE) {
    total = total + wg_scan_f32(lid, chunk_weight(block + lid, m)).y;
  }
  let r = uniform_for(params.seed, params.step) * total;
  var base = 0.0;
  for (var block = 0u; block < params.num_chunks; block = block + WORKGROUP_SIZE) {
    let c = block + lid;
    let w = chunk_weight(c, m);
    let scanned = wg_scan_f32(lid, w);
    if (w > 0.0) {
      if (base + scanned.x + w > r) {
        atomicMin(&hit_chunk, c);
      }
      atomicMax(&last_chunk, c + 1u);
    }
    base = base + scanned.y;
  }
  workgroupBarrier();
  var chunk = atomicLoad(&hit_chunk);
  if (chunk == 0xffffffffu) {
    // r rounded up to S: the last chunk with weight, as the CPU falls back to the last positive id.
    chunk = max(atomicLoad(&last_chunk), 1u) - 1u;
  }
  base = 0.0;
  for (var block = 0u; block < params.num_chunks; block = block + WORKGROUP_SIZE) {
    let c = block + lid;
    let scanned = wg_scan_f32(lid, chunk_weight(c, m));
    if (c == chunk) {
      chunk_base = base + scanned.x;
    }
    base = base + scanned.y;
  }
  workgroupBarrier();

  // Walk the chunk in id order, each invocation over a contiguous run of ids.
  let n = params.vocab;
  let chunk_first = chunk * params.chunk_size;
  let chunk_end = min(chunk_first + params.chunk_size, n);
  let per = (params.chunk_size + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
  let first = chunk_first + lid * per;
  let last = min(first + per, chunk_end);
  var own = 0.0;
  for (var i = first; i < last; i = i + 1u) {
    own = own + weight_of(key_of(z[i]), m);
  }
  var cum = chunk_base + wg_scan_f32(lid, own).x;
  for (var i = first; i < last; i = i + 1u) {
    let w = weight_of(key_of(z[i]), m);
    cum = cum + w;
    if (w > 0.0) {
      if (cum > r) {
        atomicMin(&draw_hit, i);
      }
      atomicMax(&last_positive, i + 1u);
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    var id = atomicLoad(&draw_hit);
    if (id == 0xffffffffu) {
      let lp = atomicLoad(&last_positive);
      // The chunk's own sums fell a rounding short of r: its last id with weight, else its largest.
      id = select(partials[chunk].y, lp - 1u, lp > 0u);
    }
    if (top <= NEG_INF_KEY) {
      id = INVALID_ID;
    }
    result[0] = id;
  }
}
