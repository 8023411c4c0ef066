// A ChatGLM3 tool-call round trip through the engine: the THUDM chatglm3 tiny fixture with a small
// SentencePiece tokenizer (ChatGLM3's role tokens appended), and a scripted backend: the session's
// logits are replaced by one-hot logits of given token ids, so the "model" answers with ChatGLM3's call
// format, `name\n ```python\ntool_call(...)\n````.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GlmEngine } from '../../src/runtime/engine';
import type { ChatCompletionTool } from '../../src/runtime/api-types';
import type { Ops } from '../../src/model/ops';
import { fixtureDir } from '../helpers/fixtures';
import { chatglm3ToolsModel } from '../helpers/sentencepiece-model';
import type { GlmTokenizer } from '../../src/tokenizer/types';
import { CHATGLM3_TOOL_SYSTEM_PROMPT } from '../../src/runtime/tools';

const TRACK: ChatCompletionTool = {
  type: 'function',
  function: { name: 'track', description: '追踪指定股票的实时价格', parameters: { type: 'object', properties: { symbol: { type: 'string' } }, required: ['symbol'] } },
};

describe('tools: ChatGLM3 round trip through the engine (scripted backend)', () => {
  let engine: GlmEngine;
  let script: number[] = [];
  let capture = false;
  const prompts: number[][] = [];
  let specialIds: Readonly<Record<string, number>> = {};
  let enc: (s: string) => number[] = () => [];

  beforeAll(async () => {
    const dir = resolve(mkdtempSync(resolve(tmpdir(), 'glm-chatglm3-tools-')), 'model');
    cpSync(fixtureDir('thudm-chatglm3-tiny'), dir, { recursive: true });
    writeFileSync(resolve(dir, 'tokenizer.model'), chatglm3ToolsModel());
    // Byte-fallback pieces make the tool prompt long: room for it (RoPE is computed for any length).
    const config = JSON.parse(readFileSync(resolve(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(resolve(dir, 'config.json'), JSON.stringify({ ...config, seq_length: 2048 }));
    engine = new GlmEngine();
    const info = await engine.load(dir, { backend: 'cpu' });
    expect(info.chatFormat).toBe('chatglm3');
    // The scripted backend: each read of the last logits answers the next id of `script`.
    const loaded = (engine as unknown as { loaded: { session: { ops: Ops<unknown, unknown, unknown>; tokens: number[] }; tokenizer: GlmTokenizer } }).loaded;
    specialIds = loaded.tokenizer.specialIds;
    enc = (s) => loaded.tokenizer.encode(s, { addSpecialTokens: false });
    const ops = loaded.session.ops;
    const vocab = engine.info().vocabSize;
    const realRead = ops.read.bind(ops);
    ops.read = async (x: unknown) => {
      const real = await realRead(x);
      if (real.length !== vocab) return real;
      if (capture) prompts.push([...loaded.session.tokens]); // the first read of a request: after its prompt
      capture = false;
      const id = script.shift() ?? 2; // then </s>
      const oneHot = new Float32Array(vocab).fill(-10);
      oneHot[id] = 10;
      return oneHot;
    };
  });

  /** Whether `seq` holds `part` as a contiguous run. */
  const contains = (seq: number[], part: number[]) => seq.some((_, i) => part.every((x, j) => seq[i + j] === x));

  it('renders the tool list into the system turn, parses tool_call(...) into tool_calls, and takes the observation back', async () => {
    script = [...enc('track\n'), ...enc(' ```python\ntool_call(symbol="10111")\n```'), 2];
    const messages = [{ role: 'user' as const, content: 'price of 10111?' }];
    capture = true;
    const r = await engine.generate({ messages, tools: [TRACK], max_tokens: 80 });
    const choice = r.choices[0]!;
    expect(choice.finish_reason, JSON.stringify(r)).toBe('tool_calls');
    const call = choice.message.tool_calls![0]!;
    expect(call.function.name).toBe('track');
    expect(JSON.parse(call.function.arguments)).toEqual({ symbol: '10111' });
    // build_chat_input: the system turn carries the tool list as json.dumps(indent=4) writes it.
    const first = prompts.at(-1)!;
    const tools = JSON.stringify([{ name: 'track', description: TRACK.function.description, parameters: TRACK.function.parameters }], null, 4);
    expect(contains(first, [specialIds['<|system|>']!, ...enc('\n'), ...enc(`${CHATGLM3_TOOL_SYSTEM_PROMPT}\n${tools}`), specialIds['<|user|>']!])).toBe(true);

    script = [...enc('\n'), ...enc('The price is 12412.'), 2];
    capture = true;
    const back = await engine.generate({
      messages: [...messages, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: '{"price": 12412}' }],
      tools: [TRACK],
      max_tokens: 80,
    });
    expect(back.choices[0]!.message.content).toContain('The price is 12412.');
    expect(back.choices[0]!.finish_reason).toBe('stop');
    // The call goes back as ChatGLM3 writes it (metadata line, then the Python block), then the observation.
    const second = prompts.at(-1)!;
    expect(contains(second, [specialIds['<|assistant|>']!, ...enc('track\n'), ...enc(" ```python\ntool_call(symbol='10111')\n```"), specialIds['<|observation|>']!, ...enc('\n'), ...enc('{"price": 12412}'), specialIds['<|assistant|>']!])).toBe(true);
    expect(back.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
  });

  it('a forced call (tool_choice names the tool): the JSON arguments after the name line become tool_calls', async () => {
    // The prompt ends with the name line; the arguments are decoded as JSON under the tool's schema.
    // enc() starts with SentencePiece's "▁" prefix piece, which compact JSON has no room for: dropped.
    script = [...enc('{"symbol":"10111"}').slice(1), 2];
    capture = true;
    const r = await engine.generate({ messages: [{ role: 'user', content: 'price?' }], tools: [TRACK], tool_choice: { type: 'function', function: { name: 'track' } }, max_tokens: 40 });
    expect(r.choices[0]!.finish_reason, JSON.stringify(r)).toBe('tool_calls');
    expect(r.choices[0]!.message.content).toBe('');
    const call = r.choices[0]!.message.tool_calls![0]!;
    expect(call.function.name).toBe('track');
    expect(JSON.parse(call.function.arguments)).toEqual({ symbol: '10111' });
    expect(prompts.at(-1)!.slice(-enc('track\n').length)).toEqual(enc('track\n'));
  });

  it('strict: true is a named error unless tool_choice names the tool (ChatGLM3 writes Python arguments)', async () => {
    const strict = { ...TRACK, function: { ...TRACK.function, strict: true } };
    await expect(engine.generate({ messages: [{ role: 'user', content: 'price?' }], tools: [strict], max_tokens: 8 }))
      .rejects.toMatchObject({ name: 'UnsupportedFieldError', message: expect.stringContaining('tool_choice naming the function') });
    script = [...enc('{"symbol":"1"}').slice(1), 2];
    const r = await engine.generate({ messages: [{ role: 'user', content: 'price?' }], tools: [strict], tool_choice: { type: 'function', function: { name: 'track' } }, max_tokens: 40 });
    expect(JSON.parse(r.choices[0]!.message.tool_calls![0]!.function.arguments)).toEqual({ symbol: '1' });
  });
});
