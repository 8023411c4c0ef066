// Peak memory of `glm-webgpu convert` on a synthetic checkpoint of 2+ GB.
//
//   npm run build   # the CLI under test is dist/cli
//   node -e "import('vite').then((v) => v.runnerImport('./bench/convert-rss.ts'))"
//   (options through the environment: RSS_DIR=/tmp/glm-convert-rss RSS_LAYERS=22 RSS_QUANT=q4 RSS_KEEP=1)
//
// Writes a GlmForCausalLM checkpoint (BF16, two safetensors shards + index.json, like a hub download)
// streaming to disk with the test safetensors writer's header encoding, then runs the built CLI in a
// child process and reports the peak RSS that process measured (process.resourceUsage().maxRSS), next
// to the checkpoint size and the largest tensor: tensor-by-tensor streaming means the peak follows the
// largest tensor, not the model.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { encodeSafetensors } from '../tests/helpers/safetensors-writer';

const dir = process.env.RSS_DIR ?? '/tmp/glm-convert-rss';
const layers = Number(process.env.RSS_LAYERS ?? 22);
const quant = process.env.RSS_QUANT ?? 'q4';
const root = path.resolve(import.meta.dirname, '..');

const hidden = 2048;
const heads = 16;
const kvHeads = 4;
const headDim = 128;
const ffn = 5632;
const vocab = 65024;

const config = {
  model_type: 'glm',
  architectures: ['GlmForCausalLM'],
  vocab_size: vocab,
  hidden_size: hidden,
  intermediate_size: ffn,
  num_hidden_layers: layers,
  num_attention_heads: heads,
  num_key_value_heads: kvHeads,
  head_dim: headDim,
  hidden_act: 'silu',
  rms_norm_eps: 1e-5,
  partial_rotary_factor: 0.5,
  rope_theta: 10000,
  attention_bias: true,
  tie_word_embeddings: false,
  max_position_embeddings: 8192,
  eos_token_id: 2,
  torch_dtype: 'bfloat16',
};

interface Spec {
  name: string;
  shape: number[];
}
const specs: Spec[] = [{ name: 'model.embed_tokens.weight', shape: [vocab, hidden] }];
for (let i = 0; i < layers; i++) {
  const p = `model.layers.${i}`;
  specs.push(
    { name: `${p}.input_layernorm.weight`, shape: [hidden] },
    { name: `${p}.self_attn.q_proj.weight`, shape: [heads * headDim, hidden] },
    { name: `${p}.self_attn.q_proj.bias`, shape: [heads * headDim] },
    { name: `${p}.self_attn.k_proj.weight`, shape: [kvHeads * headDim, hidden] },
    { name: `${p}.self_attn.k_proj.bias`, shape: [kvHeads * headDim] },
    { name: `${p}.self_attn.v_proj.weight`, shape: [kvHeads * headDim, hidden] },
    { name: `${p}.self_attn.v_proj.bias`, shape: [kvHeads * headDim] },
    { name: `${p}.self_attn.o_proj.weight`, shape: [hidden, heads * headDim] },
    { name: `${p}.post_attention_layernorm.weight`, shape: [hidden] },
    { name: `${p}.mlp.gate_up_proj.weight`, shape: [2 * ffn, hidden] },
    { name: `${p}.mlp.down_proj.weight`, shape: [hidden, ffn] },
  );
}
specs.push({ name: 'model.norm.weight', shape: [hidden] }, { name: 'lm_head.weight', shape: [vocab, hidden] });
const bytesOf = (s: Spec) => s.shape.reduce((a, b) => a * b, 1) * 2;

// 16 MiB of random BF16 values in [-0.05, 0.05), written over and over (the converter's work does not depend on the values).
const CHUNK = 16 << 20;
const pool = new Uint16Array(CHUNK / 2);
{
  let x = 0x9e3779b9;
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < pool.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    f[0] = ((x >>> 0) / 2 ** 32 - 0.5) * 0.1;
    pool[i] = u[0]! >>> 16;
  }
}
const poolBytes = new Uint8Array(pool.buffer);

async function writeShard(file: string, tensors: Spec[]): Promise<number> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + bytesOf(t)] };
    offset += bytesOf(t);
  }
  const head = encodeSafetensors(header);
  const handle = await open(file, 'w');
  try {
    await handle.write(head);
    let rot = 0;
    for (const t of tensors) {
      let left = bytesOf(t);
      while (left > 0) {
        const start = (rot = (rot + 4096 * 7) % (CHUNK / 2));
        const n = Math.min(left, CHUNK - start);
        await handle.write(poolBytes, start, n);
        left -= n;
      }
    }
  } finally {
    await handle.close();
  }
  return head.byteLength + offset;
}

async function main(): Promise<void> {
  const model = path.join(dir, 'hf');
  const out = path.join(dir, `pkg-${quant}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(model, { recursive: true });
  writeFileSync(path.join(model, 'config.json'), JSON.stringify(config, null, 2));
  const half = Math.ceil(specs.length / 2);
  const shards = [specs.slice(0, half), specs.slice(half)];
  const weightMap: Record<string, string> = {};
  let total = 0;
  const t0 = performance.now();
  for (const [i, part] of shards.entries()) {
    const name = `model-0000${i + 1}-of-0000${shards.length}.safetensors`;
    total += await writeShard(path.join(model, name), part);
    for (const t of part) weightMap[t.name] = name;
  }
  writeFileSync(path.join(model, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  const largest = specs.reduce((a, b) => (bytesOf(b) > bytesOf(a) ? b : a));
  console.log(
    `checkpoint: ${model}, ${specs.length} tensors, ${(total / 2 ** 30).toFixed(2)} GiB (${total} bytes) BF16, written in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
      `largest tensor ${largest.name} [${largest.shape}] = ${(bytesOf(largest) / 2 ** 20).toFixed(0)} MiB BF16, ${(bytesOf(largest) / 2 ** 19).toFixed(0)} MiB as float32`,
  );

  const args = [path.join(root, 'bin/glm-webgpu.mjs'), 'convert', '--model', model, '--out', out, '--quant', quant];
  console.log(`running: node ${args.join(' ')}`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    process.stderr.write(d);
  });
  const code = await new Promise<number | null>((ok) => child.on('close', ok));
  if (code !== 0) throw new Error(`convert exited with ${code}`);
  const rss = /peak RSS [^(]*\((\d+) bytes\)/.exec(stderr);
  const pkgBytes = statSync(out).isDirectory() ? JSON.parse((await import('node:fs')).readFileSync(path.join(out, 'manifest.json'), 'utf8')).totalBytes : 0;
  const peak = rss ? Number(rss[1]) : NaN;
  console.log(
    `RESULT: checkpoint ${(total / 2 ** 30).toFixed(2)} GiB BF16 -> ${quant} package ${(pkgBytes / 2 ** 20).toFixed(0)} MiB; ` +
      `peak RSS of the convert process ${(peak / 2 ** 20).toFixed(0)} MiB = ${((100 * peak) / total).toFixed(1)}% of the checkpoint, ` +
      `${(peak / bytesOf(largest)).toFixed(2)}x the largest tensor's BF16 bytes`,
  );
  if (!process.env.RSS_KEEP) rmSync(dir, { recursive: true, force: true });
}

await main();
