// Hugging Face Hub sources (issue #14) under Node: reference parsing, and the CLI's `--model org/repo`
// and `--model <.gguf URL>` against a local Hub stand-in (tests/helpers/hub-server.ts): converted into
// the cache folder once (same ids as the CLI on the same files), then loaded with no request at all,
// and an interrupted conversion resumed without reading the finished tensors again.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetworkError } from '../../src/formats/http-files';
import { CHECKPOINT_FILE, type ConversionProgress } from '../../src/loader/convert-cache';
import { convertHubModel, hubCacheId, isHubRepoId, parseHubSource } from '../../src/loader/hub';
import { nodeConversionTarget } from '../../src/loader/node-convert-cache';
import { ModelNeedsConversionError } from '../../src/errors';
import { GlmEngine } from '../../src/runtime/engine';
import { catalogueModel, catalogueSizes, MODEL_CATALOGUE } from '../../src/runtime/catalogue';
import { runCli } from '../helpers/cli';
import { buildTinyHubModel, HUB_GGUF_FILE, HUB_GGUF_REPO, HUB_REPO, type TinyHubModel } from '../helpers/hub-fixture';
import { startHubServer, type HubServer } from '../helpers/hub-server';

describe('Hub references', () => {
  it('repo ids, Hub URLs and .gguf URLs resolve to the files the Hub serves; anything else is not a Hub source', () => {
    const hf = 'https://huggingface.co';
    expect(parseHubSource('THUDM/glm-edge-1.5b-chat')).toEqual({ kind: 'folder', baseUrl: `${hf}/THUDM/glm-edge-1.5b-chat/resolve/main/`, repo: 'THUDM/glm-edge-1.5b-chat', revision: 'main', label: 'THUDM/glm-edge-1.5b-chat' });
    expect(parseHubSource('THUDM/glm-4-9b-chat-hf@refs/pr/3')?.baseUrl).toBe(`${hf}/THUDM/glm-4-9b-chat-hf/resolve/refs%2Fpr%2F3/`);
    expect(parseHubSource('hf:THUDM/chatglm3-6b', 'http://127.0.0.1:9/')?.baseUrl).toBe('http://127.0.0.1:9/THUDM/chatglm3-6b/resolve/main/');
    expect(parseHubSource(`${hf}/THUDM/GLM-4-9B-0414`)?.baseUrl).toBe(`${hf}/THUDM/GLM-4-9B-0414/resolve/main/`);
    expect(parseHubSource(`${hf}/THUDM/GLM-4-9B-0414/tree/v1`)?.baseUrl).toBe(`${hf}/THUDM/GLM-4-9B-0414/resolve/v1/`);
    expect(parseHubSource(`${hf}/THUDM/glm-edge-1.5b-chat/resolve/main/`)?.kind).toBe('folder');
    const gguf = parseHubSource(`${hf}/THUDM/glm-edge-1.5b-chat-gguf/blob/main/ggml-model-Q4_0.gguf`)!;
    expect(gguf).toMatchObject({ kind: 'gguf', baseUrl: `${hf}/THUDM/glm-edge-1.5b-chat-gguf/resolve/main/`, file: 'ggml-model-Q4_0.gguf', repo: 'THUDM/glm-edge-1.5b-chat-gguf' });
    expect(parseHubSource('https://example.org/models/glm.gguf')).toMatchObject({ kind: 'gguf', baseUrl: 'https://example.org/models/', file: 'glm.gguf', repo: null });
    // A Hub-layout folder on another host counts when it names a revision (a mirror, a test server).
    expect(parseHubSource('http://127.0.0.1:5000/org/repo/resolve/main/')?.baseUrl).toBe('http://127.0.0.1:5000/org/repo/resolve/main/');
    for (const other of ['models/glm-demo/', './org/repo', 'glm-demo', 'https://example.org/pkg/', 'https://example.org/org/repo', '/abs/path', 'a/b/c', 'model.gguf'])
      expect(parseHubSource(other), other).toBeNull();
    expect(isHubRepoId('THUDM/chatglm3-6b')).toBe(true);
    expect(isHubRepoId('test-models/random/')).toBe(false);
    // Cache ids name repo, revision, file and quant; a non-Hub host is part of the id.
    expect(hubCacheId(parseHubSource('THUDM/glm-edge-1.5b-chat')!, 'q4')).toBe('hf--THUDM--glm-edge-1.5b-chat--main--q4');
    expect(hubCacheId(gguf, 'q4')).toBe('hf--THUDM--glm-edge-1.5b-chat-gguf--main--ggml-model-Q4_0.gguf--q4');
    expect(hubCacheId(parseHubSource('org/repo', 'http://127.0.0.1:5000')!, 'q8')).toBe('hf--127.0.0.1_5000--org--repo--main--q8');
  });
});

