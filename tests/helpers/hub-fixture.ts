// A tiny GLM chat model laid out as a Hugging Face Hub repo, for the Hub-loading tests: the seeded
// random tiny chat model (tests/helpers/tiny-chat-model.ts: GLM-4 architecture, the vocabulary of the
// tokenizer fixture tests/fixtures/tokenizer-glm4-mini) with its weights rounded to BF16 (as Hub
// checkpoints ship) and split into two safetensors shards with model.safetensors.index.json, the
// embedding alone in the first shard. Also the same model as a GGUF file (Q8_0 matrices, the
// tokenizer in its metadata), as llama.cpp's converter lays one out.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { memoryByteSource } from '../../src/formats/byte-source';
import { GgufValueType } from '../../src/formats/gguf';
import { nodeModelFiles } from '../../src/formats/node-files';
import { openSafetensors, readTensorF32 } from '../../src/formats/safetensors';
import { loadModelFolder } from '../../src/model/load';
import type { HostWeight } from '../../src/model/weights';
import { modelToGguf, type GgufKv } from './gguf-writer';
import { buildSafetensors, type TensorToWrite } from './safetensors-writer';
import type { RepoFiles } from './hub-server';
import { TOKENIZER_DIR, writeTinyChatModel } from './tiny-chat-model';

export const HUB_REPO = 'tiny-org/glm-tiny-chat';
export const HUB_GGUF_REPO = 'tiny-org/glm-tiny-chat-GGUF';
export const HUB_GGUF_FILE = 'glm-tiny-chat-Q8_0.gguf';

export interface TinyHubModel {
  /** The repo's files, as the Hub serves them. */
  files: RepoFiles;
  /** The same files in a folder (what the CLI converts for the reference answer). */
  dir: string;
  /** The GGUF repo's files, and the GGUF on disk. */
  ggufFiles: RepoFiles;
  ggufPath: string;
  /** Byte offset where the first shard's tensor data starts (reads before it are header reads). */
  firstShardDataStart: number;
}

function tokenizerMetadata(): GgufKv[] {
  const tj = JSON.parse(readFileSync(join(TOKENIZER_DIR, 'tokenizer.json'), 'utf8'));
  const tc = JSON.parse(readFileSync(join(TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8'));
  const vocab = tj.model.vocab as Record<string, number>;
  const added = tj.added_tokens as { id: number; content: string; special: boolean }[];
  const size = Math.max(...Object.values(vocab), ...added.map((a) => a.id)) + 1;
  const tokens: string[] = new Array(size).fill('');
  const types = new Array<number>(size).fill(1);
  for (const [t, id] of Object.entries(vocab)) tokens[id] = t;
  for (const a of added) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4;
  }
  for (let i = 0; i < size; i++) if (tokens[i] === '') tokens[i] = `[PAD${i}]`;
  return [
    { key: 'tokenizer.ggml.model', type: GgufValueType.STRING, value: 'gpt2' },
    { key: 'tokenizer.ggml.pre', type: GgufValueType.STRING, value: 'glm4' },
    { key: 'tokenizer.ggml.tokens', type: GgufValueType.ARRAY, elemType: GgufValueType.STRING, value: tokens },
    { key: 'tokenizer.ggml.token_type', type: GgufValueType.ARRAY, elemType: GgufValueType.INT32, value: types },
    { key: 'tokenizer.ggml.merges', type: GgufValueType.ARRAY, elemType: GgufValueType.STRING, value: (tj.model.merges as [string, string][]).map((m) => m.join(' ')) },
    { key: 'tokenizer.chat_template', type: GgufValueType.STRING, value: tc.chat_template },
  ];
}

export async function buildTinyHubModel(): Promise<TinyHubModel> {
  const tmp = mkdtempSync(join(tmpdir(), 'glm-hub-fixture-'));
  const f32Dir = writeTinyChatModel(join(tmp, 'f32'), { seed: 11 });
  const file = await openSafetensors(memoryByteSource(readFileSync(join(f32Dir, 'model.safetensors'))));
  const tensors: TensorToWrite[] = [];
  for (const info of file.tensors.values()) tensors.push({ name: info.name, dtype: 'BF16', shape: info.shape, data: await readTensorF32(info) });
  const first = tensors.filter((t) => t.name === 'model.embed_tokens.weight');
  const rest = tensors.filter((t) => t.name !== 'model.embed_tokens.weight');
  const shards: Record<string, TensorToWrite[]> = { 'model-00001-of-00002.safetensors': first, 'model-00002-of-00002.safetensors': rest };
  const files: RepoFiles = {
    'config.json': readFileSync(join(f32Dir, 'config.json'), 'utf8'),
    'tokenizer.json': readFileSync(join(f32Dir, 'tokenizer.json'), 'utf8'),
    'tokenizer_config.json': readFileSync(join(f32Dir, 'tokenizer_config.json'), 'utf8'),
    'README.md': '---\nlicense: other\n---\nA tiny test model.\n',
  };
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (const [name, list] of Object.entries(shards)) {
    files[name] = buildSafetensors(list, { format: 'pt' });
    for (const t of list) {
      weightMap[t.name] = name;
      totalSize += t.shape.reduce((a, b) => a * b, 1) * 2;
    }
  }
  files['model.safetensors.index.json'] = JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2);
  const headerLength = Number(new DataView((files['model-00001-of-00002.safetensors'] as Uint8Array).buffer).getBigUint64(0, true));

  const dir = resolve(tmp, 'hub-folder');
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);

  // The GGUF: the BF16 model's weights (as float32) in llama.cpp's layout, matrices as Q8_0.
  const model = await loadModelFolder<HostWeight>(nodeModelFiles(dir));
  const gguf = modelToGguf(model.config, model.weights, { arch: 'chatglm', type: 'Q8_0', splitQkv: true, extraMetadata: tokenizerMetadata() });
  const ggufPath = join(tmp, HUB_GGUF_FILE);
  writeFileSync(ggufPath, gguf);
  return {
    files,
    dir,
    ggufFiles: { [HUB_GGUF_FILE]: gguf, 'README.md': 'GGUF of a tiny test model.\n' },
    ggufPath,
    firstShardDataStart: 8 + headerLength,
  };
}
