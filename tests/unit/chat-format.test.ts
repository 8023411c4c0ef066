import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { isGlmError } from '../../src/errors';
import { renderChat, stopIds, type ChatMessage } from '../../src/tokenizer/chat';
import { chatglm1Preprocess } from '../../src/tokenizer/sentencepiece';
import { loadTokenizer, type GlmTokenizer } from '../../src/tokenizer/tokenizer';

const FIXTURE = fileURLToPath(new URL('../fixtures/tokenizer-glm4-mini/', import.meta.url));
const read = (name: string): string => readFileSync(FIXTURE + name, 'utf8');
const expected = JSON.parse(read('expected.json')) as {
  special_ids: Record<string, number>;
  chats: Array<{ messages: ChatMessage[]; text: string; ids: number[] }>;
};
const S = expected.special_ids;
const GMASK = S['[gMASK]']!;
const SOP = S['<sop>']!;

let tok: GlmTokenizer;
beforeAll(async () => {
  tok = await loadTokenizer({ tokenizerJson: read('tokenizer.json'), tokenizerConfig: read('tokenizer_config.json') });
});

const enc = (text: string): number[] => tok.encode(text, { addSpecialTokens: false });

function expectThrowsNamed(fn: () => unknown, name: string, message?: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isGlmError(err, name), `expected a ${name}, got ${String(err)}`).toBe(true);
  if (message) expect((err as Error).message).toMatch(message);
}

const conversation: ChatMessage[] = [
  { role: 'user', content: '你好' },
  { role: 'assistant', content: 'Hello! How can I help?' },
  { role: 'user', content: 'What is INT4?' },
];

describe('glm4: the Jinja chat template from tokenizer_config.json (reference: transformers.apply_chat_template)', () => {
  it('renders and tokenizes every fixture chat exactly', () => {
    expected.chats.forEach((c, i) => {
      const out = renderChat('glm4', c.messages, tok);
      expect(out.text, `chat ${i}: text`).toBe(c.text);
      expect(out.ids, `chat ${i}: ids`).toEqual(c.ids);
    });
  });

  it('the specials in the template text map to their ids, not to BPE pieces', () => {
    const out = renderChat('glm4', [{ role: 'user', content: 'hi' }], tok);
    expect(out.ids.slice(0, 3)).toEqual([GMASK, SOP, S['<|user|>']]);
    expect(out.ids[out.ids.length - 1]).toBe(S['<|assistant|>']);
  });

  it('renders a GLM-4-0414-style template (macro, namespace, string test, extra variables) the same way', () => {
    const template =
      '[gMASK]<sop>' +
      '{%- macro text_of(c) -%}{%- if c is string -%}{{ c }}{%- else -%}{%- for part in c -%}{{ part.text }}{%- endfor -%}{%- endif -%}{%- endmacro -%}' +
      '{%- set ns = namespace(last_user=-1) -%}' +
      "{%- for m in messages -%}{%- if m.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}{%- endfor -%}" +
      '{%- for m in messages -%}<|{{ m.role }}|>\n{{ text_of(m.content) }}' +
      '{%- if loop.index0 == ns.last_user and enable_thinking is defined and not enable_thinking -%}/nothink{%- endif -%}' +
      '{%- endfor -%}' +
      '{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}';
    const c = expected.chats[1]!;
    const out = renderChat('glm4', c.messages, tok, { chatTemplate: template });
    expect(out.text).toBe(c.text);
    expect(out.ids).toEqual(c.ids);
    const noThink = renderChat('glm4', c.messages, tok, { chatTemplate: template, templateVariables: { enable_thinking: false } });
    expect(noThink.text).toBe(c.text.replace('Thanks!<|assistant|>', 'Thanks!/nothink<|assistant|>'));
  });

  it('a broken or raising template is a ChatTemplateError', () => {
    expectThrowsNamed(() => renderChat('glm4', conversation, tok, { chatTemplate: '{% for m in messages %}' }), 'ChatTemplateError');
    expectThrowsNamed(
      () => renderChat('glm4', conversation, tok, { chatTemplate: "{{ raise_exception('no system role') }}" }),
      'ChatTemplateError',
      /no system role/,
    );
  });
});

