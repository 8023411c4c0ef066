// Large 1-D problems are dispatched as a 2-D grid (x capped at maxComputeWorkgroupsPerDimension),
// so kernels recover a linear workgroup index from the grid.
fn linear_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.y * nwg.x + wid.x;
}
