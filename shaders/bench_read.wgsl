// Benchmark kernels of the browser bench page (src/ui/bench/suite.ts).
//
// main: read bandwidth. A grid-stride loop over a large read-only buffer of vec4<u32> (16-byte loads;
// consecutive invocations read consecutive elements, so every wave reads whole cache lines). The XOR of
// everything read decides whether one word is written, so the compiler must keep every load, and the
// write practically never happens (no write traffic in the measurement).
// noop: nothing at all: N of them in one compute pass measure the cost of independent dispatches (the
//   GPU may overlap them: nothing orders them).
// tick: one invocation increments sink[0]. Every dispatch writes the same storage buffer, so WebGPU
//   puts a barrier between consecutive ones, as between the kernels of a forward pass: the cost of a
//   dependent dispatch, the number that matters for decode.

override WORKGROUP_SIZE: u32 = 256u;

struct Params {
  count: u32, // vec4<u32> elements in `src`
  magic: u32, // the XOR that would trigger the write (never equal in practice)
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// src: [count] vec4<u32>, read once per dispatch
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
// sink: [WORKGROUP_SIZE * num_workgroups] u32, written only when the XOR equals params.magic
@group(0) @binding(2) var<storage, read_write> sink: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let total = groups.x * WORKGROUP_SIZE;
  var acc = vec4<u32>(0u);
  for (var i = gid.x; i < params.count; i += total) {
    acc ^= src[i];
  }
  let r = acc.x ^ acc.y ^ acc.z ^ acc.w;
  if (r == params.magic) {
    sink[gid.x] = r;
  }
}

@compute @workgroup_size(1)
fn noop() {}

@compute @workgroup_size(1)
fn tick() {
  sink[0] = sink[0] + 1u;
}
