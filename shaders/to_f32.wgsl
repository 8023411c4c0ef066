// out = f32(x): widens f16 logits for the GPU sampler, which reads f32 (src/gpu/sampling.ts), so the
// f16 path also draws its token on the GPU and reads back 4 bytes instead of the vocabulary.

struct ConvertParams {
  count: u32,
}

@group(0) @binding(0) var<uniform> params: ConvertParams;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = linear_workgroup(wid, nwg) * WORKGROUP_SIZE + lid;
  if (i < params.count) {
    out[i] = f32(x[i]);
  }
}
