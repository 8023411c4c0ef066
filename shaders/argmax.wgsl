// Greedy decoding, second pass (one workgroup): merges sample_partial's per-chunk (max key, lowest id)
// into the argmax of the penalised logits, lowest id on ties. NaN counts as -inf, so all -inf / NaN
// logits give id 0, as the CPU argmax does.
// Prepended: lib/sampling_common.wgsl.

@group(0) @binding(0) var<uniform> params: SampleParams;
@group(0) @binding(1) var<storage, read> partials: array<vec4<u32>>; // [num_chunks] (max key, its lowest id, -, -)
@group(0) @binding(2) var<storage, read_write> result: array<u32>;   // [1] the chosen id

override WORKGROUP_SIZE: u32 = 256u;

var<workgroup> best_key: atomic<u32>;
var<workgroup> best_id: atomic<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    atomicStore(&best_key, 0u);
    atomicStore(&best_id, 0xffffffffu);
  }
  workgroupBarrier();
  // Chunks are in id order, so the strictly-greater test keeps the lowest id within an invocation.
  var my_key = 0u;
  var my_id = 0xffffffffu;
  for (var c = lid; c < params.num_chunks; c = c + WORKGROUP_SIZE) {
    let p = partials[c];
    if (p.x > my_key) {
      my_key = p.x;
      my_id = p.y;
    }
  }
  atomicMax(&best_key, my_key);
  workgroupBarrier();
  if (my_key == atomicLoad(&best_key)) {
    atomicMin(&best_id, my_id);
  }
  workgroupBarrier();
  if (lid == 0u) {
    result[0] = atomicLoad(&best_id);
  }
}
