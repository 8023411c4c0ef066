// The embedded demo model (public/models/glm-demo, see tools/demo-model/README.md): a tiny GLM trained on
// WordNet 3.0, shipped as an INT4 package. Loaded from the committed files on the CPU, asked through the
// chat API, it must give WordNet's definition; and the package must stay small enough to embed.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/worker/client';
import type { ChatCompletion } from '../../src/runtime/api-types';

const ROOT = resolve(import.meta.dirname, '../..');
const PACKAGE = resolve(ROOT, 'public/models/glm-demo');
const MAX_PACKAGE_BYTES = 15_000_000;

interface Gloss {
  word: string;
  definition: string;
}
// A few training words with their WordNet 3.0 definitions (written by tools/demo-model/make_data.py).
const GLOSSES: Gloss[] = JSON.parse(readFileSync(resolve(ROOT, 'tools/demo-model/test-glosses.json'), 'utf8')).words;

// The match rule of tools/demo-model/evaluate.mjs: first sentence (up to the first line break, then up to
// the first '.', '!' or '?' followed by whitespace and a capital), lower case, non-alphanumerics -> space.
function firstSentence(text: string): string {
  const line = text.trim().split('\n')[0]!;
  const m = /[.!?](?=\s+[A-Z])/.exec(line);
  return m ? line.slice(0, m.index + 1) : line;
}
function normalise(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim().split(/\s+/).filter(Boolean).join(' ');
}

describe('demo model (public/models/glm-demo, INT4, CPU)', () => {
  let engine: Engine;

  beforeAll(async () => {
    engine = await createEngine({ inThread: true });
    await engine.load(PACKAGE, { backend: 'cpu' });
  }, 60_000);

  afterAll(async () => {
    await engine?.terminate();
  });

  it('is a package of at most 15 MB', () => {
    const manifest = JSON.parse(readFileSync(resolve(PACKAGE, 'manifest.json'), 'utf8')) as { quant: string };
    expect(manifest.quant).toBe('q4');
    const bytes = readdirSync(PACKAGE).reduce((sum, f) => sum + statSync(resolve(PACKAGE, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(MAX_PACKAGE_BYTES);
  });

  it('knows bicycle', () => {
    expect(GLOSSES.map((g) => g.word)).toContain('bicycle');
  });

  for (const { word, definition } of GLOSSES) {
    it(`answers "What does '${word}' mean?" with WordNet's definition`, async () => {
      await engine.resetChat();
      const reply = (await engine.chat.completions.create({
        messages: [{ role: 'user', content: `What does '${word}' mean?` }],
        temperature: 0,
        max_tokens: 64,
      })) as ChatCompletion;
      const answer = reply.choices[0].message.content;
      expect(reply.choices[0].finish_reason).toBe('stop');
      expect(normalise(firstSentence(answer))).toBe(normalise(firstSentence(definition)));
    }, 60_000);
  }
});
