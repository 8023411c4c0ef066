// Chat prompt formats of each GLM generation, ending with the prompt for the assistant's turn, and the ids
// that end a reply.
//
//   glm4      GLM-4-9B-chat, GLM-4-0414, GLM-Edge (and any tokenizer with a chat_template): the Jinja
//             template rendered with @huggingface/jinja, then tokenized with the specials it spells out.
//   chatglm3  ids built directly as THUDM's ChatGLMTokenizer.build_chat_input does.
//   chatglm2  "[Round 1]\n\n问：...\n\n答：" text behind [gMASK] sop.
//   chatglm1  "[Round 0]\n问：...\n答：" text (ChatGLM-6B), whitespace preprocessed, then [gMASK] <sop>.
import type { Template } from '@huggingface/jinja';
import { ChatTemplateError } from './errors';
import { parseChatTemplate, renderChatTemplate } from './template';
import { chatglm1Preprocess } from './sentencepiece';
import type { GlmTokenizer } from './types';

export type ChatFamily = 'glm4' | 'chatglm3' | 'chatglm2' | 'chatglm1';
export type ChatRole = 'system' | 'user' | 'assistant' | 'observation';

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** ChatGLM3 / GLM-4 message metadata (a tool name on an assistant tool call); empty for plain chat. */
  metadata?: string;
}

export interface RenderedChat {
  /** The prompt text that was tokenized; absent for chatglm3, whose ids are assembled piece by piece. */
  text?: string;
  ids: number[];
}

/** Token spellings to look up, first found wins; vocabularies differ (ChatGLM2/3 spell `sop`, GLM-4 and ChatGLM-6B `<sop>`). */
export interface ChatTokenNames {
  gmask: string[];
  sop: string[];
  system: string[];
  user: string[];
  assistant: string[];
  observation: string[];
}

export interface RenderChatOptions {
  tokenNames?: Partial<ChatTokenNames>;
  /** glm4 only: a template to use instead of the tokenizer's own. */
  chatTemplate?: string;
  /** glm4 only: extra template variables (tools, enable_thinking, ...). */
  templateVariables?: Record<string, unknown>;
}

const DEFAULT_TOKEN_NAMES: ChatTokenNames = {
  gmask: ['[gMASK]'],
  sop: ['sop', '<sop>'],
  system: ['<|system|>'],
  user: ['<|user|>'],
  assistant: ['<|assistant|>'],
  observation: ['<|observation|>'],
};

/** GLM-4's chat layout, for a glm4-family tokenizer that ships no chat_template. */
export const DEFAULT_GLM4_CHAT_TEMPLATE =
  '[gMASK]<sop>{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{% endfor %}' +
  '{% if add_generation_prompt %}<|assistant|>{% endif %}';

const ROLES: readonly ChatRole[] = ['system', 'user', 'assistant', 'observation'];

export function renderChat(
  family: ChatFamily,
  messages: readonly ChatMessage[],
  tokenizer: GlmTokenizer,
  options: RenderChatOptions = {},
): RenderedChat {
  if (messages.length === 0) throw new ChatTemplateError('a chat needs at least one message');
  messages.forEach((m, i) => {
    if (!ROLES.includes(m.role)) throw new ChatTemplateError(`message ${i} has unknown role ${String(m.role)}`);
    if (typeof m.content !== 'string') throw new ChatTemplateError(`message ${i} content must be a string`);
  });
  const names: ChatTokenNames = { ...DEFAULT_TOKEN_NAMES, ...options.tokenNames };
  switch (family) {
    case 'glm4':
      return renderGlm4(messages, tokenizer, options);
    case 'chatglm3':
      return renderChatGlm3(messages, tokenizer, names);
    case 'chatglm2':
      return renderChatGlm2(messages, tokenizer, names);
    case 'chatglm1':
      return renderChatGlm1(messages, tokenizer, names);
    default:
      throw new ChatTemplateError(`unknown chat family ${String(family)}`);
  }
}

/** Looks a special token up by its spellings: specials first, since `sop` may also be an ordinary BPE word piece. */
export function resolveSpecialToken(tokenizer: Pick<GlmTokenizer, 'specialIds' | 'tokenToId'>, spellings: readonly string[]): number | undefined {
  for (const s of spellings) {
    const id = tokenizer.specialIds[s];
    if (id !== undefined) return id;
  }
  for (const s of spellings) {
    const id = tokenizer.tokenToId(s);
    if (id !== undefined) return id;
  }
  return undefined;
}

