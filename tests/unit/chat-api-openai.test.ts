// The chat API as an app written against OpenAI's uses it (issue #19, "try it as a user"): the fields such
// an app sends that GLM has no slot for are named errors, never dropped; `developer` is the system prompt;
// a response message goes back into history as it is; and the streamed and whole responses have OpenAI's
// shapes (system_fingerprint, role in the first delta only, finish_reason in the last, the usage chunk).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/worker/client';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool, Completion, CompletionChunk } from '../../src/runtime/api-types';
import { distinctScript, TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { chatTemplateFixture } from '../helpers/fixtures';
import { Ajv } from 'ajv';
import { GlmEngine } from '../../src/runtime/engine';
import { scriptReplies } from '../helpers/scripted-replies';

const FORECAST: ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_forecast', parameters: { type: 'object', properties: { days: { type: 'integer' } }, required: ['days'] } },
};

async function collect<C>(stream: AsyncIterable<C>): Promise<C[]> {
  const out: C[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

const nameOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: Error) => `${e.name}: ${e.message}`);

describe('chat API as an OpenAI app uses it (in-thread engine, CPU)', () => {
  let random: Engine;
  let tools: Engine;

  beforeAll(async () => {
    const root = mkdtempSync(resolve(tmpdir(), 'glm-chat-openai-'));
    const tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    random = await createEngine({ inThread: true });
    await random.load(writeTinyChatModel(resolve(root, 'random'), { seed: 5 }), { backend: 'cpu' });
    tools = await createEngine({ inThread: true });
    const scripted = writeTinyChatModel(resolve(root, 'tools'), { scriptIds: distinctScript(tok, 'get_forecast\n{ "days": 3}'), chatTemplate: chatTemplateFixture('glm-4-9b-chat'), maxPositions: 2048 });
    await tools.load(scripted, { backend: 'cpu' });
  });

  it('fields GLM has no slot for are named errors saying what to do; the engine stays usable', async () => {
    const user = { role: 'user' as const, content: 'hi' };
    const ask = (extra: object) => nameOf(random.chat.completions.create({ messages: [user], max_tokens: 2, ...extra } as never));
    expect(await ask({ messages: [{ ...user, name: 'bob' }] })).toMatch(/^UnsupportedFieldError: message 0 \(user\) field "name": .*put the name in the content/);
    expect(await ask({ messages: [{ role: 'system', content: 's', name: 'x' }, user] })).toMatch(/^UnsupportedFieldError: .*"name"/);
    expect(await ask({ messages: [user, { role: 'tool', tool_call_id: 'call_x', content: '1' }] })).toMatch(/^InvalidArgumentError: message 1: tool_call_id "call_x" answers no tool call/);
    expect(await ask({ messages: [{ ...user, tool_call_id: 'c' }] })).toMatch(/^InvalidArgumentError: .*only tool messages carry tool_call_id/);
    expect(await ask({ messages: [{ role: 'user', content: [] }] })).toMatch(/^InvalidArgumentError: .*empty content array/);
    expect(await ask({ messages: [{ role: 'assistant', content: 'no', refusal: 'I will not' }, user] })).toMatch(/^UnsupportedFieldError: .*"refusal"/);
    expect(await ask({ messages: [{ ...user, audio: { id: 'a' } }] })).toMatch(/^UnsupportedFieldError: message 0 field "audio" is not supported: remove it/);
    expect(await ask({ parallel_tool_calls: 'yes' })).toMatch(/^InvalidArgumentError: parallel_tool_calls must be true or false/);
    expect(await ask({ top_logprobs: 2 })).toMatch(/^InvalidArgumentError: top_logprobs needs logprobs: true/);
    expect(await ask({ metadata: { a: '1' } })).toMatch(/^UnsupportedFieldError: request field "metadata"/);
    expect(await ask({ store: true })).toMatch(/^UnsupportedFieldError: request field "store"/);
    expect(await ask({ messages: [{ role: 'function', name: 'f', content: 'x' }] })).toMatch(/^InvalidArgumentError: .*role must be one of/);
    expect(await ask({ tool_choice: 'required' })).toMatch(/^InvalidArgumentError: tool_choice "required" needs tools/);
    expect(await nameOf(tools.chat.completions.create({ messages: [user], tools: [FORECAST], tool_choice: 'any' } as never))).toMatch(/^UnsupportedFieldError: tool_choice "any"/);
    const ok = (await random.chat.completions.create({ messages: [user], max_tokens: 2 })) as ChatCompletion;
    expect(ok.usage.completion_tokens).toBe(2);
  });

  it('tool_choice "required": every reply calls one of the tools, with arguments that match its schema (random weights, temperature 1)', async () => {
    const SEARCH: ChatCompletionTool = { type: 'function', function: { name: 'search', parameters: { type: 'object', properties: { q: { type: 'string', maxLength: 8 }, n: { type: 'integer' } }, required: ['q'] } } };
    const validators = { get_forecast: new Ajv().compile(FORECAST.function.parameters!), search: new Ajv().compile(SEARCH.function.parameters!) };
    const names = new Set<string>();
    // The model picks the tool (this one prefers get_forecast); a bias on the first token of "search" moves it there.
    const towardSearch = { [(await random.tokenize('search', false))[0]!]: 10 };
    for (let seed = 0; seed < 8; seed++) {
      await random.resetChat();
      const bias = seed % 2 === 1 ? { logit_bias: towardSearch } : {};
      const r = (await random.chat.completions.create({
        messages: [{ role: 'user', content: `task ${seed}` }], tools: [FORECAST, SEARCH], tool_choice: 'required', temperature: 1, seed, max_tokens: 40, ...bias,
      })) as ChatCompletion;
      const choice = r.choices[0]!;
      expect(choice.finish_reason, JSON.stringify(choice)).toBe('tool_calls');
      const call = choice.message.tool_calls![0]!;
      const validate = validators[call.function.name as keyof typeof validators];
      expect(validate, call.function.name).toBeDefined();
      expect(validate(JSON.parse(call.function.arguments)), `${call.function.arguments} ${JSON.stringify(validate.errors)}`).toBe(true);
      names.add(call.function.name);
    }
    expect([...names].sort()).toEqual(['get_forecast', 'search']);
    // With one tool, "required" is that tool's call.
    await random.resetChat();
    const one = (await random.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], tools: [SEARCH], tool_choice: 'required', max_tokens: 30 })) as ChatCompletion;
    expect(one.choices[0]!.message.tool_calls![0]!.function.name).toBe('search');
  });

  it('a developer message is the system prompt: the same prompt and the same greedy reply', async () => {
    const withFirst = (role: 'system' | 'developer') => ({ messages: [{ role, content: 'Be brief.' }, { role: 'user' as const, content: 'hi' }], max_tokens: 6, temperature: 0 });
    const asSystem = (await random.chat.completions.create(withFirst('system'))) as ChatCompletion;
    await random.resetChat();
    const asDeveloper = (await random.chat.completions.create(withFirst('developer'))) as ChatCompletion;
    expect(asDeveloper.usage.prompt_tokens).toBe(asSystem.usage.prompt_tokens);
    expect(asDeveloper.choices[0]!.message.content).toBe(asSystem.choices[0]!.message.content);
    await random.resetChat();
    const noSystem = (await random.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 6, temperature: 0 })) as ChatCompletion;
    expect(noSystem.usage.prompt_tokens).toBeLessThan(asDeveloper.usage.prompt_tokens);
  });

  it('the response message goes back into messages as it is (refusal null, tool_calls, "" content), and a tool result with its name', async () => {
    const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'Forecast?' }];
    const first = (await tools.chat.completions.create({ messages, tools: [FORECAST], max_tokens: 40 })) as ChatCompletion;
    const reply = first.choices[0]!.message;
    expect(reply).toMatchObject({ role: 'assistant', content: '', refusal: null });
    const call = reply.tool_calls![0]!;
    messages.push(reply, { role: 'tool', tool_call_id: call.id, name: call.function.name, content: '{"temp": 21}' });
    const back = (await tools.chat.completions.create({ messages, tools: [FORECAST], max_tokens: 40 })) as ChatCompletion;
    expect(back.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
    expect(back.choices[0]!.finish_reason).toMatch(/^(stop|tool_calls|length)$/);
  });

  it('whole and streamed responses have OpenAI\'s shapes', async () => {
    await random.resetChat();
    const req = { messages: [{ role: 'user' as const, content: 'shapes' }], max_tokens: 4, temperature: 1, seed: 2, n: 2 };
    const whole = (await random.chat.completions.create(req)) as ChatCompletion;
    expect(whole).toMatchObject({ object: 'chat.completion', model: expect.any(String), system_fingerprint: 'glm-webgpu/cpu/0gpu+2cpu' });
    expect(whole.id).toMatch(/^chatcmpl-/);
    expect(Number.isInteger(whole.created) && Math.abs(whole.created - Date.now() / 1000) < 600).toBe(true);
    for (const c of whole.choices) expect(Object.keys(c).sort()).toEqual(['finish_reason', 'index', 'logprobs', 'message']);

    await random.resetChat();
    const stream = await random.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    const chunks = await collect(stream as AsyncIterable<ChatCompletionChunk>);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(new Set(chunks.map((c) => c.created)).size).toBe(1);
    for (const c of chunks) expect(c).toMatchObject({ object: 'chat.completion.chunk', system_fingerprint: 'glm-webgpu/cpu/0gpu+2cpu', model: whole.model });
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    const count = expect.any(Number);
    expect(usageChunk.usage).toEqual(expect.objectContaining({ prompt_tokens: count, completion_tokens: count, total_tokens: count }));
    for (const index of [0, 1]) {
      const mine = chunks.flatMap((c) => c.choices).filter((c) => c.index === index);
      // role in the first delta of each choice only; finish_reason null until its last chunk, set there.
      expect(mine[0]!.delta.role).toBe('assistant');
      expect(mine.slice(1).every((c) => c.delta.role === undefined)).toBe(true);
      expect(mine.slice(0, -1).every((c) => c.finish_reason === null)).toBe(true);
      expect(mine.at(-1)!.finish_reason).toBe('length');
      // The same seeded request, streamed, gives the same text as whole.
      expect(mine.map((c) => c.delta.content ?? '').join('')).toBe(whole.choices[index]!.message.content);
    }
  });

  it('completions: streamed chunks carry the same cmpl- id as the whole response, and the fingerprint', async () => {
    const whole = (await random.completions.create({ prompt: 'Once', max_tokens: 3, temperature: 0 })) as Completion;
    expect(whole.id).toMatch(/^cmpl-/);
    expect(whole.system_fingerprint).toBe('glm-webgpu/cpu/0gpu+2cpu');
    const chunks = await collect((await random.completions.create({ prompt: 'Once', max_tokens: 3, temperature: 0, stream: true })) as AsyncIterable<CompletionChunk>);
    for (const c of chunks) {
      expect(c.id).toMatch(/^cmpl-/);
      expect(c).toMatchObject({ object: 'text_completion', system_fingerprint: 'glm-webgpu/cpu/0gpu+2cpu' });
    }
    expect(chunks.flatMap((c) => c.choices).map((c) => c.text).join('')).toBe(whole.choices[0]!.text);
  });

  it('completions with echo and logprobs: the stream carries the prompt and each token\'s logprobs, as the whole response', async () => {
    const req = { prompt: 'Once upon', max_tokens: 5, temperature: 1, seed: 4, echo: true, logprobs: 2 };
    await random.resetChat();
    const whole = (await random.completions.create(req)) as Completion;
    await random.resetChat();
    const chunks = await collect((await random.completions.create({ ...req, stream: true })) as AsyncIterable<CompletionChunk>);
    const pieces = chunks.flatMap((c) => c.choices);
    expect(pieces.map((c) => c.text).join('')).toBe(whole.choices[0]!.text);
    expect(whole.choices[0]!.text.startsWith('Once upon')).toBe(true);
    const lp = whole.choices[0]!.logprobs!;
    const streamed = pieces.flatMap((c) => (c.logprobs ? c.logprobs.tokens.map((t, i) => [t, c.logprobs!.token_logprobs[i], c.logprobs!.text_offset[i]]) : []));
    expect(streamed).toEqual(lp.tokens.map((t, i) => [t, lp.token_logprobs[i], lp.text_offset[i]]));
    expect(lp.text_offset[0]).toBe('Once upon'.length);
  });
});

