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
// fma_rate: the f32 FMA rate (below), the yardstick of prefill.

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

// fma_rate: the f32 multiply-add rate. Each invocation runs params.count steps of 8 independent vec4
// FMA chains (enough independent work to hide the FMA latency); the result decides whether one word is
// written, so no chain can be dropped, and it practically never is (no memory traffic).
@compute @workgroup_size(WORKGROUP_SIZE)
fn fma_rate(@builtin(global_invocation_id) gid: vec3<u32>) {
  let seed = f32(gid.x & 1023u) * 1e-6;
  var a0 = vec4<f32>(seed, seed + 1e-3, seed + 2e-3, seed + 3e-3);
  var a1 = a0 + 0.1;
  var a2 = a0 + 0.2;
  var a3 = a0 + 0.3;
  var a4 = a0 + 0.4;
  var a5 = a0 + 0.5;
  var a6 = a0 + 0.6;
  var a7 = a0 + 0.7;
  let m = vec4<f32>(0.9999999);
  let c = vec4<f32>(1e-7);
  for (var i = 0u; i < params.count; i++) {
    a0 = fma(a0, m, c);
    a1 = fma(a1, m, c);
    a2 = fma(a2, m, c);
    a3 = fma(a3, m, c);
    a4 = fma(a4, m, c);
    a5 = fma(a5, m, c);
    a6 = fma(a6, m, c);
    a7 = fma(a7, m, c);
  }
  let r = dot(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7, vec4<f32>(1.0));
  if (bitcast<u32>(r) == params.magic) {
    sink[gid.x] = 1u;
  }
}