function requireToken(tokenizer: GlmTokenizer, spellings: readonly string[], family: ChatFamily): number {
  const id = resolveSpecialToken(tokenizer, spellings);
  if (id === undefined) {
    throw new ChatTemplateError(`the ${family} prompt needs the token ${spellings.join(' or ')}, which the vocabulary lacks`);
  }
  return id;
}

const templateCache = new Map<string, Template>();

function parseTemplate(source: string): Template {
  let t = templateCache.get(source);
  if (t === undefined) {
    try {
      t = parseChatTemplate(source);
    } catch (err) {
      if (err instanceof ChatTemplateError) throw err;
      throw new ChatTemplateError(`chat template does not parse: ${(err as Error).message}`, { cause: err });
    }
    // A handful of templates per process at most (one per loaded model); the cap only guards misuse.
    if (templateCache.size > 16) templateCache.clear();
    templateCache.set(source, t);
  }
  return t;
}

function configTokenString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

function renderGlm4(messages: readonly ChatMessage[], tokenizer: GlmTokenizer, options: RenderChatOptions): RenderedChat {
  const source = options.chatTemplate ?? tokenizer.chatTemplate ?? DEFAULT_GLM4_CHAT_TEMPLATE;
  const variables: Record<string, unknown> = {
    messages: messages.map((m) => ({ ...m })),
    add_generation_prompt: true,
  };
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
    const v = configTokenString(tokenizer.config[key]);
    if (v !== undefined) variables[key] = v;
  }
  Object.assign(variables, options.templateVariables);
  let text: string;
  try {
    // Under a step, time, output and number budget (./template.ts): templates are code from the model's files.
    text = renderChatTemplate(parseTemplate(source), variables);
  } catch (err) {
    if (err instanceof ChatTemplateError) throw err;
    throw new ChatTemplateError(`chat template failed to render: ${(err as Error).message}`, { cause: err });
  }
  // The template spells the specials out ([gMASK]<sop><|user|>...), so the post-processor must not add them again.
  const ids = tokenizer.encode(text, { addSpecialTokens: false });
  // A tokenizer that does not split specials out of text (THUDM's SentencePiece ones) would turn
  // "<|user|>" into ordinary pieces: the prompt would look right and the model would see garbage.
  const idSet = new Set(ids);
  for (const [token, id] of Object.entries(tokenizer.specialIds)) {
    if (text.includes(token) && !idSet.has(id)) {
      throw new ChatTemplateError(
        `the ${tokenizer.kind} tokenizer did not map the template's special token ${token} to its id ${id}; ` +
          'use the chatglm3 format for ChatGLM3 models',
      );
    }
  }
  return { text, ids };
}

function renderChatGlm3(messages: readonly ChatMessage[], tokenizer: GlmTokenizer, names: ChatTokenNames): RenderedChat {
  const last = messages[messages.length - 1]!;
  if (last.role === 'assistant') {
    throw new ChatTemplateError('the last message must not be the assistant\'s: the prompt ends where the assistant\'s reply begins');
  }
  const ids = [requireToken(tokenizer, names.gmask, 'chatglm3'), requireToken(tokenizer, names.sop, 'chatglm3')];
  for (const m of messages) {
    // build_single_message: role token, encode(metadata + "\n"), encode(content), each encoded on its own.
    ids.push(requireToken(tokenizer, names[m.role], 'chatglm3'));
    ids.push(...tokenizer.encode(`${m.metadata ?? ''}\n`, { addSpecialTokens: false }));
    ids.push(...tokenizer.encode(m.content, { addSpecialTokens: false }));
  }
  ids.push(requireToken(tokenizer, names.assistant, 'chatglm3'));
  return { ids };
}

interface RoundsPrompt {
  system: string;
  history: Array<[string, string]>;
  query: string;
}

/** ChatGLM-6B/2 only know (question, answer) rounds; a leading system message is kept as a preamble. */
function toRounds(messages: readonly ChatMessage[], family: ChatFamily): RoundsPrompt {
  const systems: string[] = [];
  let i = 0;
  while (i < messages.length && messages[i]!.role === 'system') systems.push(messages[i++]!.content);
  const history: Array<[string, string]> = [];
  let query: string | undefined;
  for (; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role !== 'user') {
      throw new ChatTemplateError(
        `${family} prompts alternate user and assistant messages after the system ones; message ${i} is ${m.role}`,
      );
    }
    const answer = messages[i + 1];
    if (answer === undefined) {
      query = m.content;
      break;
    }
    if (answer.role !== 'assistant') {
      throw new ChatTemplateError(`${family} prompts alternate user and assistant messages; message ${i + 1} is ${answer.role}`);
    }
    history.push([m.content, answer.content]);
    i++;
  }
  if (query === undefined) throw new ChatTemplateError(`a ${family} prompt must end with a user message`);
  return { system: systems.join('\n'), history, query };
}

