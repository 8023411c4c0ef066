// The CLI contract and the chat engine on the GPU backend (Dawn): `logits`/`generate --backend gpu`
// on the reference fixtures, q4 on GPU vs CPU, and the engine drawing tokens with the GPU sampler.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from './gpu-context';
import { runCli } from '../helpers/cli';
import { MODEL_FIXTURES, fixtureDir, fixtureExpected, LOGITS_ATOL } from '../helpers/fixtures';
import { expectAllClose } from '../helpers/compare';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import { GlmEngine } from '../../src/runtime/engine';

beforeAll(async () => {
  await testGpu(); // sets up Dawn on SwiftShader (or the machine's GPU) and prints the adapter
});

// Every fixture runs on GpuOps in forward-gpu.test.ts; here the CLI path (flags, loading, JSON) on one
// fixture per code family, since each CLI call compiles its pipelines again (slow on SwiftShader).
const CLI_FIXTURES = MODEL_FIXTURES.filter((n) => n === 'thudm-chatglm1-tiny' || n === 'hf-glm4-tiny' || n === 'thudm-glm4chat-tiny');

describe.each(CLI_FIXTURES)('CLI --backend gpu on %s', (name) => {
  const e = fixtureExpected(name);
  const ids = e.prompt_ids.join(',');

  it('logits --backend gpu --quant none matches prompt_logits; generate reproduces greedy_ids', async () => {
    const l = await runCli(['logits', '--model', fixtureDir(name), '--ids', ids, '--backend', 'gpu', '--quant', 'none']);
    expect(l.code, l.stderr).toBe(0);
    const rows = JSON.parse(l.stdout).logits as number[][];
    rows.forEach((row, pos) => expectAllClose(row, e.prompt_logits[pos]!, { atol: LOGITS_ATOL, label: `${name} gpu position ${pos}` }));
    const g = await runCli(['generate', '--model', fixtureDir(name), '--ids', ids, '--max-new-tokens', String(e.greedy_ids.length), '--temperature', '0', '--json', '--backend', 'gpu']);
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout).ids).toEqual(e.greedy_ids);
  });

  it('--quant q4: GPU and CPU agree on logits (1e-3) and greedy ids', async () => {
    const args = (backend: string) => ['logits', '--model', fixtureDir(name), '--ids', ids, '--backend', backend, '--quant', 'q4'];
    const gpu = JSON.parse((await runCli(args('gpu'))).stdout).logits as number[][];
    const cpu = JSON.parse((await runCli(args('cpu'))).stdout).logits as number[][];
    gpu.forEach((row, pos) => expectAllClose(row, cpu[pos]!, { atol: LOGITS_ATOL, label: `${name} q4 gpu vs cpu position ${pos}` }));
    const gen = async (backend: string) =>
      JSON.parse((await runCli(['generate', '--model', fixtureDir(name), '--ids', ids, '--max-new-tokens', '8', '--json', '--backend', backend, '--quant', 'q4'])).stdout).ids;
    expect(await gen('gpu')).toEqual(await gen('cpu'));
  });
});

describe('chat engine on the GPU backend (tokens drawn by the GPU sampler)', () => {
  const SCRIPT = '中文 emoji 👋 ok';
  let scripted: string;
  let random: string;
  beforeAll(async () => {
    const tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    const root = mkdtempSync(resolve(tmpdir(), 'glm-gpu-engine-'));
    scripted = writeTinyChatModel(resolve(root, 'scripted'), { scriptIds: tok.encode(SCRIPT, { addSpecialTokens: false }) });
    random = writeTinyChatModel(resolve(root, 'random'));
  });

  it('greedy reply on the GPU equals the CPU one; seeded sampling repeats', async () => {
    const gpu = new GlmEngine();
    await gpu.load(scripted, { backend: 'gpu' });
    expect((await gpu.generate({ messages: [{ role: 'user', content: 'hi' }] })).choices[0].message.content).toBe(SCRIPT);
    await gpu.load(random, { backend: 'gpu' });
    const cpu = new GlmEngine();
    await cpu.load(random, { backend: 'cpu' });
    const ask = { messages: [{ role: 'user' as const, content: 'Hello world' }], max_tokens: 12 };
    expect((await gpu.generate(ask)).choices[0].message.content).toBe((await cpu.generate(ask)).choices[0].message.content);
    const sampled = async () => {
      gpu.resetChat();
      return (await gpu.generate({ ...ask, temperature: 1, top_k: 40, top_p: 0.9, seed: 11 })).choices[0].message.content;
    };
    expect(await sampled()).toBe(await sampled());
    gpu.unload();
    cpu.unload();
  });
});
