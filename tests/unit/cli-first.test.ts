// Issue #16: the CLI items a new user tripped over, one test each: piped chat answers every line and end
// of input ends it normally; /help and /reset answer without going to the model; bad sampling values exit
// 2; tokenize and logits default to the demo model; generate without --chat says why it printed nothing;
// convert refuses to relabel q4 weights as q8 and names an --out that is a file; sizes and durations in
// help and bench output are in units.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';
import { loadTokenizer } from '../../src/tokenizer/tokenizer';
import { GlmEngine } from '../../src/runtime/engine';
import { CHAT_HELP, chatLoop } from '../../src/cli/chat-commands';
import { formatFlops, formatGBps, formatMs } from '../../src/ui/shared/format';

const DEMO = resolve(import.meta.dirname, '../../public/models/glm-demo');
const SCRIPT = 'hello there';

describe('CLI: a new user\'s first commands (issue #16)', () => {
  let scripted: string;
  let engine: GlmEngine;

  beforeAll(async () => {
    const tok = await loadTokenizer({ tokenizerJson: readFileSync(resolve(TOKENIZER_DIR, 'tokenizer.json'), 'utf8') });
    scripted = writeTinyChatModel(resolve(mkdtempSync(resolve(tmpdir(), 'glm-cli-first-')), 'scripted'), { scriptIds: tok.encode(SCRIPT, { addSpecialTokens: false }) });
    engine = new GlmEngine();
    await engine.load(scripted, { backend: 'cpu' });
  });

  async function chat(input: string): Promise<string> {
    let out = '';
    await chatLoop(engine, { maxNewTokens: 20, temperature: 0 }, Readable.from(input === '' ? [] : [input]), (s) => (out += s));
    return out;
  }

  it('piped chat answers every line, in order, and ends at the end of input', async () => {
    const out = await chat('q1\nq2\n');
    expect(out.split('glm> ').length - 1).toBe(2);
    expect(out.match(new RegExp(SCRIPT, 'g'))?.length).toBe(2);
  });

  it('end of input at once (</dev/null) ends the chat normally', async () => {
    const out = await chat('');
    expect(out).toMatch(/commands: \/help/);
    expect(out).not.toMatch(/glm> /);
  });

  it('/help lists the commands and /reset says what it did; neither goes to the model', async () => {
    const before = engine.counters().tokensEvaluated;
    const out = await chat('/help\n/reset\n/bogus\n');
    expect(out).toContain(CHAT_HELP);
    expect(out).toMatch(/\(new chat: the conversation so far is forgotten\)/);
    expect(out).toMatch(/unknown command \/bogus/);
    expect(out).not.toMatch(/glm> /);
    expect(engine.counters().tokensEvaluated).toBe(before);
  });

  it('--temperature -1 is a bad argument: exit 2 with the reason', async () => {
    const r = await runCli(['generate', '--model', scripted, '--prompt', 'hi', '--chat', '--temperature', '-1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/temperature must be >= 0, got -1/);
  });

  it('tokenize and logits default to the embedded demo model', async () => {
    const t = await runCli(['tokenize', '--text', 'bicycle']);
    expect(t.code, t.stderr).toBe(0);
    expect(JSON.parse(t.stdout).ids.length).toBeGreaterThan(0);
    const l = await runCli(['logits', '--ids', '1,2']);
    expect(l.code, l.stderr).toBe(0);
    const rows = JSON.parse(l.stdout).logits as number[][];
    expect(rows).toHaveLength(2);
    const demoConfig = JSON.parse(readFileSync(resolve(DEMO, 'config.json'), 'utf8')) as { vocab_size: number };
    expect(rows[0]).toHaveLength(demoConfig.vocab_size); // the demo model's vocabulary
  });

  it('generate --prompt without --chat prints the continuation, or says why there is none', async () => {
    const r = await runCli(['generate', '--prompt', 'bicycle', '--max-new-tokens', '8', '--temperature', '0']);
    expect(r.code, r.stderr).toBe(0);
    if (r.stdout.trim() === '') expect(r.stderr).toMatch(/ended the text at once .* add --chat/);
  });

  it('convert --quant q8 of a q4 package is refused (exit 2); --quant none keeps and labels it q4', async () => {
    const out = mkdtempSync(resolve(tmpdir(), 'glm-cli-convert-'));
    const bad = await runCli(['convert', '--model', DEMO, '--out', resolve(out, 'q8'), '--quant', 'q8']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/already quantized as q4 .* cannot become q8/);
    const ok = await runCli(['convert', '--model', DEMO, '--out', resolve(out, 'same'), '--quant', 'none']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(readFileSync(resolve(out, 'same/manifest.json'), 'utf8')).quant).toBe('q4');
  });

  it('convert --out onto an existing file names the problem instead of a raw EEXIST', async () => {
    const file = resolve(mkdtempSync(resolve(tmpdir(), 'glm-cli-file-')), 'not-a-folder');
    writeFileSync(file, 'x');
    const r = await runCli(['convert', '--model', DEMO, '--out', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/PackageExistsError: .* is a file, not a folder/);
    expect(r.stderr).not.toMatch(/EEXIST/);
  });

  it('help shows sizes in units and bench figures read in units', async () => {
    const r = await runCli(['plan', '--help']);
    expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/--cpu-budget <size> .*\(default: 8 GiB\)/);
    expect(r.stdout).not.toMatch(/8589934592/);
    expect(formatMs(565968.9 / 1000)).toBe('566 ms');
    expect(formatGBps(2.7e6)).toBe('0.003 GB/s');
    expect(formatFlops(3.2e9)).toBe('3.20 GFLOP/s');
  });
});
