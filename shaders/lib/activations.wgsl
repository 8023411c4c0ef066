// The MLP activations, shared by the elementwise kernels and the fused GEMV epilogue (same formulas
// as the CPU twins in src/cpu/ops.ts).

// g / (1 + exp(-g)): for very negative g, exp overflows to inf and the quotient is -0, as in f32 torch.
fn silu(g: f32) -> f32 {
  return g / (1.0 + exp(-g));
}

// GELU, tanh form (ChatGLM-6B's gelu_impl). tanh saturates to ±1 in f32 beyond |z| = 9; clamping keeps
// implementations that compute it through exp(2z) away from inf / inf = NaN.
fn gelu_tanh(v: f32) -> f32 {
  let z = clamp(0.7978845608028654 * (v * (1.0 + 0.044715 * v * v)), -10.0, 10.0);
  return 0.5 * v * (1.0 + tanh(z));
}
