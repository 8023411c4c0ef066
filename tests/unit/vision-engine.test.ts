// The engine's entry for GLM-4V prompts (GlmEngine.generateFromPrompt: {ids, images}) on the CPU with the tiny
// GLM-4V fixture (plus the GLM-4 mini tokenizer, whose vocabulary it shares): the greedy reply equals the
// reference's greedy ids, usage counts the image's rows, a text-only model refuses images by name, and a
// follow-up turn with the image still in the conversation gives the same reply again (no stale image rows reused).
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GlmEngine } from '../../src/runtime/engine';
import { GLM4V_DIR, glm4vExpected, glm4vImage } from '../helpers/glm4v-fixture';
import { TOKENIZER_DIR, writeTinyChatModel } from '../helpers/tiny-chat-model';

describe('engine with a GLM-4V model (CPU)', () => {
  const e = glm4vExpected();
  let dir: string;
  let textDir: string;

  beforeAll(() => {
    const root = mkdtempSync(resolve(tmpdir(), 'glm4v-engine-'));
    dir = resolve(root, 'glm4v');
    textDir = writeTinyChatModel(resolve(root, 'text'));
    mkdirSync(dir);
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(resolve(GLM4V_DIR, f), resolve(dir, f));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(resolve(TOKENIZER_DIR, f), resolve(dir, f));
  });

  const greedy = { temperature: 0, max_tokens: 4 };

  it('the reply to a prompt with an image is the reference\'s greedy continuation; usage counts the image rows', async () => {
    const engine = new GlmEngine();
    await engine.load(dir, { backend: 'cpu' });
    const { completion, ids } = await engine.generateFromPrompt({ ids: e.prompt_ids, images: [glm4vImage()] }, greedy);
    expect(ids).toEqual(e.greedy_ids.slice(0, ids.length));
    expect(ids.length).toBeGreaterThan(0);
    expect(completion.usage.prompt_tokens).toBe(e.prompt_logits.length); // 12 ids - 3 + 6 image rows
    // The same conversation again (the image still in it): the cache holds the image's rows, not its ids,
    // so reuse stops before the image and the reply is the same.
    const again = await engine.generateFromPrompt({ ids: e.prompt_ids, images: [glm4vImage()] }, greedy);
    expect(again.ids).toEqual(ids);
    engine.unload();
  });

  it('images for a text-only model: NoVisionTowerError, and the engine still answers', async () => {
    const engine = new GlmEngine();
    await engine.load(textDir, { backend: 'cpu' });
    const ids = engine.tokenize('hello');
    await expect(engine.generateFromPrompt({ ids, images: [glm4vImage()] }, greedy)).rejects.toMatchObject({ name: 'NoVisionTowerError' });
    const ok = await engine.generateFromPrompt({ ids }, greedy);
    expect(ok.completion.choices[0]!.finish_reason).toBeTruthy();
    engine.unload();
  });

  it('a wrong image size: ImageInputError naming the expected shape, and the next request works', async () => {
    const engine = new GlmEngine();
    await engine.load(dir, { backend: 'cpu' });
    await expect(engine.generateFromPrompt({ ids: e.prompt_ids, images: [new Float32Array(3 * 28 * 28)] }, greedy)).rejects.toMatchObject({
      name: 'ImageInputError',
      message: /3x56x56/,
    });
    const { ids } = await engine.generateFromPrompt({ ids: e.prompt_ids, images: [glm4vImage()] }, greedy);
    expect(ids).toEqual(e.greedy_ids.slice(0, ids.length));
    engine.unload();
  });
});