describe('CLI --model org/repo and .gguf URLs from a Hub', () => {
  let model: TinyHubModel;
  let hub: HubServer;
  let cache: string;
  const saved = process.env.HF_ENDPOINT;
  const prompt = 'Hello, who are you?';
  const N = '10';
  const generate = (m: string, extra: string[] = []) => runCli(['generate', '--model', m, '--chat', '--prompt', prompt, '--temperature', '0', '--max-new-tokens', N, '--json', '--cache-dir', cache, ...extra]);
  const fileRequests = (from: number, file: string) => hub.weightRequests(from).filter((r) => r.file === file);

  beforeAll(async () => {
    model = await buildTinyHubModel();
    hub = await startHubServer({ [HUB_REPO]: model.files, [HUB_GGUF_REPO]: model.ggufFiles });
    process.env.HF_ENDPOINT = hub.url;
    cache = mkdtempSync(join(tmpdir(), 'glm-hub-cache-'));
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = saved;
    await hub?.close();
    if (cache) rmSync(cache, { recursive: true, force: true });
  });

  it('converts the sharded BF16 repo into the cache once (same answer as the CLI on the same files), then reads only the cache', async () => {
    const reference = await generate(model.dir, ['--quant', 'q4']);
    expect(reference.code, reference.stderr).toBe(0);
    const expected = JSON.parse(reference.stdout);
    expect(expected.ids.length).toBeGreaterThan(0);

    const first = await generate(HUB_REPO);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).ids).toEqual(expected.ids);
    expect(JSON.parse(first.stdout).text).toBe(expected.text);
    expect(first.stderr).toContain(`${HUB_REPO}: converted into`);
    // Both shards were read through the redirect to the CDN, in range requests.
    const shardReads = hub.weightRequests();
    expect(new Set(shardReads.map((r) => r.file))).toEqual(new Set(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']));
    expect(shardReads.every((r) => r.status === 206)).toBe(true);
    expect(readdirSync(join(cache, `hf--127.0.0.1_${new URL(hub.url).port}--tiny-org--glm-tiny-chat--main--q4`))).toContain('manifest.json');

    const before = hub.requests.length;
    const second = await generate(HUB_REPO);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).ids).toEqual(expected.ids);
    expect(second.stderr).toContain('from the cache');
    expect(hub.requests.length - before).toBe(0);
  });

  it('an interrupted conversion resumes without reading the finished tensors again', async () => {
    const source = parseHubSource(HUB_REPO, hub.url)!;
    const id = hubCacheId(source, 'q8');
    const target = await nodeConversionTarget(id, cache);
    const shardSize = 16 * 1024;
    // The lm_head (the last and largest tensor of shard 2) fails: everything before it is converted.
    const isLmHead = (r: { file: string; range: [number, number] | null }) => r.file === 'model-00002-of-00002.safetensors' && r.range !== null && r.range[1] - r.range[0] > 300_000;
    hub.fail(isLmHead);
    const start = hub.requests.length;
    await expect(convertHubModel(source, target, { quant: 'q8', shardSize, retries: 2, backoffMs: 5 })).rejects.toThrow(NetworkError);
    // The failing range read was tried three times (two retries) before the conversion gave up.
    expect(hub.requests.slice(start).filter((r) => r.server === 'cdn' && r.status === 500 && isLmHead(r))).toHaveLength(3);
    const dir = join(cache, id);
    expect(readdirSync(dir)).toContain(CHECKPOINT_FILE);
    expect(readdirSync(dir)).not.toContain('manifest.json');
    const checkpoint = (await target.readCheckpoint())!;
    expect(checkpoint.shards.length).toBeGreaterThan(2);
    expect(Object.keys(checkpoint.tensors)).toContain('embedding');
    expect(Object.keys(checkpoint.tensors)).not.toContain('lmHead');
    expect(fileRequests(start, 'model-00001-of-00002.safetensors').some((r) => r.range![0] >= model.firstShardDataStart)).toBe(true);

    hub.clearFailures();
    const mid = hub.requests.length;
    const events: ConversionProgress[] = [];
    const resumed = await convertHubModel(source, target, { quant: 'q8', shardSize, onProgress: (p) => events.push(p) });
    expect(resumed).toMatchObject({ converted: true, resumed: true });
    expect(events.at(-1)).toMatchObject({ resumed: true, tensorsDone: events.at(-1)!.tensorsTotal });
    expect(events.at(-1)!.bytesRead).toBeGreaterThan(0);
    expect(events.at(-1)!.bytesTotal).toBeGreaterThan(0);
    // The embedding (all of shard 1's data) was finished: only its header is read again.
    expect(fileRequests(mid, 'model-00001-of-00002.safetensors').filter((r) => r.range![0] >= model.firstShardDataStart)).toEqual([]);
    const resumedBytes = hub.weightRequests(mid).reduce((s, r) => s + r.bytes, 0);
    const totalBytes = Object.entries(model.files).filter(([f]) => f.endsWith('.safetensors')).reduce((s, [, b]) => s + (b as Uint8Array).byteLength, 0);
    expect(resumedBytes).toBeLessThan(totalBytes / 2);
    expect(readdirSync(dir)).not.toContain(CHECKPOINT_FILE);

    // The resumed package answers like the CLI's own q8 conversion of the same files.
    const reference = await generate(model.dir, ['--quant', 'q8']);
    const fromCache = await generate(dir);
    expect(fromCache.code, fromCache.stderr).toBe(0);
    expect(JSON.parse(fromCache.stdout).ids).toEqual(JSON.parse(reference.stdout).ids);
    // And a third call finds it finished.
    const before = hub.requests.length;
    expect(await convertHubModel(source, target, { quant: 'q8', shardSize })).toMatchObject({ converted: false });
    expect(hub.requests.length).toBe(before);
  });

  it('a range read that fails once is retried: the conversion goes on', async () => {
    const source = parseHubSource(HUB_REPO, hub.url)!;
    const target = await nodeConversionTarget(hubCacheId(source, 'none'), cache);
    hub.fail((r) => r.file === 'model-00001-of-00002.safetensors' && r.range !== null && r.range[0] >= model.firstShardDataStart, 1, 503);
    const start = hub.requests.length;
    const result = await convertHubModel(source, target, { quant: 'none', backoffMs: 5 });
    expect(result).toMatchObject({ converted: true, resumed: false });
    expect(hub.requests.slice(start).filter((r) => r.status === 503)).toHaveLength(1);
    expect(result.manifest!.tensors.embedding!.dtype).toBe('f32');
  });

  it('a .gguf URL is converted into the cache the same way: same ids as the local file, then no request', async () => {
    const url = `${hub.url}/${HUB_GGUF_REPO}/resolve/main/${HUB_GGUF_FILE}`;
    const local = await generate(model.ggufPath);
    expect(local.code, local.stderr).toBe(0);
    const first = await generate(url);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).ids).toEqual(JSON.parse(local.stdout).ids);
    expect(hub.weightRequests().some((r) => r.file === HUB_GGUF_FILE)).toBe(true);
    const before = hub.requests.length;
    const again = await generate(url);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).ids).toEqual(JSON.parse(local.stdout).ids);
    expect(hub.requests.length - before).toBe(0);
  });

  it('a repo that does not exist fails with a named error', async () => {
    const r = await generate('tiny-org/no-such-repo');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/MissingFileError/);
  });
});

