// Cross-check of GLM-4's tiktoken tokenizer (src/tokenizer/tiktoken.ts) against Python's `tiktoken` and
// `transformers` (which only the GPU machine has). This half runs here: it writes the tokenizer-glm4-mini
// vocabulary in tiktoken format, a few hundred strings (the fixture cases, Chinese, this repository's own
// source code, seeded random mixes of scripts, whitespace and special-token spellings) and chats, and what
// our tokenizer makes of them; bench/tiktoken_crosscheck.py compares on the GPU machine.
//   npx vite build --mode cli --ssr bench/tiktoken-crosscheck.ts --outDir dist/tiktoken-crosscheck
//   node dist/tiktoken-crosscheck/main.js <repo root> <out dir>
//   python3 bench/tiktoken_crosscheck.py <out dir>          (on the GPU machine)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderChat, type ChatMessage } from '../src/tokenizer/chat';
import { loadTokenizer } from '../src/tokenizer/tokenizer';
import { tiktokenFromTokenizerJson } from '../tests/helpers/tiktoken-fixture';
import { tokenizerCrossCheckStrings } from '../tests/helpers/tokenizer-strings';

const [root, out] = process.argv.slice(2);
if (!root || !out) throw new Error('usage: main.js <repo root> <out dir>');
mkdirSync(out, { recursive: true });

const fixtureDir = join(root, 'tests/fixtures/tokenizer-glm4-mini');
const tokenizerJsonText = readFileSync(join(fixtureDir, 'tokenizer.json'), 'utf8');
const fixture = tiktokenFromTokenizerJson(JSON.parse(tokenizerJsonText), JSON.parse(readFileSync(join(root, 'tests/fixtures/glm4-9b-chat-original/tokenizer_config.json'), 'utf8')));
writeFileSync(join(out, 'tokenizer.model'), fixture.model);
writeFileSync(join(out, 'tokenizer_config.json'), JSON.stringify(fixture.config, null, 2));
writeFileSync(join(out, 'tokenizer.json'), tokenizerJsonText);

const strings = tokenizerCrossCheckStrings(root);

const tok = await loadTokenizer({ sentencepieceModel: fixture.model, tokenizerConfig: fixture.config });
if (tok.kind !== 'tiktoken') throw new Error(`expected the tiktoken tokenizer, got ${tok.kind}`);
const encoded = strings.map((text) => {
  const ids = tok.encode(text, { addSpecialTokens: false });
  return { text, ids, decoded: tok.decode(ids) };
});
writeFileSync(join(out, 'ours.json'), JSON.stringify(encoded));

// ---- chats through the original GLM-4-9B-chat template ----
const tool = (name: string) => ({ type: 'function', function: { name, description: `调用 ${name}`, parameters: { type: 'object', properties: { q: { type: 'string', description: '查询' } }, required: ['q'] } } });
const chats: Array<Array<Record<string, unknown>>> = [
  [{ role: 'user', content: '你好' }],
  [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: 'What is INT4?' }, { role: 'assistant', content: 'A 4-bit format.' }, { role: 'user', content: 'Thanks!' }],
  [{ role: 'system', content: '', tools: [tool('search'), { type: 'python' }] }, { role: 'user', content: '查一下天气' }],
  [{ role: 'system', content: '', tools: [{ type: 'simple_browser' }, { type: 'cogview' }] }, { role: 'user', content: 'draw a cat' }],
  [{ role: 'user', content: '北京天气？' }, { role: 'assistant', metadata: 'search', content: '{"q": "北京天气"}' }, { role: 'observation', content: '{"t": 22}' }],
  [{ role: 'user', content: '' }, { role: 'user', content: 'code:\n```py\nprint(1)\n```' }],
  [{ role: 'user', content: 'literal <|user|> inside' }, { role: 'assistant', content: '  spaced  \n\n' }, { role: 'user', content: '\n' }],
];
const rendered = chats.map((messages) => {
  const r = renderChat('glm4', messages as unknown as ChatMessage[], tok);
  return { messages, text: r.text, ids: r.ids };
});
writeFileSync(join(out, 'chats.json'), JSON.stringify(rendered));
console.log(`wrote ${strings.length} strings and ${chats.length} chats to ${out}`);