describe('chatglm3: ids assembled as build_chat_input', () => {
  it('single turn: [gMASK] <sop> <|user|> encode("\\n") encode(content) <|assistant|>', () => {
    const out = renderChat('chatglm3', [{ role: 'user', content: '你好' }], tok);
    expect(out.text).toBeUndefined();
    expect(out.ids).toEqual([GMASK, SOP, S['<|user|>'], ...enc('\n'), ...enc('你好'), S['<|assistant|>']]);
    // The fixture's own ids for the same prompt: "\n" is id 198, 你好 is six byte-level ids.
    expect(out.ids).toEqual(expected.chats[0]!.ids);
  });

  it('multi-turn with system, observation and metadata: each message is role id + encode(metadata + "\\n") + encode(content)', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', metadata: 'get_weather', content: '{"city": "Paris"}' },
      { role: 'observation', content: '{"temp": 21}' },
    ];
    const out = renderChat('chatglm3', messages, tok);
    expect(out.ids).toEqual([
      GMASK,
      SOP,
      S['<|system|>'],
      ...enc('\n'),
      ...enc('You are a helpful assistant.'),
      S['<|user|>'],
      ...enc('\n'),
      ...enc('Weather in Paris?'),
      S['<|assistant|>'],
      ...enc('get_weather\n'),
      ...enc('{"city": "Paris"}'),
      S['<|observation|>'],
      ...enc('\n'),
      ...enc('{"temp": 21}'),
      S['<|assistant|>'],
    ]);
  });

  it('ending on the assistant is a ChatTemplateError', () => {
    expectThrowsNamed(() => renderChat('chatglm3', conversation.slice(0, 2), tok), 'ChatTemplateError', /last message/);
  });
});

describe('chatglm2: "[Round n]\\n\\n问：...\\n\\n答：" from round 1, behind [gMASK] sop', () => {
  it('single turn', () => {
    const out = renderChat('chatglm2', [{ role: 'user', content: '你好' }], tok);
    expect(out.text).toBe('[Round 1]\n\n问：你好\n\n答：');
    expect(out.ids).toEqual([GMASK, SOP, ...enc('[Round 1]\n\n问：你好\n\n答：')]);
  });

  it('with history', () => {
    const out = renderChat('chatglm2', conversation, tok);
    const text = '[Round 1]\n\n问：你好\n\n答：Hello! How can I help?\n\n[Round 2]\n\n问：What is INT4?\n\n答：';
    expect(out.text).toBe(text);
    expect(out.ids).toEqual([GMASK, SOP, ...enc(text)]);
    expect(tok.decode(out.ids)).toBe(`[gMASK]<sop>${text}`);
  });

  it('a leading system message becomes a preamble; observation or a broken alternation is a ChatTemplateError', () => {
    const out = renderChat('chatglm2', [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], tok);
    expect(out.text).toBe('Be brief.\n\n[Round 1]\n\n问：hi\n\n答：');
    expectThrowsNamed(() => renderChat('chatglm2', [{ role: 'observation', content: 'x' }], tok), 'ChatTemplateError');
    expectThrowsNamed(
      () => renderChat('chatglm2', [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], tok),
      'ChatTemplateError',
      /alternate/,
    );
    expectThrowsNamed(() => renderChat('chatglm2', conversation.slice(0, 2), tok), 'ChatTemplateError', /end with a user/);
  });
});

describe('chatglm1 (ChatGLM-6B): "[Round n]\\n问：...\\n答：" from round 0, whitespace preprocessed, [gMASK] <sop> at the end', () => {
  it('a lone question is the prompt itself', () => {
    const out = renderChat('chatglm1', [{ role: 'user', content: '你好' }], tok);
    expect(out.text).toBe('你好');
    expect(out.ids).toEqual([...enc('你好'), GMASK, SOP]);
  });

  it('with history, newlines become <n> and space runs <|blank_n|> before tokenizing', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'def f():\n    return 1' },
      { role: 'assistant', content: 'A function.\tOK' },
      { role: 'user', content: 'Thanks' },
    ];
    const out = renderChat('chatglm1', messages, tok);
    const text = '[Round 0]\n问：def f():\n    return 1\n答：A function.\tOK\n[Round 1]\n问：Thanks\n答：';
    expect(out.text).toBe(text);
    const pre = '[Round 0]<n>问：def f():<n><|blank_4|>return 1<n>答：A function.<|tab|>OK<n>[Round 1]<n>问：Thanks<n>答：';
    expect(chatglm1Preprocess(text)).toBe(pre);
    expect(out.ids).toEqual([...enc(pre), GMASK, SOP]);
    expect(out.ids.slice(-2)).toEqual([GMASK, SOP]);
  });
});

