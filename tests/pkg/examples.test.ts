// The package as a user gets it: `npm pack` once, then each example in examples/ copied into a fresh
// temporary folder outside the repository, the tarball installed there, built and run. The Node example
// and the installed CLI print the demo model's reply; the browser examples answer in headless Chromium.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot, startStaticServer, watchConsole, type StaticServer } from '../e2e/harness';
import { installExample, packTarball, removeDir, REPO, sh } from './pack';

const QUESTION = "What does 'bicycle' mean?";
/** The demo model's answer to QUESTION is WordNet's gloss (tests/unit/demo-model.test.ts checks it exactly). */
const GLOSS = /wheeled vehicle that has two wheels/;
/**
 * The browser examples run the CPU backend (`?backend=cpu`, the widget's backend="cpu"): SwiftShader's
 * WebGPU in headless Chromium is too slow for a timely answer; the GPU path has its own tiers.
 */
const BROWSER_BACKEND = 'cpu';
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

let tarball: string;
let packDir: string;
const folders: string[] = [];

beforeAll(() => {
  ({ tarball, dir: packDir } = packTarball());
});
afterAll(() => {
  for (const dir of folders) removeDir(dir);
  removeDir(packDir);
});

/** An example folder, fresh for this run; never a path inside the repository. */
function example(name: string, opts: { omitOptional?: boolean } = {}): string {
  const dir = installExample(name, tarball, opts);
  folders.push(dir);
  expect(dir.startsWith(REPO)).toBe(false);
  return dir;
}

