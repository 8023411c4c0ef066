// Activation / KV-cache storage type of the f16 path: only compiled when the device has `shader-f16`.
// Arithmetic stays f32 (kernels convert on load and store); only storage and bandwidth halve.
enable f16;
alias act = f16;
