// Activation / KV-cache storage type of the float32 path: needs no optional feature.
// Kernels read activations as f32(x[i]) and write act(v), so the same kernel text serves both paths.
alias act = f32;
