// The well-formed models every fuzz case starts from, built in memory once per worker (deterministic):
//   hf:  a tiny GLM-4-architecture model (HF "glm" layout: config.json, model.safetensors) with the
//        tokenizer fixture's tokenizer.json / tokenizer_config.json (byte-level BPE, chat template);
//   gguf: the same weights as a llama.cpp-style `chatglm` GGUF (Q8_0) plus the same tokenizer files;
//   package: the same model converted to our package (q4, 64 KiB shards so parts span and share shards);
//   sp:  THUDM's ChatGLM2 layout (the chatglm2 fixture) with a SentencePiece tokenizer.model built here.
// Files are passed to the engine through memoryModelFiles, so a case never touches the disk.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { memoryByteSource, memoryModelFiles, type ModelFiles } from '../../src/formats/byte-source';
import { convertModel } from '../../src/formats/convert';
import { ggufModelFiles, openGguf, type GgufValueType } from '../../src/formats/gguf';
import type { PackageSink, ShardSink } from '../../src/formats/package';
import { sha256Hex } from '../../src/loader/sha256';
import { normalizeConfig } from '../../src/model/config';
import { loadModelFolder } from '../../src/model/load';
import { modelToGguf, type GgufBuildOptions, type GgufKv } from '../helpers/gguf-writer';
import { randomArray } from '../helpers/random';
import { buildSafetensors, type TensorToWrite } from '../helpers/safetensors-writer';

export type SeedName = 'hf' | 'gguf' | 'package' | 'sp';
/** A model folder as file name -> content. */
export type Files = Record<string, Uint8Array>;

const text = (s: string) => new TextEncoder().encode(s);

export const HF_CONFIG = {
  model_type: 'glm',
  vocab_size: 3013,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  head_dim: 16,
  partial_rotary_factor: 0.5,
  rope_theta: 10000,
  rms_norm_eps: 1e-5,
  attention_bias: true,
  tie_word_embeddings: false,
  max_position_embeddings: 256,
  eos_token_id: [3000, 3007, 3009],
  hidden_act: 'silu',
};

function hfSafetensors(): Uint8Array {
  const c = HF_CONFIG;
  let seed = 11;
  const rnd = (n: number, scale: number) => randomArray(n, seed++, scale);
  const tensors: TensorToWrite[] = [];
  const add = (name: string, shape: number[], data: Float32Array) => tensors.push({ name, dtype: 'F32', shape, data });
  const H = c.hidden_size;
  const q = c.num_attention_heads * c.head_dim;
  const kv = c.num_key_value_heads * c.head_dim;
  add('model.embed_tokens.weight', [c.vocab_size, H], rnd(c.vocab_size * H, 0.5));
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [H], new Float32Array(H).fill(1));
    add(`${p}.self_attn.q_proj.weight`, [q, H], rnd(q * H, 0.2));
    add(`${p}.self_attn.q_proj.bias`, [q], rnd(q, 0.1));
    add(`${p}.self_attn.k_proj.weight`, [kv, H], rnd(kv * H, 0.2));
    add(`${p}.self_attn.k_proj.bias`, [kv], rnd(kv, 0.1));
    add(`${p}.self_attn.v_proj.weight`, [kv, H], rnd(kv * H, 0.2));
    add(`${p}.self_attn.v_proj.bias`, [kv], rnd(kv, 0.1));
    add(`${p}.self_attn.o_proj.weight`, [H, q], rnd(H * q, 0.2));
    add(`${p}.post_attention_layernorm.weight`, [H], new Float32Array(H).fill(1));
    add(`${p}.mlp.gate_up_proj.weight`, [2 * c.intermediate_size, H], rnd(2 * c.intermediate_size * H, 0.2));
    add(`${p}.mlp.down_proj.weight`, [H, c.intermediate_size], rnd(H * c.intermediate_size, 0.2));
  }
  add('model.norm.weight', [H], new Float32Array(H).fill(1));
  add('lm_head.weight', [c.vocab_size, H], rnd(c.vocab_size * H, 0.3));
  return buildSafetensors(tensors);
}

// ---- a SentencePiece model (protobuf), like ChatGLM2/3's tokenizer.model: BPE with byte fallback ----

/** Protobuf bytes, appended in place (a spread of a 200,000-character piece would overflow the stack). */
class Proto {
  bytes: number[] = [];
  varint(n: number): this {
    let v = BigInt.asUintN(64, BigInt(n));
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      this.bytes.push(b);
    } while (v > 0n);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }
  len(field: number, payload: ArrayLike<number>): this {
    this.tag(field, 2).varint(payload.length);
    for (let i = 0; i < payload.length; i++) this.bytes.push(payload[i]!);
    return this;
  }
  str(field: number, s: string): this {
    return this.len(field, text(s));
  }
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }
  f32(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    return this.tag(field, 5).len32(b);
  }
  private len32(b: Uint8Array): this {
    for (const x of b) this.bytes.push(x);
    return this;
  }
}

export interface SpPiece {
  piece: string;
  score: number;
  /** 1 normal, 2 unknown, 3 control, 4 user defined, 6 byte. */
  type: number;
}

/** padded_vocab_size of tests/fixtures/thudm-chatglm2-tiny. */
const SP_MODEL_VOCAB = 384;

