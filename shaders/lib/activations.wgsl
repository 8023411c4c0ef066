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

// erf for GELU's exact form (GLM-4V's vision tower): WGSL has no erf builtin. Abramowitz & Stegun 7.1.26
// is off by up to 1.5e-7 absolute, about one f32 ulp of values near 1, so the kernel stays within the
// activation tolerance of the CPU twin's double-precision erf (src/cpu/vision-ops.ts).
fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let r = 1.0 - poly * exp(-a * a);
  return select(r, -r, x < 0.0);
}

// GELU, exact form: x/2 · (1 + erf(x/√2)) (transformers' "gelu", torch.nn.GELU()).
fn gelu_erf(v: f32) -> f32 {
  return 0.5 * v * (1.0 + erf_f32(v * 0.7071067811865476));
}
