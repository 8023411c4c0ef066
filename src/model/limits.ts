// One validation of every number and flag that sizes a model, for config.json and GGUF metadata alike
// (issue #18). A model file is untrusted input: a `hidden_size` of 2^53 reaching the planner kills the
// process with V8's uncatchable "invalid size" error, a layer count of 1e6 builds a million entries before
// any tensor is looked at. So every value is checked here, against limits that no real GLM comes near,
// before anything is sized from it, and each failure names the field, the value and the limit.
import { ConfigLimitError } from '../errors';

export { ConfigLimitError };

/**
 * The largest value each kind of field may take. The biggest published GLMs are far below: GLM-4-9B has a
 * vocabulary of 151,552, hidden size 4096, 40 layers, 32 heads of 128 dims, FFN 13,696 and a 1M context
 * (glm-4-9b-chat-1m: rope_ratio 10,000); GLM-4-32B-0414 has hidden 6144, 61 layers, FFN 23,040; GLM-4.5 has 92
 * layers. The layer limit also bounds the planner's placement search, which the chat page runs on its main thread.
 */
export const CONFIG_LIMITS = {
  vocabSize: 1 << 21,
  hiddenSize: 1 << 16,
  numLayers: 256,
  numHeads: 1024,
  headDim: 1024,
  ffnHiddenSize: 1 << 18,
  contextLength: 1 << 24,
  /** RoPE base (rope_theta, 10000 * rope_ratio). */
  ropeBase: 1e12,
  /** LayerNorm / RMSNorm epsilon: positive and small. */
  normEps: 0.1,
} as const;

export type LimitKind = keyof typeof CONFIG_LIMITS;

/** Shown in messages: the value as the file had it (strings quoted, huge numbers as they are). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (ArrayBuffer.isView(value)) return 'a typed array';
  return `a ${typeof value}`;
}

/** A positive integer at most CONFIG_LIMITS[kind]. `field` names the config.json field or GGUF key. */
export function checkPositiveInt(value: unknown, field: string, kind: LimitKind, where = 'config.json'): number {
  const limit = CONFIG_LIMITS[kind];
  if (typeof value === 'bigint') value = Number(value);
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigLimitError(`${where}: "${field}" must be a positive integer, got ${describeValue(value)}`);
  }
  if (value > limit) {
    throw new ConfigLimitError(`${where}: "${field}" is ${value}, above the limit of ${limit} (no GLM model comes near it); the file is corrupt or not a GLM model`);
  }
  return value;
}

/** A finite number in (0, CONFIG_LIMITS[kind]]. */
export function checkPositiveFinite(value: unknown, field: string, kind: 'ropeBase' | 'normEps', where = 'config.json'): number {
  const limit = CONFIG_LIMITS[kind];
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigLimitError(`${where}: "${field}" must be a finite positive number, got ${describeValue(value)}`);
  }
  if (value > limit) throw new ConfigLimitError(`${where}: "${field}" is ${value}, above the limit of ${limit}`);
  return value;
}

/** A finite fraction in (0, 1] (partial_rotary_factor). */
export function checkFraction(value: unknown, field: string, where = 'config.json'): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw new ConfigLimitError(`${where}: "${field}" must be a number in (0, 1], got ${describeValue(value)}`);
  }
  return value;
}

export function checkBoolean(value: unknown, field: string, where = 'config.json'): boolean {
  if (typeof value !== 'boolean') throw new ConfigLimitError(`${where}: "${field}" must be true or false, got ${describeValue(value)}`);
  return value;
}

/** A token id: an integer in [0, vocabSize). */
export function checkTokenId(value: unknown, field: string, vocabSize: number, where = 'config.json'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= vocabSize) {
    throw new ConfigLimitError(`${where}: "${field}" must be a token id in [0, ${vocabSize}) (the vocabulary size), got ${describeValue(value)}`);
  }
  return value;
}

/**
 * The layer count a config declares must be the layer count its tensors hold. Checked before any
 * per-layer entry is built, so a declared 1e6 layers fails at once, and a count smaller than the layers
 * present (which would load a truncated model silently) fails too. `pattern` captures the layer index.
 */
export function checkLayerCount(declared: number, names: Iterable<string>, pattern: RegExp, field: string, where: string): void {
  let present = 0;
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m) continue;
    const index = Number(m[1]);
    if (index >= present) present = index + 1;
  }
  if (present !== declared) {
    throw new ConfigLimitError(
      `${where}: "${field}" says ${declared} layers but the tensors hold ${present} (layer indices 0..${present - 1}); ` +
        'the config does not belong to these weights or the file is corrupt',
    );
  }
}