export function spPieces(): SpPiece[] {
  const pieces: SpPiece[] = [
    { piece: '<unk>', score: 0, type: 2 },
    { piece: '<s>', score: 0, type: 3 },
    { piece: '</s>', score: 0, type: 3 },
  ];
  for (let b = 0; b < 256; b++) pieces.push({ piece: `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, score: 0, type: 6 });
  ['▁h', 'he', 'll', 'llo', '▁hello', '▁w', 'or', '▁wor', '▁world', '你好'].forEach((p, i) => pieces.push({ piece: p, score: -i, type: 1 }));
  ['▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd', '你', '好'].forEach((p, i) => pieces.push({ piece: p, score: -100 - i, type: 1 }));
  // Filler pieces up to the fixture model's 384 rows, less the 9 special tokens ChatGLM3's tokenizer adds
  // after the pieces: every id the model can produce then decodes.
  for (let i = 0; pieces.length < SP_MODEL_VOCAB - 9; i++) pieces.push({ piece: `▁f${i}`, score: -200 - i, type: 1 });
  return pieces;
}

export function encodeSpModel(pieces: readonly SpPiece[]): Uint8Array {
  const out = new Proto();
  for (const p of pieces) {
    const piece = new Proto().str(1, p.piece).f32(2, p.score);
    if (p.type !== 1) piece.int(3, p.type);
    out.len(1, piece.bytes);
  }
  out.len(2, new Proto().int(3, 2).int(4, pieces.length).int(35, 1).bytes);
  out.len(3, new Proto().str(1, 'identity').int(3, 1).int(4, 0).int(5, 1).bytes);
  return Uint8Array.from(out.bytes);
}

// ---- package: convert the hf seed through a sink in memory ----

function memorySink(out: Files): PackageSink {
  return {
    location: 'memory-package',
    async createFile(name): Promise<ShardSink> {
      const chunks: Uint8Array[] = [];
      return {
        async write(bytes) {
          chunks.push(bytes.slice());
        },
        async close() {
          const all = new Uint8Array(chunks.reduce((s, c) => s + c.byteLength, 0));
          let o = 0;
          for (const c of chunks) {
            all.set(c, o);
            o += c.byteLength;
          }
          out[name] = all;
          return { bytes: all.byteLength, sha256: await sha256Hex(all) };
        },
      };
    },
    async writeManifest(t) {
      out['manifest.json'] = text(t);
    },
  };
}

export interface Seeds {
  files: Record<SeedName, Files>;
  /** The GGUF seed as metadata + tensors, so mutations can rebuild it with buildGguf. */
  gguf: Required<Pick<GgufBuildOptions, 'metadata' | 'tensors'>>;
}

/** Metadata and tensors of a GGUF (scalar metadata only, as modelToGguf writes it), read back with the reader under test. */
async function ggufSpec(bytes: Uint8Array): Promise<Seeds['gguf']> {
  const g = await openGguf(memoryByteSource(bytes, 'seed.gguf'));
  const metadata: GgufKv[] = [...g.metadata].map(([key, value]) => ({ key, type: g.metadataTypes.get(key) as GgufValueType, value }));
  const tensors = [...g.tensors.values()].map((t) => ({
    name: t.name, type: t.type, ne: [...t.ne], data: bytes.slice(t.byteOffset, t.byteOffset + t.byteLength),
  }));
  return { metadata, tensors };
}

export async function buildSeeds(root: string): Promise<Seeds> {
  const fixture = (dir: string, name: string) => new Uint8Array(readFileSync(join(root, 'tests/fixtures', dir, name)));
  const tokenizer = {
    'tokenizer.json': fixture('tokenizer-glm4-mini', 'tokenizer.json'),
    'tokenizer_config.json': fixture('tokenizer-glm4-mini', 'tokenizer_config.json'),
  };
  const hf: Files = { 'config.json': text(JSON.stringify(HF_CONFIG, null, 1)), 'model.safetensors': hfSafetensors(), ...tokenizer };

  const pkg: Files = {};
  await convertModel(memoryModelFiles(hf, 'seed-hf'), memorySink(pkg), { quant: 'q4', shardSize: 64 * 1024 });

  const loaded = await loadModelFolder(memoryModelFiles(hf, 'seed-hf'));
  const gguf: Files = {
    'model.gguf': modelToGguf(normalizeConfig(HF_CONFIG), loaded.weights, { arch: 'chatglm', type: 'Q8_0' }),
    ...tokenizer,
  };

  const sp: Files = {
    'config.json': fixture('thudm-chatglm2-tiny', 'config.json'),
    'model.safetensors': fixture('thudm-chatglm2-tiny', 'model.safetensors'),
    'tokenizer.model': encodeSpModel(spPieces()),
  };
  return { files: { hf, gguf, package: pkg, sp }, gguf: await ggufSpec(gguf['model.gguf']!) };
}

/**
 * The ModelFiles a case loads. A GGUF folder is its model.gguf seen through ggufModelFiles (config.json
 * built from the metadata), with the tokenizer files beside it taken as they are.
 */
export function caseModelFiles(seed: SeedName, files: Files): ModelFiles {
  const plain = memoryModelFiles(files, `fuzz-${seed}`);
  if (seed !== 'gguf') return plain;
  const gguf = ggufModelFiles(async () => memoryByteSource(files['model.gguf'] ?? new Uint8Array(0), 'fuzz-gguf/model.gguf'), 'fuzz-gguf/model.gguf');
  const own = (name: string) => name === 'model.gguf' || name === 'config.json';
  return {
    location: 'fuzz-gguf',
    exists: (name) => (own(name) ? gguf.exists(name) : plain.exists(name)),
    readText: (name) => (own(name) ? gguf.readText(name) : plain.readText(name)),
    open: (name) => (own(name) ? gguf.open(name) : plain.open(name)),
  };
}
