import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';

const expected = JSON.parse(readFileSync(resolve(TOKENIZER_DIR, 'expected.json'), 'utf8')) as {
  cases: { text: string; ids: number[]; ids_no_special: number[] }[];
};

describe('CLI text commands', () => {
  let scripted: string;
  const SCRIPT = '中文 emoji 👋 ok';

  beforeAll(async () => {
    const tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    scripted = writeTinyChatModel(resolve(mkdtempSync(resolve(tmpdir(), 'glm-cli-')), 'scripted'), { scriptIds: tok.encode(SCRIPT, { addSpecialTokens: false }) });
  });

  it.each(expected.cases.slice(0, 6).map((c, i) => [i, c] as const))('tokenize case %i with and without specials', async (_i, c) => {
    const withSpecial = await runCli(['tokenize', '--model', TOKENIZER_DIR, '--text', c.text]);
    expect(withSpecial.code, withSpecial.stderr).toBe(0);
    expect(JSON.parse(withSpecial.stdout).ids).toEqual(c.ids);
    const noSpecial = await runCli(['tokenize', '--model', TOKENIZER_DIR, '--text', c.text, '--no-special']);
    expect(JSON.parse(noSpecial.stdout).ids).toEqual(c.ids_no_special);
  });

  it('generate --prompt --chat streams the reply as text', async () => {
    const r = await runCli(['generate', '--model', scripted, '--prompt', 'hi', '--chat', '--max-new-tokens', '40']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(SCRIPT);
  });

  it('generate --prompt --chat --json gives ids and text', async () => {
    const r = await runCli(['generate', '--model', scripted, '--prompt', 'hi', '--chat', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.text).toBe(SCRIPT);
    expect(out.finish_reason).toBe('stop');
    expect(out.ids.length).toBe(out.usage.completion_tokens);
  });

  it('generate needs --ids or --prompt, not both (exit 2)', async () => {
    expect((await runCli(['generate', '--model', scripted])).code).toBe(2);
    expect((await runCli(['generate', '--model', scripted, '--ids', '1', '--prompt', 'x'])).code).toBe(2);
  });
});
