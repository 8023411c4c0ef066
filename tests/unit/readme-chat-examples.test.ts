// The README's "Chat API" examples run as written (issue #19): the code block is read from README.md,
// split at its "// JSON mode" comment, compiled from TypeScript and run against in-thread engines: the tool
// round trip with a GLM-4-9B-chat-template model whose logits follow a script (it calls get_weather, then
// answers), JSON mode with a random-weight model; and the block type-checks (strict) against the public
// types. Editing the README's example edits what this test runs.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it, vi } from 'vitest';
import { createEngine, type Engine } from '../../src/worker/client';
import { GlmEngine } from '../../src/runtime/engine';
import { scriptReplies } from '../helpers/scripted-replies';
import { writeTinyChatModel } from '../helpers/tiny-chat-model';
import { chatTemplateFixture } from '../helpers/fixtures';

const README = resolve(__dirname, '../../README.md');

/** The ts code block of the README's "## Chat API" section, as two snippets: the tool round trip and JSON mode. */
function readmeExamples(): { tools: string; json: string } {
  const text = readFileSync(README, 'utf8');
  const section = text.slice(text.indexOf('\n## Chat API'), text.indexOf('\n## ', text.indexOf('\n## Chat API') + 1));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('no ts code block in the README\'s Chat API section');
  const cut = block.indexOf('// JSON mode');
  if (cut < 0) throw new Error('the README\'s Chat API example has no "// JSON mode" part');
  return { tools: block.slice(0, cut), json: block.slice(cut) };
}

/**
 * Type errors of the whole README block compiled as an app would (strict, against src/index.ts's public
 * types; `engine` and `lookUpWeather` declared as the README assumes them).
 */
function typeErrors(): string[] {
  const { tools, json } = readmeExamples();
  const file = resolve(__dirname, '../../src/__readme_chat_example__.ts');
  const source = `${tools}${json}`.replace(/from 'glm-webgpu'/g, "from './index'")
    + "\ndeclare const engine: import('./index').Engine;\ndeclare function lookUpWeather(city: string): Promise<unknown>;\nexport { cat };\n";
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true, noEmit: true, skipLibCheck: true,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'], types: ['@webgpu/types', 'node', 'vite/client'], resolveJsonModule: true,
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (resolve(name) === file ? source : readFile(name));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => resolve(name) === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

type Log = unknown[][];

/** Runs a snippet as the body of an async function of (engine, lookUpWeather, console); `result` names the variable it returns. */
async function run(snippet: string, result: string, engine: Engine, lookUpWeather: (city: string) => Promise<unknown>): Promise<{ value: unknown; log: Log }> {
  // Type-only imports vanish in the compiled JavaScript; the engine is passed in.
  const js = ts.transpileModule(`${snippet}\nreturn ${result};`, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText
    .replace(/^export \{\};?$/m, '');
  const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;
  const log: Log = [];
  const value = await new AsyncFunction('engine', 'lookUpWeather', 'console', js)(engine, lookUpWeather, { log: (...a: unknown[]) => log.push(a) });
  return { value, log };
}

describe('README Chat API examples run as written', () => {
  const root = mkdtempSync(resolve(tmpdir(), 'glm-readme-api-'));

  it('the tool call round trip: the call parses, the result goes back, the answer is logged', async () => {
    // The engine's model answers from a script: each read of the last logits is one-hot on the script's
    // next id (the call first, then the answer), then the stop id.
    const load = vi.spyOn(GlmEngine.prototype, 'load');
    const engine = await createEngine({ inThread: true });
    await engine.load(writeTinyChatModel(resolve(root, 'tools'), { chatTemplate: chatTemplateFixture('glm-4-9b-chat'), maxPositions: 2048 }), { backend: 'cpu' });
    const glm = load.mock.contexts[0] as GlmEngine;
    load.mockRestore();
    let script: number[] = [];
    const { encode: enc, stopId } = scriptReplies(glm, () => script.shift());
    script = [...enc('get_weather\n{"city": "Paris"}'), stopId, ...enc('18 degrees in Paris.'), stopId];
    const asked: string[] = [];
    const { value, log } = await run(readmeExamples().tools, 'first', engine, async (city) => {
      asked.push(city);
      return { city, celsius: 18 };
    });
    const first = value as { choices: Array<{ finish_reason: string; message: { tool_calls?: Array<{ function: { name: string } }> } }> };
    expect(first.choices[0]!.finish_reason).toBe('tool_calls');
    expect(first.choices[0]!.message.tool_calls![0]!.function.name).toBe('get_weather');
    expect(asked).toEqual(['Paris']);
    // The second request (the tool result fed back) ran, and its answer was logged.
    expect(log).toEqual([['18 degrees in Paris.']]);
    await engine.terminate();
  });

  it('the example type-checks against the public types (strict)', () => {
    expect(typeErrors()).toEqual([]);
  }, 60_000);

  it('JSON mode: the reply parses into an object with the schema\'s required fields', async () => {
    const engine = await createEngine({ inThread: true });
    await engine.load(writeTinyChatModel(resolve(root, 'random'), { seed: 3 }), { backend: 'cpu' });
    const { value } = await run(readmeExamples().json, 'cat', engine, async () => null);
    const cat = value as { name: unknown; legs: unknown; sounds?: unknown[] };
    expect(typeof cat.name).toBe('string');
    expect(Number.isInteger(cat.legs)).toBe(true);
    for (const s of cat.sounds ?? []) expect(['meow', 'purr', 'hiss']).toContain(s);
    await engine.terminate();
  });
});