describe('the model catalogue', () => {
  it('names every GLM model of issue #14 with its repo, files, license and sizes from its shapes', () => {
    expect(MODEL_CATALOGUE.map((m) => m.repo)).toEqual([
      'THUDM/glm-edge-1.5b-chat',
      'THUDM/glm-edge-4b-chat',
      'THUDM/chatglm3-6b',
      'THUDM/chatglm-6b-int4',
      'THUDM/glm-4-9b-chat',
      'THUDM/glm-4-9b-chat-hf',
      'THUDM/GLM-4-9B-0414',
    ]);
    for (const m of MODEL_CATALOGUE) {
      expect(m.files, m.name).toContain('config.json');
      expect(m.license.length, m.name).toBeGreaterThan(2);
      const sizes = catalogueSizes(m);
      if (!m.config) {
        expect(sizes.downloadBytes).toBeNull();
        continue;
      }
      // The BF16 download is about 2 bytes a parameter (the stated count), the q4 package about a quarter of it.
      const params = m.paramsB * 1e9;
      if (m.name !== 'chatglm-6b-int4') expect(Math.abs(sizes.downloadBytes! / (2 * params) - 1), m.name).toBeLessThan(0.06);
      expect(sizes.packageBytes! / params, m.name).toBeGreaterThan(0.5);
      expect(sizes.packageBytes! / params, m.name).toBeLessThan(0.75);
    }
    expect(catalogueModel('glm-edge-1.5b-chat')?.repo).toBe('THUDM/glm-edge-1.5b-chat');
    expect(catalogueModel('thudm/glm-4-9b-0414')?.name).toBe('glm-4-9b-0414');
    expect(catalogueModel('nope')).toBeUndefined();
  });

  it('engine.load(catalogue name) loads its Hub repo; a model the browser cannot read says how to convert it', async () => {
    const model = await buildTinyHubModel();
    const hub = await startHubServer({ 'THUDM/glm-4-9b-chat-hf': model.files });
    const cacheDir = mkdtempSync(join(tmpdir(), 'glm-hub-engine-'));
    const saved = process.env.GLM_WEBGPU_CACHE_DIR;
    process.env.GLM_WEBGPU_CACHE_DIR = cacheDir;
    const engine = new GlmEngine();
    try {
      const info = await engine.load('glm-4-9b-chat-hf', { backend: 'cpu', hfEndpoint: hub.url });
      expect(info.vocabSize).toBeGreaterThan(3000);
      expect(hub.weightRequests().length).toBeGreaterThan(0);
      expect(readdirSync(cacheDir)[0]).toMatch(/--THUDM--glm-4-9b-chat-hf--main--q4$/);
      const reply = await engine.generate({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
      expect(reply.usage.completion_tokens).toBeGreaterThan(0);
      await expect(engine.load('chatglm-6b-int4', { backend: 'cpu' })).rejects.toThrow(ModelNeedsConversionError);
      await expect(engine.load('chatglm-6b-int4', { backend: 'cpu' })).rejects.toThrow(/pytorch_model\.bin.*safetensors/);
    } finally {
      engine.unload();
      if (saved === undefined) delete process.env.GLM_WEBGPU_CACHE_DIR;
      else process.env.GLM_WEBGPU_CACHE_DIR = saved;
      await hub.close();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});