describe('scripted GLM-4 replies: strict tools, logprobs of the leading newline', () => {
  const WEATHER: ChatCompletionTool = {
    type: 'function',
    function: { name: 'get_weather', strict: true, parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, days: { type: 'integer' } }, required: ['city', 'days'], additionalProperties: false } },
  };
  let engine: GlmEngine;
  let script: number[] = [];
  let enc: (text: string) => number[];
  let stopId: number;

  beforeAll(async () => {
    // A GLM-4-9B-chat-template model whose logits follow a script: one-hot on the script's next id, then the stop id.
    const dir = writeTinyChatModel(resolve(mkdtempSync(resolve(tmpdir(), 'glm-strict-')), 'm'), { chatTemplate: chatTemplateFixture('glm-4-9b-chat'), maxPositions: 2048 });
    engine = new GlmEngine();
    await engine.load(dir, { backend: 'cpu' });
    ({ encode: enc, stopId } = scriptReplies(engine, () => script.shift()));
  });

  const call = async (tool: ChatCompletionTool) => {
    engine.resetChat();
    // The model names the tool, then writes arguments that break its schema.
    script = [...enc('get_weather\n{"town": 5}'), stopId];
    const r = await engine.generate({ messages: [{ role: 'user', content: 'Weather?' }], tools: [tool], max_tokens: 40, temperature: 0 });
    return r.choices[0]!;
  };

  it('strict: the arguments after the name line are decoded under the schema; without it they are parsed as written', async () => {
    const loose = await call({ ...WEATHER, function: { ...WEATHER.function, strict: false } });
    expect(loose.finish_reason).toBe('tool_calls');
    expect(JSON.parse(loose.message.tool_calls![0]!.function.arguments)).toEqual({ town: 5 });
    const strict = await call(WEATHER);
    expect(strict.finish_reason, JSON.stringify(strict)).toBe('tool_calls');
    const args = JSON.parse(strict.message.tool_calls![0]!.function.arguments) as unknown;
    const validate = new Ajv().compile(WEATHER.function.parameters!);
    expect(validate(args), `${JSON.stringify(args)} ${JSON.stringify(validate.errors)}`).toBe(true);
  });

  it('GLM-4\'s leading "\\n" is not in the content, nor in its logprobs (whole or streamed): the tokens spell the content', async () => {
    engine.resetChat();
    script = [...enc('\n'), ...enc('Hi there'), stopId];
    expect(enc('\n')).toHaveLength(1); // "\n" is a token of its own here
    const generatedTokens = script.length - 1; // all but the stop id
    const chunks: ChatCompletionChunk[] = [];
    const r = await engine.generate({ messages: [{ role: 'user', content: 'hello' }], logprobs: true, top_logprobs: 2, max_tokens: 10, temperature: 0 }, (c) => chunks.push(c));
    const choice = r.choices[0]!;
    expect(choice.message.content).toBe('Hi there');
    expect(choice.logprobs!.content.map((t) => t.token).join('')).toBe('Hi there');
    expect(r.usage.completion_tokens).toBe(generatedTokens); // the newline was generated, and counts
    const streamed = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.logprobs?.content ?? []));
    expect(streamed.map((t) => t.token).join('')).toBe('Hi there');
  });

  it('a reply that names no tool stays text, strict or not', async () => {
    engine.resetChat();
    script = [...enc('It is sunny.'), stopId];
    const r = await engine.generate({ messages: [{ role: 'user', content: 'Weather?' }], tools: [WEATHER], max_tokens: 20, temperature: 0 });
    expect(r.choices[0]!.message.content).toBe('It is sunny.');
    expect(r.choices[0]!.finish_reason).toBe('stop');
  });
});
