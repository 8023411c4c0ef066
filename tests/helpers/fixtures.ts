import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const FIXTURES_DIR = resolve(import.meta.dirname, '../fixtures');

/** The reference model fixtures (see tests/fixtures/README.md). */
export const MODEL_FIXTURES = [
  'hf-glm-tiny',
  'hf-glm-tiny-mha',
  'hf-glm4-tiny',
  'thudm-chatglm1-tiny',
  'thudm-chatglm2-tiny',
  'thudm-chatglm3-tiny',
  'thudm-glm4chat-tiny',
] as const;

export interface FixtureExpected {
  prompt_ids: number[];
  prompt_logits: number[][];
  greedy_ids: number[];
  full_ids?: number[];
  full_last_logits?: number[];
  param_names: Record<string, number[]>;
}

export function fixtureDir(name: string): string {
  return resolve(FIXTURES_DIR, name);
}

const cache = new Map<string, FixtureExpected>();
export function fixtureExpected(name: string): FixtureExpected {
  let e = cache.get(name);
  if (!e) {
    e = JSON.parse(readFileSync(resolve(FIXTURES_DIR, name, 'expected.json'), 'utf8')) as FixtureExpected;
    cache.set(name, e);
  }
  return e;
}

/**
 * The reference runs float32 end to end, so a correct float32 engine matches its logits to ~1e-4;
 * 1e-3 is the bound the issues set for every backend.
 */
export const LOGITS_ATOL = 1e-3;

/**
 * A reference chat template: 'glm-4-9b-chat' is the one of the original tokenizer_config.json in
 * tests/fixtures/glm4-9b-chat-original (the only copy of it); 'glm-z1-0414' is tests/fixtures/chat-templates/glm-z1-0414.jinja.
 */
export function chatTemplateFixture(name: 'glm-4-9b-chat' | 'glm-z1-0414'): string {
  if (name === 'glm-4-9b-chat') {
    const config = JSON.parse(readFileSync(resolve(FIXTURES_DIR, 'glm4-9b-chat-original', 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
    return config.chat_template;
  }
  return readFileSync(resolve(FIXTURES_DIR, 'chat-templates', `${name}.jinja`), 'utf8');
}
