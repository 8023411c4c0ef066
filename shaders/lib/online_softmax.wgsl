// The online softmax of attention.wgsl and attention_full.wgsl: one workgroup per (query, head) walks the
// keys in tiles of WORKGROUP_SIZE, keeping a running max m, a running sum l and an accumulator of p·V
// (4 output dims per invocation) rescaled by exp(m_old - m_new), so any number of keys fits in fixed
// workgroup memory. The including shader defines WORKGROUP_SIZE and `out`, computes each invocation's
// score for key tile + lid and the tile's p·V over `probs` itself (where K and V live differs per kernel).

// A score below every real one: WGSL has no -inf literal, and exp(MASKED - m) is exactly 0.
const MASKED = -3.0e38;

var<workgroup> scores: array<f32, WORKGROUP_SIZE>; // this tile's scaled scores
var<workgroup> probs: array<f32, WORKGROUP_SIZE>;  // exp(score - m_new), 0 for keys past the end

struct OnlineSoftmax {
  m: f32,         // running max of the scores seen so far
  l: f32,         // running sum of exp(score - m)
  acc: vec4<f32>, // running sum of exp(score - m) · V at this invocation's 4 dims
}

fn online_softmax_start() -> OnlineSoftmax {
  return OnlineSoftmax(MASKED, 0.0, vec4<f32>(0.0));
}

// Publishes this invocation's score s (for key tile + lid; `valid` false past the last key) and fills
// probs[] for the tile. Returns the new running max. Call in uniform control flow (it has barriers);
// probs[] is ready to read when it returns.
fn online_softmax_probs(lid: u32, s: f32, valid: bool, m: f32) -> f32 {
  scores[lid] = s;
  workgroupBarrier();
  var tile_max = MASKED;
  for (var u = 0u; u < WORKGROUP_SIZE; u++) {
    tile_max = max(tile_max, scores[u]);
  }
  let m_new = max(m, tile_max);
  probs[lid] = select(0.0, exp(s - m_new), valid);
  workgroupBarrier();
  return m_new;
}

// Folds a tile (its sum of probs and its p·V; dims that are not `live` dropped) into the running state,
// then waits until everyone has read scores / probs, which the next tile rewrites.
fn online_softmax_fold(st: OnlineSoftmax, m_new: f32, tile_sum: f32, pv: vec4<f32>, live: vec4<bool>) -> OnlineSoftmax {
  let alpha = exp(st.m - m_new);
  workgroupBarrier();
  return OnlineSoftmax(m_new, st.l * alpha + tile_sum, st.acc * alpha + select(vec4<f32>(0.0), pv, live));
}

// acc / l into out[o + dims], the live dims only.
fn online_softmax_store(st: OnlineSoftmax, o: u32, dims: vec4<u32>, live: vec4<bool>) {
  let result = st.acc / st.l;
  if (live.x) {
    out[o + dims.x] = act(result.x);
  }
  if (live.y) {
    out[o + dims.y] = act(result.y);
  }
  if (live.z) {
    out[o + dims.z] = act(result.z);
  }
  if (live.w) {
    out[o + dims.w] = act(result.w);
  }
}
