// The engine's retrieval step ("answer from the following information"): a model package may carry a
// knowledge base, described by `knowledge.json` beside its config:
//
//   { "format": "glm-webgpu-knowledge", "version": 1, "kind": "wordnet",
//     "file": "knowledge-wordnet.bin", "source": "WordNet 3.0", "license": "LICENSE-WordNet.txt" }
//
// The file travels inside the package (hashed and cached like the shards) and is parsed the first time a
// chat request needs it. Before the chat template, each user message gets the entry its question is
// about as an `observation` message right after it; the reply reports what was retrieved (`knowledge`).
import { GlmError } from '../errors';
import type { ModelFiles } from '../formats/byte-source';
import { WordNetRetriever, type KnowledgeHit } from './retrieval';
import { parseWordNetKbBytes } from './wordnet';

export type { KnowledgeHit } from './retrieval';
export const KNOWLEDGE_FILE = 'knowledge.json';
export const KNOWLEDGE_FORMAT = 'glm-webgpu-knowledge';

/** knowledge.json is not a descriptor this build reads. */
export class KnowledgeConfigError extends GlmError {
  override name = 'KnowledgeConfigError';
}

export interface KnowledgeDescriptor {
  format: typeof KNOWLEDGE_FORMAT;
  version: 1;
  kind: 'wordnet';
  /** The knowledge-base file, beside knowledge.json. */
  file: string;
  /** What answers cite, e.g. "WordNet 3.0". */
  source: string;
  license?: string;
}

/** Finds what a question is about; null when the question needs no lookup. */
export interface Retriever {
  retrieve(question: string): KnowledgeHit | null;
}

function parseDescriptor(text: string, where: string): KnowledgeDescriptor {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new KnowledgeConfigError(`${where} is not JSON`);
  }
  const d = raw as Partial<KnowledgeDescriptor>;
  if (!d || d.format !== KNOWLEDGE_FORMAT || d.version !== 1) throw new KnowledgeConfigError(`${where}: expected {"format": "${KNOWLEDGE_FORMAT}", "version": 1, ...}`);
  if (d.kind !== 'wordnet') throw new KnowledgeConfigError(`${where}: knowledge base kind ${JSON.stringify(d.kind)} is not supported (only "wordnet")`);
  if (typeof d.file !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(d.file)) throw new KnowledgeConfigError(`${where}: "file" must be a plain file name beside it`);
  if (typeof d.source !== 'string' || !d.source) throw new KnowledgeConfigError(`${where}: "source" must name the knowledge base`);
  return d as KnowledgeDescriptor;
}

/**
 * The retriever of a model folder's knowledge base, or null when it has none. Reading the descriptor is
 * cheap; the knowledge base itself is read and parsed by the returned function on first use.
 */
export async function knowledgeOf(files: ModelFiles): Promise<{ source: string; retriever: () => Promise<Retriever> } | null> {
  if (!(await files.exists(KNOWLEDGE_FILE))) return null;
  const descriptor = parseDescriptor(await files.readText(KNOWLEDGE_FILE), `${files.location}/${KNOWLEDGE_FILE}`);
  let loading: Promise<Retriever> | null = null;
  const retriever = () =>
    (loading ??= (async () => {
      const src = await files.open(descriptor.file);
      try {
        const kb = await parseWordNetKbBytes(await src.read(0, src.size));
        return new WordNetRetriever(kb, descriptor.source);
      } finally {
        await src.close?.();
      }
    })().catch((e) => {
      loading = null; // a failed read (e.g. offline) may be retried by the next request
      throw e;
    }));
  return { source: descriptor.source, retriever };
}

/** A chat message as requests carry it: content is a string, OpenAI's text parts, or absent. */
interface MessageLike {
  role: string;
  content?: string | null | ReadonlyArray<{ type: string; text?: string }>;
}

function textOf(m: MessageLike): string {
  if (typeof m.content === 'string') return m.content;
  return (m.content ?? []).map((p) => (p.type === 'text' ? (p.text ?? '') : '')).join('');
}

/**
 * The messages with each user message's retrieved entry inserted after it (unless the caller already put
 * an observation there), and the hit of the last user message.
 */
export function withKnowledge<M extends MessageLike>(messages: readonly M[], retriever: Retriever): { messages: Array<M | { role: 'observation'; content: string }>; hit: KnowledgeHit | null } {
  const out: Array<M | { role: 'observation'; content: string }> = [];
  let hit: KnowledgeHit | null = null;
  messages.forEach((m, i) => {
    out.push(m);
    if (m.role !== 'user') return;
    const found = messages[i + 1]?.role === 'observation' ? null : retriever.retrieve(textOf(m));
    if (found) out.push({ role: 'observation', content: found.entry });
    hit = found;
  });
  return { messages: out, hit };
}
