// Function calling in the three GLM tool formats, against the reference templates' own renderings
// (tests/fixtures/chat-templates: rendered with Jinja2 the way HF apply_chat_template does), and the
// parsing of the models' call formats.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import { renderChat, type ChatMessage } from '../../src/tokenizer/chat';
import type { GlmTokenizer } from '../../src/tokenizer/types';
import { CHATGLM3_TOOL_SYSTEM_PROMPT, mayBeToolCall, parseToolCall, planTools, templateReadsToolsVariable } from '../../src/runtime/tools';
import type { ChatCompletionMessageParam, ChatCompletionTool } from '../../src/runtime/api-types';
import { chatTemplateFixture, FIXTURES_DIR } from '../helpers/fixtures';
import { TOKENIZER_DIR } from '../helpers/tiny-chat-model';

interface Case {
  name: string;
  template: 'glm-4-9b-chat' | 'glm-z1-0414';
  messages: Array<{ role: string; content: string; metadata?: string }>;
  expected: string;
}
const ref = JSON.parse(readFileSync(resolve(FIXTURES_DIR, 'chat-templates', 'expected.json'), 'utf8')) as {
  tool: ChatCompletionTool;
  call_arguments: Record<string, unknown>;
  result: string;
  cases: Case[];
  chatglm3: { system_content: string; call_content: string; call_arguments: Record<string, unknown> };
};

async function glm4TokenizerWith(template: Case['template']): Promise<GlmTokenizer> {
  const config = JSON.parse(readFileSync(resolve(TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  config.chat_template = chatTemplateFixture(template);
  return loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8'), tokenizerConfig: JSON.stringify(config) });
}

/** The OpenAI-shaped conversation each reference case stands for. */
function openAiConversation(c: Case): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [];
  for (const m of c.messages) {
    if (m.role === 'system' && m.content === '') continue; // the engine adds the tools' system message itself
    if (m.role === 'assistant' && m.metadata) {
      out.push({ role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: m.metadata, arguments: JSON.stringify(ref.call_arguments) } }] });
    } else if (m.role === 'observation') out.push({ role: 'tool', tool_call_id: 'call_1', content: m.content });
    else out.push({ role: m.role as 'system' | 'user', content: m.content });
  }
  return out;
}

describe('tools: GLM-4-9B-chat and GLM-4-0414 templates render exactly as the reference', () => {
  for (const c of ref.cases) {
    it(c.name, async () => {
      const tokenizer = await glm4TokenizerWith(c.template);
      const plan = planTools('glm4', openAiConversation(c), [ref.tool], 'auto', templateReadsToolsVariable(tokenizer.chatTemplate));
      const rendered = renderChat('glm4', plan.messages, tokenizer, { templateVariables: plan.templateVariables });
      expect(rendered.text).toBe(c.expected);
      // The specials the template spells out are single ids, not text pieces.
      expect(rendered.ids).toContain(tokenizer.specialIds['<|user|>']);
    });
  }

  it('tells the two template styles apart', () => {
    expect(templateReadsToolsVariable(chatTemplateFixture('glm-4-9b-chat'))).toBe(false);
    expect(templateReadsToolsVariable(chatTemplateFixture('glm-z1-0414'))).toBe(true);
  });

  it('tool_choice "none" leaves the tools out of the prompt; a named choice must exist', async () => {
    const tokenizer = await glm4TokenizerWith('glm-4-9b-chat');
    const plan = planTools('glm4', [{ role: 'user', content: 'hi' }], [ref.tool], 'none', false);
    expect(renderChat('glm4', plan.messages, tokenizer).text).not.toContain('get_weather');
    expect(plan.callable).toEqual([]);
    expect(() => planTools('glm4', [{ role: 'user', content: 'hi' }], [ref.tool], { type: 'function', function: { name: 'nope' } }, false)).toThrow(/not in tools/);
    expect(planTools('glm4', [{ role: 'user', content: 'hi' }], [ref.tool], { type: 'function', function: { name: 'get_weather' } }, false).forced?.function.name).toBe('get_weather');
  });

  it('ChatGLM2 and ChatGLM-6B formats have no tools: a named error', () => {
    for (const family of ['chatglm2', 'chatglm1'] as const) {
      expect(() => planTools(family, [{ role: 'user', content: 'hi' }], [ref.tool], 'auto', false)).toThrow(expect.objectContaining({ name: 'UnsupportedFieldError' }));
    }
  });
});

