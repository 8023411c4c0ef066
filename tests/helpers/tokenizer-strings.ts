// A few hundred strings for tokenizer cross-checks: the tokenizer-glm4-mini fixture's cases, Chinese, code (this
// repository's own TypeScript and WGSL, plus a few other languages), whitespace and apostrophe edge cases of
// GLM-4's split pattern (U+0085, U+FEFF, U+2028, long s), special-token spellings in text, and seeded random
// mixes of all of these.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function tokenizerCrossCheckStrings(root: string): string[] {
  const fixtureDir = join(root, 'tests/fixtures/tokenizer-glm4-mini');
  const strings: string[] = [];
  const expected = JSON.parse(readFileSync(join(fixtureDir, 'expected.json'), 'utf8')) as { cases: Array<{ text: string }> };
  for (const c of expected.cases) strings.push(c.text);
  strings.push(
    '中华人民共和国成立于1949年10月1日。',
    '机器学习是人工智能的一个分支，它使计算机能够从数据中学习。',
    '请用三句话介绍一下量化（quantization）技术。',
    '“你好！”他说，‘今天是个好日子’。',
    '模型权重被压缩为4位整数（INT4），每32个一组共享一个缩放因子。',
    '北京、上海、广州和深圳是中国的一线城市；成都、杭州也很有名。',
    '「日本語」と『中文』を混ぜたテキスト，还有한국어도 있어요.',
    '第一章 总则\n第一条 为了规范……制定本法。\n第二条　本法适用于中华人民共和国境内。',
    '价格：￥128.50元／件，折扣８折，共计１０２．８元。',
    '数学公式：E = mc²，∑_{i=1}^{n} i = n(n+1)/2，√2 ≈ 1.414。',
    "I'm sure it's fine, we've done it, they'll see, you'd know, we're here.",
    "IT'S LOUD, I'M HERE, WE'VE GOT IT, THEY'LL COME, SHE'D SAY, YOU'RE RIGHT",
    "long s: 'ſ 'ſſ x'ſ — and 'S 's 'T 'Ll 'lL 'Re 'rE 'VE 'M 'D",
    'whitespace: a\u0085b c\ufeffd e\u2028f g\u2029h i\u00a0j k\u1680l m\u2009n o\u202fp q\u205fr s\u3000t u\u000bv w\u000cx',
    'trailing spaces   \n   leading and \r\n\r\n crlf \t\t tabs \u3000\u3000',
    'numbers: 0 1 12 123 1234 12345 1234567890123 3.14159265 1,000,000 ٠١٢٣٤٥ ①②③ Ⅻ',
    'specials in text: <|user|>hi<|assistant|>there<|observation|>[gMASK]<sop>x<eop>[MASK][sMASK]<|endoftext|>',
    'near-specials: <|user| <|usr|> [gmask] <sop <|system|x <|begin_of_image|><|image|><|end_of_image|>',
    'emoji: 👋🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇨🇳🇺🇸 ❤️ 1️⃣ 🤖',
    'url https://example.org/path?q=1&x=%20y#frag and email a.b+c@example.com',
    '',
    ' ',
    '\n',
    '\n\n\n',
    '  \n',
    "''''",
    '...!!!???',
    'a',
    '中',
  );
  // Code: chunks of this repository's own TypeScript and WGSL sources.
  const codeFiles: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|wgsl)$/.test(e.name)) codeFiles.push(p);
    }
  };
  walk(join(root, 'src'));
  walk(join(root, 'shaders'));
  for (const file of codeFiles.filter((_, i) => i % Math.max(1, Math.floor(codeFiles.length / 60)) === 0)) {
    const lines = readFileSync(file, 'utf8').split('\n');
    for (let i = 0; i + 12 <= lines.length && i < 60; i += 20) strings.push(lines.slice(i, i + 12).join('\n'));
  }
  strings.push(
    'def fib(n: int) -> int:\n    """Return the n-th Fibonacci number."""\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n',
    '#include <stdio.h>\nint main(void) {\n\tprintf("%d\\n", 42);\n\treturn 0;\n}\n',
    'SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;',
    '<div class="chat">\n  <p>{{ message }}</p>\n</div>',
    'fn main() { let v: Vec<u32> = (0..10).map(|x| x * x).collect(); println!("{:?}", v); }',
  );
  // Seeded random mixes.
  let seed = 0x9e3779b9;
  const rand = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const pieces = [
    'a', 'Z', 'hello', ' world', "'s", "'T", "'ll", "'ſ", '0', '42', '12345', '3.5', ' ', '  ', '\t', '\n', '\r\n', '\n\n',
    '\u00a0', '\u3000', '\u0085', '\ufeff', '\u2028', '\u200b', '中', '文字', '，', '。', '！', '？', '（', '）', '“', '”',
    'é', 'ß', 'Ω', 'я', 'ا', 'ह', 'ก', '한', 'の', '👍', '🎉', '😀', '\u0301', '!', '?', '.', ',', ';', ':', '-', '_', '(', ')',
    '{', '}', '[', ']', '<', '>', '/', '\\', '"', '#', '@', '$', '%', '^', '&', '*', '=', '+', '~', '`', '|',
    '<|user|>', '<|assistant|>', '[gMASK]', '<sop>', '<|endoftext|>', '<|', '|>',
  ];
  for (let n = 0; n < 220; n++) {
    const len = 1 + Math.floor(rand() * 24);
    let s = '';
    for (let i = 0; i < len; i++) s += pieces[Math.floor(rand() * pieces.length)];
    strings.push(s);
  }
  return strings;
}
