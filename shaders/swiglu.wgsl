// swiglu: [n, 2F] -> [n, F], out = silu(gate) * up with gate = x[:, :F], up = x[:, F:]
// (THUDM's and HF's fused gate_up order).

struct SwigluParams {
  n: u32,   // tokens
  f: u32,   // F = output width = half the input width
}

@group(0) @binding(0) var<uniform> params: SwigluParams;
@group(0) @binding(1) var<storage, read> x: array<act>;            // [n, 2F]
@group(0) @binding(2) var<storage, read_write> out: array<act>;    // [n, F]

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = linear_workgroup(wid, nwg) * WORKGROUP_SIZE + lid;
  if (i >= params.n * params.f) {
    return;
  }
  let t = i / params.f;
  let c = i % params.f;
  let g = f32(x[t * 2u * params.f + c]);
  let u = f32(x[t * 2u * params.f + params.f + c]);
  out[i] = act(silu(g) * u);
}