describe('tools: ChatGLM3 format (THUDM build_chat_input)', () => {
  // A character-level stand-in for the SentencePiece tokenizer: the test is about which pieces go where.
  const specials: Record<string, number> = { '[gMASK]': 1000, sop: 1001, '<|system|>': 1002, '<|user|>': 1003, '<|assistant|>': 1004, '<|observation|>': 1005 };
  const tokenizer: GlmTokenizer = {
    kind: 'sentencepiece',
    vocabSize: 70000,
    specialIds: specials,
    config: {},
    encode: (text: string) => [...text].map((ch) => ch.codePointAt(0)! % 999),
    decode: () => '',
    tokenToId: (t: string) => specials[t],
    idToToken: () => undefined,
  };
  const enc = (s: string) => tokenizer.encode(s, { addSpecialTokens: false });

  it('the system message carries the tool list as Python json.dumps(indent=4) writes it; a call and its result round-trip', () => {
    const messages: ChatCompletionMessageParam[] = [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: JSON.stringify(ref.chatglm3.call_arguments) } }] },
      { role: 'tool', tool_call_id: 'c1', content: ref.result },
    ];
    const plan = planTools('chatglm3', messages, [ref.tool], 'auto', false);
    expect(plan.messages[0]).toEqual({ role: 'system', content: ref.chatglm3.system_content });
    expect(ref.chatglm3.system_content.startsWith(CHATGLM3_TOOL_SYSTEM_PROMPT)).toBe(true);
    expect(plan.messages[2]).toEqual({ role: 'assistant', metadata: 'get_weather', content: ref.chatglm3.call_content });
    const ids = renderChat('chatglm3', plan.messages, tokenizer).ids;
    const expected = [
      1000, 1001,
      1002, ...enc('\n'), ...enc(ref.chatglm3.system_content),
      1003, ...enc('\n'), ...enc('Weather in Paris?'),
      1004, ...enc('get_weather\n'), ...enc(ref.chatglm3.call_content),
      1005, ...enc('\n'), ...enc(ref.result),
      1004,
    ];
    expect(ids).toEqual(expected);
  });

  it('parses the model\'s tool_call(...) reply into JSON arguments', () => {
    const reply = `get_weather\n${ref.chatglm3.call_content}`;
    const call = parseToolCall('chatglm3', reply, [ref.tool]);
    expect(call).not.toBeNull();
    expect(call!.name).toBe('get_weather');
    expect(JSON.parse(call!.arguments)).toEqual(ref.chatglm3.call_arguments);
    // Double-quoted strings, None and nested values as ChatGLM3 also writes them.
    const other = parseToolCall('chatglm3', 'get_weather\n ```python\ntool_call(city="Köln", unit=None, n=-2.5, d={"a": [1, 2]})\n```', [ref.tool]);
    expect(JSON.parse(other!.arguments)).toEqual({ city: 'Köln', unit: null, n: -2.5, d: { a: [1, 2] } });
  });
});

describe('tools: parsing GLM-4 replies', () => {
  it('a call is the tool name on the first line and a JSON object after it; anything else is text', () => {
    // The arguments as the model wrote them (OpenAI's are the model's text too): no re-serialising, which
    // would turn a long integer into 3.03e+23.
    expect(parseToolCall('glm4', 'get_weather\n{"city": "Paris"}', [ref.tool])).toEqual({ name: 'get_weather', arguments: '{"city": "Paris"}' });
    expect(parseToolCall('glm4', 'get_weather\n{"city": "Paris", "id": 303385956379320940000000}\n', [ref.tool])!.arguments).toBe('{"city": "Paris", "id": 303385956379320940000000}');
    expect(parseToolCall('glm4', 'get_weather\nnot json', [ref.tool])).toBeNull();
    expect(parseToolCall('glm4', 'unknown_tool\n{"city": "Paris"}', [ref.tool])).toBeNull();
    expect(parseToolCall('glm4', 'The weather is fine.', [ref.tool])).toBeNull();
  });

  it('while streaming, text is held back only while its first line could still name a tool', () => {
    expect(mayBeToolCall('get_w', [ref.tool])).toBe(true);
    expect(mayBeToolCall('get_weather\n{"ci', [ref.tool])).toBe(true);
    expect(mayBeToolCall('The', [ref.tool])).toBe(false);
    expect(mayBeToolCall('get_weather is\n', [ref.tool])).toBe(false);
  });

  it('messages keep GLM\'s own observation role and metadata', () => {
    const plan = planTools('glm4', [{ role: 'user', content: 'q' }, { role: 'assistant', metadata: 'get_weather', content: '{}' }, { role: 'observation', content: 'r' }], [], 'auto', false);
    expect(plan.messages).toEqual<ChatMessage[]>([
      { role: 'user', content: 'q' },
      { role: 'assistant', metadata: 'get_weather', content: '{}' },
      { role: 'observation', content: 'r' },
    ]);
  });
});
