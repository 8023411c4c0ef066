// The complete chat API on the in-thread engine (CPU): field checking, tool-call round trips with
// scripted models, n choices, usage, cancellation, logit controls, logprobs, generation_config defaults
// and completions.create.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/worker/client';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import type { GlmTokenizer } from '../../src/tokenizer/types';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionTool, Completion, CompletionChunk } from '../../src/runtime/api-types';
import { distinctScript, TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { chatTemplateFixture } from '../helpers/fixtures';

const WEATHER: ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};
/** The scripted model's call: a JSON text whose tokens are all distinct (a bigram model cannot repeat one). */
const FORECAST: ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_forecast', description: 'Forecast for the next days', parameters: { type: 'object', properties: { days: { type: 'integer' } }, required: ['days'] } },
};
const FORECAST_REPLY = 'get_forecast\n{ "days": 3}';

async function collect<C>(stream: AsyncIterable<C>): Promise<C[]> {
  const out: C[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

describe('chat API (in-thread engine, CPU)', () => {
  let root: string;
  let tok: GlmTokenizer;
  let randomDir: string;
  let scriptedDir: string;
  const engines: Record<string, Engine> = {};

  async function engineFor(dir: string): Promise<Engine> {
    if (!engines[dir]) {
      engines[dir] = await createEngine({ inThread: true });
      await engines[dir]!.load(dir, { backend: 'cpu' });
    }
    await engines[dir]!.resetChat();
    return engines[dir]!;
  }

  beforeAll(async () => {
    root = mkdtempSync(resolve(tmpdir(), 'glm-chat-api-'));
    tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    randomDir = writeTinyChatModel(resolve(root, 'random'));
    scriptedDir = writeTinyChatModel(resolve(root, 'scripted'), { scriptIds: distinctScript(tok, 'Hello there, friend.') });
  });

  it('unknown and unimplemented fields are an UnsupportedFieldError naming the field; content parts and tool messages are accepted', async () => {
    const engine = await engineFor(scriptedDir);
    const nameOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: Error) => `${e.name}: ${e.message}`);
    expect(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], frobnicate: 1 } as never))).toMatch(/^UnsupportedFieldError: .*"frobnicate"/);
    expect(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], functions: [] } as never))).toMatch(/^UnsupportedFieldError: .*"functions".*tools/);
    // Issue #21: image parts are checked (a bad URL is ImageUrlError); a text-only model refuses a good one.
    expect(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] } as never))).toMatch(/^ImageUrlError: /);
    expect(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] }))).toMatch(/^NoVisionTowerError: /);
    expect(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: [{ type: 'input_audio' }] }] } as never))).toMatch(/^UnsupportedFieldError: .*"input_audio"/);
    expect(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], frequency_penalty: 3 }))).toMatch(/^InvalidArgumentError/);
    expect(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], n: 9 }))).toMatch(/^InvalidArgumentError/);
    expect(await nameOf(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', format: 'email' } } } }))).toMatch(/^UnsupportedSchemaError/);
    const parts = (await engine.chat.completions.create({ messages: [{ role: 'user', content: [{ type: 'text', text: 'hi ' }, { type: 'text', text: 'there' }] }], max_tokens: 32 })) as ChatCompletion;
    expect(parts.choices[0]!.message.content).toBe('Hello there, friend.');
    // The engine stays usable after every rejected request.
    expect((await engine.stats()).loaded).toBe(true);
  });

  it('n choices come from the shared prompt cache; seeded, each choice its own stream', async () => {
    const engine = await engineFor(randomDir);
    const req = { messages: [{ role: 'user' as const, content: 'tell me' }], n: 3, max_tokens: 6, temperature: 1.2, seed: 5 };
    const a = (await engine.chat.completions.create(req)) as ChatCompletion;
    expect(a.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const texts = a.choices.map((c) => c.message.content);
    expect(new Set(texts).size).toBeGreaterThan(1);
    expect(a.usage.completion_tokens).toBeGreaterThanOrEqual(3);
    expect(a.usage.completion_tokens).toBeLessThanOrEqual(18);
    await engine.resetChat();
    const before = await engine.counters();
    const b = (await engine.chat.completions.create(req)) as ChatCompletion;
    const after = await engine.counters();
    expect(b.choices.map((c) => c.message.content)).toEqual(texts);
    // The prompt once, then its last token again per extra choice, plus the decoded tokens (at most).
    expect(after.tokensEvaluated - before.tokensEvaluated).toBeLessThanOrEqual(b.usage.prompt_tokens + 2 + b.usage.completion_tokens);
  });

  it('usage has prompt_tokens_details.cached_tokens; stream_options.include_usage sends it in a last chunk with empty choices', async () => {
    const engine = await engineFor(scriptedDir);
    const turn = [{ role: 'user' as const, content: 'hi' }];
    const first = (await engine.chat.completions.create({ messages: turn, max_tokens: 16 })) as ChatCompletion;
    expect(first.usage.prompt_tokens_details.cached_tokens).toBe(0);
    const chunks = await collect(
      (await engine.chat.completions.create({
        messages: [...turn, { role: 'assistant', content: first.choices[0]!.message.content }, { role: 'user', content: 'again' }],
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: 16,
      })) as AsyncIterable<ChatCompletionChunk>,
    );
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage!.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
    expect(last.usage!.prefilled_tokens).toBe(last.usage!.prompt_tokens - last.usage!.prompt_tokens_details.cached_tokens);
    expect(chunks.slice(0, -1).every((c) => c.usage === undefined)).toBe(true);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop');
  });

  it('break out of for-await stops the generation and frees the engine: an immediate create() succeeds', async () => {
    const engine = await engineFor(randomDir);
    let seen = 0;
    for await (const c of (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'a long story' }], stream: true, max_tokens: 200, temperature: 1, seed: 1 })) as AsyncIterable<ChatCompletionChunk>) {
      if (c.choices[0]?.delta.content) seen++;
      if (seen === 2) break;
    }
    const before = await engine.counters();
    const next = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'next' }], max_tokens: 3 })) as ChatCompletion;
    expect(next.choices[0]!.finish_reason).toBe('length');
    // The broken-off generation stopped within a token of the break (it did not run on to 200).
    expect(before.cachedTokens).toBeLessThan(60);
  });

  it('an AbortSignal stops create (finish_reason "abort") and load (AbortError); the engine stays usable', async () => {
    const engine = await engineFor(randomDir);
    const ctl = new AbortController();
    let finish: string | null = null;
    let n = 0;
    for await (const c of (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'go on' }], stream: true, max_tokens: 200, temperature: 1, seed: 2 }, { signal: ctl.signal })) as AsyncIterable<ChatCompletionChunk>) {
      if (++n === 3) ctl.abort();
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('abort');
    expect(n).toBeLessThan(20);
    const pre = new AbortController();
    pre.abort();
    await expect(engine.chat.completions.create({ messages: [{ role: 'user', content: 'x' }] }, { signal: pre.signal })).rejects.toMatchObject({ name: 'AbortError' });

    const loader = await createEngine({ inThread: true });
    const lc = new AbortController();
    const loading = loader.load(randomDir, { backend: 'cpu', signal: lc.signal, onProgress: (p) => p.phase === 'weights' && lc.abort() });
    await expect(loading).rejects.toMatchObject({ name: 'AbortError' });
    await loader.load(randomDir, { backend: 'cpu' });
    const r = (await loader.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], max_tokens: 2 })) as ChatCompletion;
    expect(r.usage.completion_tokens).toBe(2);
    await loader.terminate();
  });

  it('logit_bias forbids or forces tokens; frequency and presence penalties change the reply', async () => {
    const engine = await engineFor(scriptedDir);
    const script = distinctScript(tok, 'Hello there, friend.');
    const plain = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 })) as ChatCompletion;
    expect(plain.choices[0]!.message.content).toBe(tok.decode(script.slice(0, 4)));
    await engine.resetChat();
    const banned = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, logit_bias: { [script[0]!]: -100 } })) as ChatCompletion;
    expect(banned.choices[0]!.message.content.startsWith(tok.decode([script[0]!]))).toBe(false);
    await engine.resetChat();
    const forced = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, logit_bias: { '42': 100 } })) as ChatCompletion;
    expect(forced.choices[0]!.message.content).toBe(tok.decode([42, 42, 42]));

    const random = await engineFor(randomDir);
    const base = { messages: [{ role: 'user' as const, content: 'repeat' }], max_tokens: 24, temperature: 0 };
    const greedy = (await random.chat.completions.create(base)) as ChatCompletion;
    await random.resetChat();
    const penalized = (await random.chat.completions.create({ ...base, frequency_penalty: 2, presence_penalty: 2 })) as ChatCompletion;
    const ids = (t: string) => tok.encode(t, { addSpecialTokens: false });
    const repeats = (t: string) => ids(t).length - new Set(ids(t)).size;
    expect(repeats(greedy.choices[0]!.message.content)).toBeGreaterThan(0); // the random model loops when greedy
    expect(repeats(penalized.choices[0]!.message.content)).toBeLessThan(repeats(greedy.choices[0]!.message.content));
  });

  it('logprobs and top_logprobs: the chosen token, its alternatives sorted, a distribution', async () => {
    const engine = await engineFor(randomDir);
    const r = (await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 4 })) as ChatCompletion;
    const lp = r.choices[0]!.logprobs!.content;
    expect(lp.length).toBe(r.usage.completion_tokens);
    for (const t of lp) {
      expect(t.top_logprobs.length).toBe(4);
      // Greedy: the chosen token is the most likely one.
      expect(t.top_logprobs[0]!.token).toBe(t.token);
      expect(t.logprob).toBeCloseTo(t.top_logprobs[0]!.logprob, 6);
      for (let i = 1; i < 4; i++) expect(t.top_logprobs[i]!.logprob).toBeLessThanOrEqual(t.top_logprobs[i - 1]!.logprob);
      expect(t.top_logprobs.reduce((s, x) => s + Math.exp(x.logprob), 0)).toBeLessThanOrEqual(1 + 1e-6);
      expect(new TextDecoder().decode(Uint8Array.from(t.bytes))).toBe(t.token);
    }
    expect(lp.map((t) => t.token).join('')).toBe(r.choices[0]!.message.content);
  });

  it('generation_config.json gives the defaults a request leaves out', async () => {
    const dir = writeTinyChatModel(resolve(root, 'with-gen-config'), { generationConfig: { do_sample: true, temperature: 1.3, top_k: 7, max_new_tokens: 5 } });
    const engine = await engineFor(dir);
    const messages = [{ role: 'user' as const, content: 'hello' }];
    const implicit = (await engine.chat.completions.create({ messages, seed: 9 })) as ChatCompletion;
    await engine.resetChat();
    const explicit = (await engine.chat.completions.create({ messages, seed: 9, temperature: 1.3, top_k: 7, max_tokens: 5 })) as ChatCompletion;
    expect(implicit.choices[0]!.message.content).toBe(explicit.choices[0]!.message.content);
    expect(implicit.usage.completion_tokens).toBeLessThanOrEqual(5);
    await engine.resetChat();
    const greedy = (await engine.chat.completions.create({ messages, seed: 9, temperature: 0, max_tokens: 5 })) as ChatCompletion;
    await engine.resetChat();
    const other = (await engine.chat.completions.create({ messages, seed: 10 })) as ChatCompletion;
    // Sampling really is on by default here: seeds differ, or differ from greedy.
    expect(new Set([greedy.choices[0]!.message.content, implicit.choices[0]!.message.content, other.choices[0]!.message.content]).size).toBeGreaterThan(1);
  });

  it('completions.create: a text_completion for a raw prompt, streamed or whole', async () => {
    const engine = await engineFor(randomDir);
    const whole = (await engine.completions.create({ prompt: 'Once upon', max_tokens: 4, temperature: 0, logprobs: 2 })) as Completion;
    expect(whole.object).toBe('text_completion');
    expect(whole.choices[0]!.logprobs!.tokens.join('')).toBe(whole.choices[0]!.text);
    expect(whole.choices[0]!.logprobs!.top_logprobs![0]).toBeTypeOf('object');
    await engine.resetChat();
    const chunks = await collect((await engine.completions.create({ prompt: 'Once upon', max_tokens: 4, temperature: 0, stream: true })) as AsyncIterable<CompletionChunk>);
    expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe(whole.choices[0]!.text);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe(whole.choices[0]!.finish_reason);
  });

  // Tool-call round trips: a scripted model answers with the family's call format; the call comes back
  // as tool_calls, and the result goes back in as a tool message.
  // GLM-Z1-0414's template opens the reply with "<|assistant|>\n<think>": its script starts after that.
  for (const [label, template, promptEnd] of [
    ['GLM-4-9B-chat', chatTemplateFixture('glm-4-9b-chat'), '<|assistant|>'],
    ['GLM-4-0414', chatTemplateFixture('glm-z1-0414'), '\n<think>'],
  ] as const) {
    it(`tool call round trip in the ${label} format (streamed and whole)`, async () => {
      const dir = writeTinyChatModel(resolve(root, `tools-${label}`), { scriptIds: distinctScript(tok, FORECAST_REPLY), chatTemplate: template, maxPositions: 2048, startAfter: tok.encode(promptEnd, { addSpecialTokens: false }).at(-1)! });
      const engine = await engineFor(dir);
      const messages = [{ role: 'user' as const, content: 'Forecast?' }];
      const tools = [FORECAST];
      const r = (await engine.chat.completions.create({ messages, tools, max_tokens: 40 })) as ChatCompletion;
      const choice = r.choices[0]!;
      expect(choice.finish_reason).toBe('tool_calls');
      expect(choice.message.content).toBe('');
      expect(choice.message.tool_calls).toHaveLength(1);
      const call = choice.message.tool_calls![0]!;
      expect(call.function.name).toBe('get_forecast');
      expect(JSON.parse(call.function.arguments)).toEqual({ days: 3 });

      await engine.resetChat();
      const stream = (await engine.chat.completions.create({ messages, tools, max_tokens: 40, stream: true })) as AsyncIterable<ChatCompletionChunk>;
      const chunks = await collect(stream);
      const deltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
      expect(deltas[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_forecast' } });
      expect(JSON.parse(deltas.map((d) => d.function.arguments ?? '').join(''))).toEqual({ days: 3 });
      expect(chunks.every((c) => !c.choices[0]?.delta.content)).toBe(true);
      expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');

      // Feed the result back: the request is accepted, and the conversation's prefix comes from the cache.
      const back = (await engine.chat.completions.create({
        messages: [...messages, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: '{"temp": 21}' }],
        tools,
        max_tokens: 40,
      })) as ChatCompletion;
      expect(back.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
      expect(back.choices[0]!.message.tool_calls?.[0]?.function.name).toBe('get_forecast');

      // Without tools the same reply is plain text.
      await engine.resetChat();
      const text = (await engine.chat.completions.create({ messages, max_tokens: 40 })) as ChatCompletion;
      expect(text.choices[0]!.message.content).toBe(FORECAST_REPLY);
      expect(text.choices[0]!.finish_reason).toBe('stop');
    });
  }

  it('a forced tool call (tool_choice names it) decodes arguments that parse and match the schema', async () => {
    const engine = await engineFor(randomDir);
    for (let seed = 0; seed < 5; seed++) {
      const r = (await engine.chat.completions.create({
        messages: [{ role: 'user', content: 'weather?' }],
        tools: [WEATHER],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        temperature: 1,
        seed,
        max_tokens: 30,
      })) as ChatCompletion;
      const call = r.choices[0]!.message.tool_calls![0]!;
      expect(call.function.name).toBe('get_weather');
      expect(typeof (JSON.parse(call.function.arguments) as { city: unknown }).city).toBe('string');
      expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    }
  });
});