describe('pkg: the tarball', () => {
  it('holds every file its exports map, bin and types point to, and nothing of the repository sources', () => {
    const files = new Set(sh('tar', ['-tzf', tarball], { cwd: packDir }).trim().split('\n').map((f) => f.replace(/^package\//, '')));
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
      exports: Record<string, string | Record<string, string>>;
      bin: Record<string, string>;
      types: string;
      main: string;
    };
    const targets = [pkg.types, pkg.main, ...Object.values(pkg.bin)];
    for (const [key, target] of Object.entries(pkg.exports)) {
      if (key.includes('*')) continue;
      targets.push(...(typeof target === 'string' ? [target] : Object.values(target)));
    }
    for (const target of targets) expect(files.has(target.replace(/^\.\//, '')), `${target} is not in the tarball`).toBe(true);
    for (const needed of ['LICENSE', 'README.md', 'CHANGELOG.md', 'public/models/glm-demo/manifest.json', 'dist/lib/browser/assets/engine-worker.js']) {
      expect(files.has(needed), `${needed} is not in the tarball`).toBe(true);
    }
    const strays = [...files].filter((f) => /^(src|tests|tools|bench|scripts|examples)\//.test(f) || /(^|\/)(tsconfig.*|package-lock)\.json$/.test(f) || f.endsWith('.map'));
    expect(strays).toEqual([]);
    // The test pages are not part of the package.
    expect([...files].filter((f) => f.endsWith('.html'))).toEqual([]);
    // Nothing beyond what a user needs (no docs/, test-artifacts/, dist/test-pages, dot-folders, ...).
    const shipped = /^(bin\/[^/]+|dist\/(lib|types|cli)\/.+|dist\/web\/glm-chat[^/]*\.js|public\/models\/glm-demo\/[^/]+|LICENSE|README\.md|CHANGELOG\.md|package\.json)$/;
    expect([...files].filter((f) => !shipped.test(f))).toEqual([]);
  });
});

describe('pkg: Node example and the installed CLI', () => {
  let dir: string;
  beforeAll(() => {
    dir = example('node-generate');
  });

  it('node generate.mjs prints the demo model reply (library from node_modules, demo model inside the package)', () => {
    const out = sh('node', ['generate.mjs', QUESTION], { cwd: dir });
    expect(out).toMatch(GLOSS);
  });

  it('the README\'s "Install and use" snippet runs as written in a Node project', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Install and use\n'));
    const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(snippet, 'no ```ts block in the README section "Install and use"').toMatch(/from 'glm-webgpu'/);
    writeFileSync(join(dir, 'readme-snippet.mjs'), snippet!);
    expect(sh('node', ['readme-snippet.mjs'], { cwd: dir })).toMatch(GLOSS);
  });

  it(`npx glm-webgpu generate --prompt "${QUESTION}" --chat answers, and --version is the package's`, () => {
    expect(sh('npx', ['--no-install', 'glm-webgpu', 'generate', '--prompt', QUESTION, '--chat'], { cwd: dir })).toMatch(GLOSS);
    expect(sh('npx', ['--no-install', 'glm-webgpu', '--version'], { cwd: dir }).trim()).toBe(VERSION);
  });

  it('npx glm-webgpu chat answers each line piped on stdin, then ends at end of input', () => {
    const out = sh('npx', ['--no-install', 'glm-webgpu', 'chat'], { cwd: dir, input: `${QUESTION}\n${QUESTION}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
    expect(out.match(new RegExp(GLOSS.source, 'g')) ?? [], out).toHaveLength(2);
  });

  it('the Node entry exports createEngine and a class for every name in GLM_ERROR_NAMES (but the CLI-only ones)', () => {
    const script = "import('glm-webgpu').then((m) => console.log(JSON.stringify({ keys: Object.keys(m), names: m.GLM_ERROR_NAMES })))";
    const { keys, names } = JSON.parse(sh('node', ['-e', script], { cwd: dir })) as { keys: string[]; names: string[] };
    expect(keys).toContain('createEngine');
    expect(names.length).toBeGreaterThan(10);
    // src/error-catalogue.ts: UsageError and PackageExistsError live with the CLI and are not exported.
    expect(names.filter((n) => !keys.includes(n))).toEqual(['UsageError', 'PackageExistsError']);
  });

  // A strict project of each module resolution an app may use; lib includes DOM (TypeScript's default),
  // which the WebGPU and Worker types of the public API need (README "Install and use").
  it.each([
    { module: 'nodenext', moduleResolution: 'nodenext' },
    { module: 'node16', moduleResolution: 'node16' },
    { module: 'esnext', moduleResolution: 'bundler' },
  ])('a TypeScript file type-checks against the installed .d.ts (createEngine, errors, chat types, worker entry): $moduleResolution', (resolution) => {
    writeFileSync(
      join(dir, 'check.ts'),
      [
        "import { createEngine, WorkerStartError, GLM_ERROR_NAMES, type ChatCompletionChunk, type Engine } from 'glm-webgpu';",
        "import type { ChatCompletionRequest, EngineLoadOptions, GlmErrorName } from 'glm-webgpu';",
        "const request: ChatCompletionRequest = { messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 };",
        "const options: EngineLoadOptions = { backend: 'cpu' };",
        'const first: GlmErrorName | undefined = GLM_ERROR_NAMES[0];',
        'const names: readonly string[] = GLM_ERROR_NAMES;',
        'const chunk = (c: ChatCompletionChunk): string => c.choices[0].delta.content ?? "";',
        'export async function main(): Promise<string> {',
        '  const engine: Engine = await createEngine();',
        "  await engine.load('glm-demo', options);",
        '  const r = await engine.chat.completions.create({ ...request, stream: false });',
        '  return r.choices[0].message.content + chunk + names.length + first + new WorkerStartError("x").name;',
        '}',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'engine.worker.ts'), "import 'glm-webgpu/worker';\n");
    const tsconfig = `tsconfig.${resolution.moduleResolution}.json`;
    writeFileSync(
      join(dir, tsconfig),
      JSON.stringify({ compilerOptions: { strict: true, ...resolution, target: 'es2022', noEmit: true, lib: ['es2023', 'dom'], types: [] }, files: ['check.ts', 'engine.worker.ts'] }),
    );
    sh(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { cwd: dir });
  });
});

describe('pkg: browser examples in headless Chromium', () => {
  let browser: Browser;
  const servers: StaticServer[] = [];
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    for (const s of servers) await s.close();
  });

  async function open(dir: string, path: string): Promise<{ page: Page; logs: string[]; server: StaticServer }> {
    const server = await startStaticServer(dir);
    servers.push(server);
    const page = await browser.newPage();
    const logs = watchConsole(page);
    await page.goto(`${server.url}/${path}`);
    return { page, logs, server };
  }

  it('Vite app: built with the library from node_modules, its worker files bundled, answers a streamed chat (its worker, and the app\'s own from glm-webgpu/worker)', async () => {
    // Optional dependencies stay: Vite's bundler needs its native binding (the same npm option would drop it).
    const dir = example('vite-chat');
    sh('npm', ['run', 'build', '--silent'], { cwd: dir });
    const assets = readdirSync(join(dir, 'dist/assets'));
    expect(assets.some((f) => /engine-worker.*\.js$/.test(f)), assets.join(', ')).toBe(true);
    // The app's own worker file (src/engine.worker.ts: `import 'glm-webgpu/worker'`), bundled beside it.
    expect(assets.some((f) => /engine\.worker.*\.js$/.test(f)), assets.join(', ')).toBe(true);
    for (const { query, worker } of [{ query: '', worker: /\/assets\/engine-worker.*\.js$/ }, { query: '&worker=app', worker: /\/assets\/engine\.worker.*\.js$/ }]) {
      const { page, logs, server } = await open(join(dir, 'dist'), `index.html?backend=${BROWSER_BACKEND}${query}`);
      await page.waitForFunction(() => !document.querySelector<HTMLButtonElement>('#send')!.disabled || /Error/.test(document.querySelector('#status')!.textContent ?? ''), null, { timeout: 120_000 });
      expect(await page.textContent('#status'), logs.join('\n')).toMatch(/^ready/);
      await page.click('#send');
      await page.waitForSelector('.assistant[data-done]', { timeout: 120_000 });
      expect(await page.textContent('.assistant')).toMatch(GLOSS);
      expect(server.requests.filter((r) => worker.test(r)), server.requests.join('\n')).toHaveLength(1);
      await screenshot(page, `pkg-vite-chat${query ? '-app-worker' : ''}`);
      await page.close();
    }
  });

  it('webpack 5 app: the library and its engine worker bundled from node_modules, answers', async () => {
    // Optional dependencies stay out (Dawn); webpack needs none.
    const dir = example('webpack-app', { omitOptional: true });
    sh('npm', ['run', 'build', '--silent'], { cwd: dir });
    const emitted = readdirSync(join(dir, 'dist'));
    expect(emitted, emitted.join(', ')).toContain('glm-webgpu-engine.js'); // the worker, named by its `name` option
    const { page, logs } = await open(join(dir, 'dist'), `index.html?backend=${BROWSER_BACKEND}`);
    await page.waitForSelector('#reply[data-done]', { timeout: 180_000 }).catch(() => {});
    expect(await page.textContent('#reply'), `${await page.textContent('#status')}\n${logs.join('\n')}`).toMatch(GLOSS);
    // Installed without the optional Dawn: the CLI's GPU command says how to get it, by name.
    const adapter = spawnSync('npx', ['--no-install', 'glm-webgpu', 'adapter'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(adapter.status, adapter.stdout).toBe(1);
    expect(adapter.stderr).toMatch(/WebGpuUnavailableError: .*is not installed\. Install it with `npm install webgpu`/);
  });

  it('static folder: the <glm-chat> widget from one script tag in node_modules answers', async () => {
    const dir = example('widget-html', { omitOptional: true });
    const { page, logs } = await open(dir, 'index.html');
    await page.waitForFunction(() => customElements.get('glm-chat') !== undefined);
    await page.evaluate((backend) => {
      const w = window as unknown as { events: { type: string; detail: unknown }[] };
      w.events = [];
      const el = document.querySelector('glm-chat')!;
      el.setAttribute('backend', backend);
      for (const type of ['ready', 'message', 'error']) el.addEventListener(type, (e) => w.events.push({ type, detail: (e as CustomEvent).detail }));
    }, BROWSER_BACKEND);
    const widget = page.locator('glm-chat');
    await widget.locator('.launcher').click();
    await widget.locator('textarea').fill(QUESTION);
    await widget.locator('textarea').press('Enter');
    await page.waitForFunction(() => (window as unknown as { events: { type: string }[] }).events.some((e) => e.type === 'message' || e.type === 'error'), null, { timeout: 180_000 });
    const events = await page.evaluate(() => (window as unknown as { events: { type: string; detail: { content?: string } }[] }).events);
    const message = events.find((e) => e.type === 'message');
    expect(message, `${JSON.stringify(events)}\n${logs.join('\n')}`).toBeDefined();
    expect(message!.detail.content).toMatch(GLOSS);
    await screenshot(page, 'pkg-widget');

    // The library as plain ES modules from the same static folder: its engine worker loads from beside it.
    const esm = await open(dir, `esm.html?backend=${BROWSER_BACKEND}`);
    await esm.page.waitForSelector('#reply[data-done]', { timeout: 180_000 }).catch(() => {});
    expect(await esm.page.textContent('#reply'), esm.logs.join('\n')).toMatch(GLOSS);
    expect(esm.server.requests).toContain('/node_modules/glm-webgpu/dist/lib/browser/assets/engine-worker.js');

    // An app-made worker from the exported worker entry; a worker that cannot start rejects load with a name.
    // (A string, so that vitest leaves the page's dynamic import alone.)
    const outcome = (await esm.page.evaluate(`(async () => {
      const { createEngine } = await import('./node_modules/glm-webgpu/dist/lib/browser/glm-webgpu.js');
      const own = await createEngine({ worker: new Worker('./own-worker.js', { type: 'module' }) });
      const info = await own.load('./node_modules/glm-webgpu/public/models/glm-demo/', { backend: '${BROWSER_BACKEND}' });
      await own.terminate();
      const broken = await createEngine({ worker: new Worker('./no-such-worker.js', { type: 'module' }) });
      const failure = await broken.load('glm-demo').then(() => 'loaded', (err) => err.name + ': ' + err.message);
      return { family: info.family, failure };
    })()`)) as { family: string; failure: string };
    expect(outcome.family).toBe('glm');
    expect(outcome.failure).toMatch(/^WorkerStartError: the engine worker failed to start/);
  });
});
