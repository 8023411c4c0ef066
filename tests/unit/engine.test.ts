import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/worker/client';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import type { ChatCompletion, ChatCompletionChunk, ChatMessage } from '../../src/runtime/api-types';
import { readFileSync } from 'node:fs';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';

// Byte-level tokens, all distinct (the scripted model maps each token to one successor).
const SCRIPT_TEXT = '中文 emoji 👋 ok';

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

describe('engine (in-thread, CPU): OpenAI-style chat API', () => {
  let randomDir: string;
  let scriptedDir: string;
  let scriptIds: number[];

  beforeAll(async () => {
    const root = mkdtempSync(resolve(tmpdir(), 'glm-engine-'));
    randomDir = writeTinyChatModel(resolve(root, 'random'));
    const tok = await loadTokenizer({
      tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8'),
      tokenizerConfig: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8'),
    });
    scriptIds = tok.encode(SCRIPT_TEXT, { addSpecialTokens: false });
    scriptedDir = writeTinyChatModel(resolve(root, 'scripted'), { scriptIds });
  });

  async function engineWith(dir: string): Promise<Engine> {
    const engine = await createEngine({ inThread: true });
    await engine.load(dir, { backend: 'cpu' });
    return engine;
  }

  it('streams multi-byte text: no broken character in any chunk, chunks concatenate to the whole reply', async () => {
    // The script splits Chinese and emoji across byte-level tokens (checked here, so the test means something).
    expect(scriptIds.length).toBeGreaterThan([...SCRIPT_TEXT].length);
    const engine = await engineWith(scriptedDir);
    const chunks = await collect(await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 64 }));
    expect(chunks[0]!.object).toBe('chat.completion.chunk');
    expect(chunks[0]!.choices[0].delta.role).toBe('assistant');
    const pieces = chunks.map((c) => c.choices[0].delta.content ?? '');
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
    expect(pieces.filter((p) => p.length > 0).length).toBeGreaterThan(3); // really streamed, not one blob
    expect(pieces.join('')).toBe(SCRIPT_TEXT);
    const last = chunks.at(-1)!;
    expect(last.choices[0].finish_reason).toBe('stop');
    expect(last.usage?.completion_tokens).toBe(scriptIds.length);

    await engine.resetChat();
    const whole = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 64 })) as ChatCompletion;
    expect(whole.object).toBe('chat.completion');
    expect(whole.choices[0].message.content).toBe(SCRIPT_TEXT);
    expect(whole.choices[0].finish_reason).toBe('stop');
  });

  it('stop strings end the reply without including the stop string', async () => {
    const engine = await engineWith(scriptedDir);
    const chunks = await collect(await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], stream: true, stop: ['emoji'] }));
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('中文 ');
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
  });

  it('max_tokens ends with finish_reason "length" and usage counts', async () => {
    const engine = await engineWith(randomDir);
    const r = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hello world' }], max_tokens: 5, temperature: 0 })) as ChatCompletion;
    if (r.choices[0].finish_reason === 'length') expect(r.usage.completion_tokens).toBe(5);
    else expect(r.usage.completion_tokens).toBeLessThan(5);
    expect(r.usage.total_tokens).toBe(r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  it('abort stops a running generation (finish_reason "abort") and the next request works', async () => {
    const engine = await engineWith(randomDir);
    const stream = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Tell me a story' }], stream: true, max_tokens: 400, temperature: 0.9, seed: 1 });
    const chunks: ChatCompletionChunk[] = [];
    let aborted = false;
    for await (const c of stream) {
      chunks.push(c);
      if (!aborted && chunks.length === 4) {
        aborted = true;
        void engine.abort();
      }
    }
    const last = chunks.at(-1)!;
    expect(last.choices[0].finish_reason).toBe('abort');
    expect(last.usage!.completion_tokens).toBeLessThan(400);
    const next = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'again' }], max_tokens: 3 })) as ChatCompletion;
    expect(['length', 'stop']).toContain(next.choices[0].finish_reason);
  });

  it('seeded sampling repeats exactly; temperature 0 is greedy', async () => {
    const engine = await engineWith(randomDir);
    const ask = async (seed: number, temperature: number) => {
      await engine.resetChat();
      const r = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'numbers 1234567' }], max_tokens: 12, temperature, top_k: 50, top_p: 0.95, seed })) as ChatCompletion;
      return r.choices[0].message.content;
    };
    expect(await ask(42, 1)).toBe(await ask(42, 1));
    expect(await ask(1, 0)).toBe(await ask(2, 0));
  });

  it('multi-turn KV reuse: the second turn prefills only its new tokens and matches a fresh run', async () => {
    const engine = await engineWith(randomDir);
    const turn1: ChatMessage[] = [{ role: 'user', content: 'Hello world' }];
    const r1 = (await engine.chat.completions.create({ messages: turn1, max_tokens: 6 })) as ChatCompletion;
    const turn2: ChatMessage[] = [...turn1, { role: 'assistant', content: r1.choices[0].message.content }, { role: 'user', content: 'And then?' }];
    const before = await engine.counters();
    const r2 = (await engine.chat.completions.create({ messages: turn2, max_tokens: 6 })) as ChatCompletion;
    const after = await engine.counters();
    const stats = await engine.stats();
    expect(stats.lastReusedTokens).toBeGreaterThan(0);
    expect(r2.usage.prefilled_tokens).toBe(r2.usage.prompt_tokens - stats.lastReusedTokens);
    // Evaluated tokens = the new prompt tokens + one per decode step after the first.
    expect(after.tokensEvaluated - before.tokensEvaluated).toBe(r2.usage.prefilled_tokens + Math.max(0, r2.usage.completion_tokens - (r2.choices[0].finish_reason === 'length' ? 1 : 0)));

    const fresh = await engineWith(randomDir);
    const r2fresh = (await fresh.chat.completions.create({ messages: turn2, max_tokens: 6 })) as ChatCompletion;
    expect(r2fresh.usage.prefilled_tokens).toBe(r2fresh.usage.prompt_tokens);
    expect(r2.choices[0].message.content).toBe(r2fresh.choices[0].message.content);
  });

  it('errors carry stable names: no model, bad request, too-long prompt, missing folder', async () => {
    const engine = await createEngine({ inThread: true });
    await expect(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ name: 'ModelNotLoadedError' });
    await expect(engine.load('/no/such/model', { backend: 'cpu' })).rejects.toMatchObject({ name: 'MissingFileError' });
    await engine.load(randomDir, { backend: 'cpu', contextLength: 32 });
    await expect(engine.chat.completions.create({ messages: [] })).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    await expect(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], top_p: 2 })).rejects.toMatchObject({ name: 'InvalidArgumentError' });
    await expect(engine.chat.completions.create({ messages: [{ role: 'user', content: 'a long prompt '.repeat(20) }] })).rejects.toMatchObject({ name: 'ContextOverflowError' });
    // The engine stays usable after every error.
    const ok = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 })) as ChatCompletion;
    expect(ok.usage.completion_tokens).toBeGreaterThan(0);
  });

  it('loads a registry id: "glm-demo" is the embedded demo model', async () => {
    const engine = await createEngine({ inThread: true });
    const info = await engine.load('glm-demo', { backend: 'cpu' });
    expect(info.chatFormat).toBe('glm4');
    const r = (await engine.chat.completions.create({ messages: [{ role: 'user', content: "What does 'bicycle' mean?" }], max_tokens: 40 })) as ChatCompletion;
    expect(r.choices[0].message.content.toLowerCase()).toContain('wheeled vehicle');
    await engine.terminate();
  });
});