describe('token names are configurable', () => {
  it('sop resolves to the special <sop>, never to an ordinary BPE piece spelled "sop"', async () => {
    // Give the vocabulary an ordinary token spelled "sop" (renaming the last BPE entry).
    const json = JSON.parse(read('tokenizer.json')) as { model: { vocab: Record<string, number> } };
    const vocab = json.model.vocab;
    const last = Object.keys(vocab).find((k) => vocab[k] === 2999)!;
    delete vocab[last];
    vocab.sop = 2999;
    const withSop = await loadTokenizer({ tokenizerJson: json, tokenizerConfig: read('tokenizer_config.json') });
    expect(withSop.tokenToId('sop')).toBe(2999);
    const out = renderChat('chatglm2', [{ role: 'user', content: 'x' }], withSop);
    expect(out.ids.slice(0, 2)).toEqual([GMASK, SOP]);
  });

  it('custom spellings are used, and a token the vocabulary lacks is a ChatTemplateError', () => {
    const custom = renderChat('chatglm3', [{ role: 'user', content: 'x' }], tok, { tokenNames: { sop: ['<eop>'] } });
    expect(custom.ids[1]).toBe(S['<eop>']);
    expectThrowsNamed(
      () => renderChat('chatglm3', [{ role: 'user', content: 'x' }], tok, { tokenNames: { gmask: ['[NO_SUCH]'] } }),
      'ChatTemplateError',
      /\[NO_SUCH\]/,
    );
  });

  it('an unknown role or an empty chat is a ChatTemplateError', () => {
    expectThrowsNamed(() => renderChat('glm4', [], tok), 'ChatTemplateError');
    expectThrowsNamed(
      () => renderChat('glm4', [{ role: 'tool' as ChatMessage['role'], content: 'x' }], tok),
      'ChatTemplateError',
      /unknown role/,
    );
  });
});

describe('stop ids', () => {
  it('GLM-4: <|endoftext|>, <|user|>, <|observation|> looked up by spelling', () => {
    expect(stopIds('glm4', tok)).toEqual([S['<|endoftext|>'], S['<|user|>'], S['<|observation|>']]);
  });

  it('ChatGLM3: eos plus <|user|> and <|observation|>; the config eos joins the tokenizer ids', () => {
    expect(stopIds('chatglm3', tok, { eos_token_id: 2 })).toEqual([2, S['<|user|>'], S['<|observation|>']]);
  });

  it('config ids alone, and the released checkpoints ids when nothing is known', () => {
    expect(stopIds('chatglm2', { eos_token_id: 2 })).toEqual([2]);
    expect(stopIds('glm4', { eos_token_id: [151329, 151336, 151338] })).toEqual([151329, 151336, 151338]);
    expect(stopIds('glm4')).toEqual([151329, 151336, 151338]);
    expect(stopIds('chatglm3')).toEqual([2, 64795, 64797]);
    expect(stopIds('chatglm2', null)).toEqual([2]);
    expect(stopIds('chatglm1')).toEqual([130005]);
  });
});

describe('chat templates run under a budget (issue #18): hostile templates fail fast with a named error', () => {
  const render = (template: string) => () => renderChat('glm4', [{ role: 'user', content: 'hi' }], tok, { chatTemplate: template });

  it('range(100000000) is refused before the list exists', () => {
    expectThrowsNamed(render('{% for i in range(100000000) %}x{% endfor %}'), 'ChatTemplateLimitError', /the number 100000000/);
    expectThrowsNamed(render('{% for i in range(200000) %}x{% endfor %}'), 'ChatTemplateLimitError', /range\(\) of 200000 numbers/);
    expectThrowsNamed(render('{% for i in range(0, 900000, 3) %}x{% endfor %}'), 'ChatTemplateLimitError', /range\(\) of 300000 numbers/);
  });

  it('nested loops run out of steps, a doubling string runs out of length, huge computed numbers are refused', () => {
    expectThrowsNamed(
      render('{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}'),
      'ChatTemplateLimitError',
      /steps|longer than/,
    );
    expectThrowsNamed(
      render('{% for i in range(3000) %}{% for j in range(3000) %}{% if j == 0 %}{% endif %}{% endfor %}{% endfor %}'),
      'ChatTemplateLimitError',
      /steps|longer than/,
    );
    expectThrowsNamed(
      render("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"),
      'ChatTemplateLimitError',
      /string of more than/,
    );
    expectThrowsNamed(render("{{ 'a' | indent(500000000) }}"), 'ChatTemplateLimitError', /the number 500000000/);
    expectThrowsNamed(render('{{ 100000 * 100000 }}'), 'ChatTemplateLimitError', /the number 10000000000/);
  });

  it('a recursive macro and raise_exception are ChatTemplateErrors; a normal template still renders with range and namespace', () => {
    expectThrowsNamed(render('{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}'), 'ChatTemplateError');
    expectThrowsNamed(render("{{ raise_exception('no tools here') }}"), 'ChatTemplateError', /raised: no tools here/);
    const ok = renderChat('glm4', conversation, tok, {
      chatTemplate:
        '[gMASK]<sop>{% set ns = namespace(n=0) %}{% for i in range(messages|length) %}{% set ns.n = ns.n + 1 %}' +
        '<|{{ messages[i].role }}|>\n{{ messages[i].content }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}{{ "" if ns.n == 3 else "BAD" }}',
    });
    expect(ok.text).toBe(renderChat('glm4', conversation, tok).text);
  });

  it('an over-long template source is refused', () => {
    expectThrowsNamed(render(`${'x'.repeat((1 << 20) + 1)}`), 'ChatTemplateLimitError', /characters long/);
  });
});