function renderChatGlm2(messages: readonly ChatMessage[], tokenizer: GlmTokenizer, names: ChatTokenNames): RenderedChat {
  const { system, history, query } = toRounds(messages, 'chatglm2');
  // ChatGLM2's build_prompt: rounds numbered from 1.
  let text = system ? `${system}\n\n` : '';
  history.forEach(([q, a], i) => {
    text += `[Round ${i + 1}]\n\n问：${q}\n\n答：${a}\n\n`;
  });
  text += `[Round ${history.length + 1}]\n\n问：${query}\n\n答：`;
  const ids = [
    requireToken(tokenizer, names.gmask, 'chatglm2'),
    requireToken(tokenizer, names.sop, 'chatglm2'),
    ...tokenizer.encode(text, { addSpecialTokens: false }),
  ];
  return { text, ids };
}

function renderChatGlm1(messages: readonly ChatMessage[], tokenizer: GlmTokenizer, names: ChatTokenNames): RenderedChat {
  const { system, history, query } = toRounds(messages, 'chatglm1');
  // ChatGLM-6B's chat(): a lone question is the prompt itself; with history, rounds numbered from 0.
  let text = system ? `${system}\n` : '';
  if (history.length === 0) {
    text += query;
  } else {
    history.forEach(([q, a], i) => {
      text += `[Round ${i}]\n问：${q}\n答：${a}\n`;
    });
    text += `[Round ${history.length}]\n问：${query}\n答：`;
  }
  // ChatGLM-6B's tokenizer spells newlines, tabs and space runs as pieces; doing it here keeps the format
  // right with any tokenizer (the SentencePiece one preprocesses again, which changes nothing).
  const ids = [
    ...tokenizer.encode(chatglm1Preprocess(text), { addSpecialTokens: false }),
    requireToken(tokenizer, names.gmask, 'chatglm1'),
    requireToken(tokenizer, names.sop, 'chatglm1'),
  ];
  return { text, ids };
}

// ---------------------------------------------------------------------------------------------------------
// Stop ids
// ---------------------------------------------------------------------------------------------------------

export interface StopIdConfig {
  eos_token_id?: number | number[] | null;
}

const STOP_TOKENS: Record<ChatFamily, readonly string[]> = {
  glm4: ['<|endoftext|>', '<|user|>', '<|observation|>'],
  chatglm3: ['</s>', '<|user|>', '<|observation|>'],
  chatglm2: ['</s>'],
  chatglm1: ['<eop>'],
};

/** The released checkpoints' stop ids, used only when neither a tokenizer nor a config says anything. */
const RELEASED_STOP_IDS: Record<ChatFamily, readonly number[]> = {
  glm4: [151329, 151336, 151338],
  chatglm3: [2, 64795, 64797],
  chatglm2: [2],
  chatglm1: [130005],
};

function isTokenizer(x: unknown): x is GlmTokenizer {
  return x !== null && typeof x === 'object' && typeof (x as GlmTokenizer).encode === 'function';
}

/**
 * Ids that end the assistant's reply: the family's end tokens looked up by spelling in the tokenizer,
 * plus the config's eos_token_id(s); the released checkpoints' ids when neither is given. Sorted, unique.
 */
export function stopIds(
  family: ChatFamily,
  source?: GlmTokenizer | StopIdConfig | null,
  config?: StopIdConfig | null,
): number[] {
  const tokenizer = isTokenizer(source) ? source : undefined;
  const cfg = isTokenizer(source) ? config : (source ?? config);
  const ids = new Set<number>();
  if (tokenizer) {
    for (const name of STOP_TOKENS[family]) {
      const id = resolveSpecialToken(tokenizer, [name]);
      if (id !== undefined) ids.add(id);
    }
  }
  const eos = cfg?.eos_token_id;
  for (const id of Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos]) {
    if (Number.isInteger(id) && id >= 0) ids.add(id);
  }
  if (ids.size === 0) for (const id of RELEASED_STOP_IDS[family]) ids.add(id);
  return [...ids].sort((a, b) => a - b);
}
