// Text-level CLI commands on the engine:
//   tokenize --model DIR --text "..." [--no-special]          -> {"ids": [...]}
//   generate --model DIR --prompt "..." [--chat] [--json]    (text in, streamed text out)
//   chat     --model DIR                                      (interactive terminal chat)
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { GlmEngine, loadModelTokenizer } from '../runtime/engine';
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionRequest } from '../runtime/api-types';
import { userMessage } from '../vision/message';
import { imageFileDataUrl } from './image-file';
import { UsageError } from './args';
import { openModelSource } from './model-source';
import { defaultModelPath } from './default-model';
import { parseBytesOption, parseChoice, parseNonNegativeInt, parseNumber } from './args';

export interface EngineCliOptions {
  model: string;
  backend: 'cpu' | 'gpu' | 'auto';
  quant: 'none' | 'q4' | 'q8';
  gpuBudget?: number;
  cacheDir?: string;
  trustShards?: boolean;
}

export async function cliEngine(opts: EngineCliOptions): Promise<GlmEngine> {
  const engine = new GlmEngine((source) =>
    openModelSource(source, { cacheDir: opts.cacheDir, trustShards: opts.trustShards, ...(opts.quant !== 'none' ? { hubQuant: opts.quant } : {}) }));
  await engine.load(opts.model, { backend: opts.backend, quant: opts.quant, ...(opts.gpuBudget !== undefined ? { gpuBudget: opts.gpuBudget } : {}) });
  return engine;
}

export interface SamplingCliOptions {
  maxNewTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
}

export function samplingRequest(o: SamplingCliOptions): Omit<ChatCompletionRequest, 'messages'> {
  return {
    max_tokens: Math.max(1, o.maxNewTokens),
    temperature: o.temperature,
    ...(o.topK !== undefined ? { top_k: o.topK } : {}),
    ...(o.topP !== undefined ? { top_p: o.topP } : {}),
    ...(o.repetitionPenalty !== undefined ? { repetition_penalty: o.repetitionPenalty } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  };
}

export function addSamplingOptions(cmd: Command): Command {
  return cmd
    .option('--top-k <k>', 'keep the k most likely tokens (0 = off)', parseNonNegativeInt)
    .option('--top-p <p>', 'nucleus sampling threshold', parseNumber)
    .option('--repetition-penalty <r>', 'HF-style repetition penalty (1 = off)', parseNumber)
    .option('--seed <n>', 'sampler seed (same seed, same output)', parseNonNegativeInt);
}

const streamTo = (write: (s: string) => void) => (c: ChatCompletionChunk) => {
  const text = c.choices[0].delta.content;
  if (text) write(text);
};

/** `generate --prompt`: raw continuation, or with --chat the model's chat format around the prompt. */
export async function generateFromPrompt(
  opts: EngineCliOptions & SamplingCliOptions & { prompt: string; chat?: boolean; system?: string; json?: boolean; image?: string },
): Promise<void> {
  if (opts.image !== undefined && !opts.chat) throw new UsageError('--image needs --chat (an image goes in a chat message)');
  // Read before loading the model: a missing file is reported at once.
  const image = opts.image !== undefined ? imageFileDataUrl(opts.image) : undefined;
  const engine = await cliEngine(opts);
  try {
    const request = samplingRequest(opts);
    const onChunk = opts.json ? undefined : streamTo((s) => process.stdout.write(s));
    const messages: ChatCompletionMessageParam[] = [...(opts.system ? [{ role: 'system' as const, content: opts.system }] : []), userMessage(opts.prompt, image ? [image] : [])];
    const { completion, ids } = opts.chat
      ? await engine.generateWithIds({ ...request, messages }, onChunk)
      : await engine.complete(opts.prompt, request, onChunk);
    if (!opts.chat && ids.length === 0 && !opts.json) {
      // A chat model often ends a bare text at once (its end-of-sequence id comes first): say so instead of printing nothing.
      process.stderr.write(`glm-webgpu: the model ended the text at once (finish_reason "${completion.choices[0].finish_reason}"). It is a chat model: add --chat to ask it a question.\n`);
    }
    if (opts.json) {
      const s = engine.stats();
      process.stdout.write(
        `${JSON.stringify({ ids, text: completion.choices[0].message.content, finish_reason: completion.choices[0].finish_reason, usage: completion.usage, stats: { backend: s.backend, prefillTokPerSec: s.prefillTokPerSec, decodeTokPerSec: s.decodeTokPerSec } })}\n`,
      );
    } else process.stdout.write('\n');
  } finally {
    engine.unload();
  }
}

export function registerChatCommands(program: Command): void {
  program
    .command('tokenize')
    .description('print the token ids of a text as JSON {"ids": [...]}')
    .option('--model <path>', 'model folder with tokenizer files (default: the embedded demo model)', defaultModelPath())
    .requiredOption('--text <text>', 'text to tokenize')
    .option('--no-special', 'do not add the special tokens (e.g. [gMASK]<sop>)')
    .action(async (opts: { model: string; text: string; special: boolean }) => {
      const tokenizer = await loadModelTokenizer(await openModelSource(opts.model));
      process.stdout.write(`${JSON.stringify({ ids: tokenizer.encode(opts.text, { addSpecialTokens: opts.special }) })}\n`);
    });

  addSamplingOptions(
    program
      .command('chat')
      .description('interactive chat in the terminal (empty line or /exit to quit, /reset for a new chat)')
      .option('--model <path|url>', 'model folder, package, .gguf file or package URL (default: the embedded demo model)', defaultModelPath())
      .option('--backend <cpu|gpu|auto>', 'where to run (auto: the planner places layers on the GPU and the CPU)', parseChoice(['cpu', 'gpu', 'auto'] as const), 'cpu')
      .option('--gpu-budget <bytes>', 'GPU memory the model may use, e.g. 4GiB (plans a GPU/CPU split)', parseBytesOption)
      .option('--quant <none|q4|q8>', 'quantize the matrices first', parseChoice(['none', 'q4', 'q8'] as const), 'none')
      .option('--system <text>', 'system prompt')
      .option('--max-new-tokens <n>', 'most tokens per reply', parseNonNegativeInt, 256)
      .option('--temperature <t>', '0 = greedy', parseNumber, 0.7)
      .option('--cache-dir <dir>', 'download cache for package URLs')
      .option('--trust-shards', 'load a local package folder without checking its shards against the manifest SHA-256 (only for folders you trust)')
      .option('--image <file>', 'a PNG or JPEG sent with the first message (GLM-4V models)'),
  ).action(async (opts: EngineCliOptions & SamplingCliOptions & { system?: string; image?: string }) => {
    const image = opts.image !== undefined ? imageFileDataUrl(opts.image) : undefined;
    const engine = await cliEngine(opts);
    try {
      await chatLoop(engine, { ...opts, ...(image ? { image } : {}) }, process.stdin, (s) => process.stdout.write(s));
    } finally {
      engine.unload();
    }
  });
}

export const CHAT_HELP = `commands: /help this list, /reset start a new chat, /exit (or an empty line, or end of input) quit`;

/**
 * The terminal chat: one reply per input line, in order, also when the lines come from a pipe
 * (\`printf 'q1\\nq2\\n' | glm-webgpu chat\` answers both; the readline iterator buffers lines that arrive
 * while a reply is generated). End of input ends the chat normally. The prompt "you> " is shown on a
 * terminal only.
 */
export async function chatLoop(
  engine: GlmEngine,
  opts: SamplingCliOptions & { system?: string; /** data: URL sent with the first message (and again after /reset). */ image?: string },
  input: NodeJS.ReadableStream & { isTTY?: boolean },
  write: (s: string) => void,
): Promise<void> {
  const tty = input.isTTY === true;
  const rl = createInterface({ input, terminal: tty, ...(tty ? { output: process.stdout } : {}) });
  const history: ChatCompletionMessageParam[] = opts.system ? [{ role: 'system', content: opts.system }] : [];
  const firstUser = () => !history.some((m) => m.role === 'user');
  const info = engine.info();
  write(`${info.model} (${info.chatFormat}, ${info.backend}); ${CHAT_HELP}\n`);
  const prompt = () => {
    if (tty) write('you> ');
  };
  prompt();
  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === '' || line === '/exit') break;
      if (line === '/help') {
        write(`${CHAT_HELP}\n`);
      } else if (line === '/reset') {
        history.length = opts.system ? 1 : 0;
        engine.resetChat();
        write('(new chat: the conversation so far is forgotten)\n');
      } else if (line.startsWith('/')) {
        write(`unknown command ${line.split(/\s/)[0]}; ${CHAT_HELP}\n`);
      } else {
        history.push(userMessage(line, opts.image && firstUser() ? [opts.image] : []));
        write('glm> ');
        let reply: Awaited<ReturnType<GlmEngine['generate']>>;
        try {
          reply = await engine.generate({ ...samplingRequest(opts), messages: history }, streamTo(write));
        } catch (err) {
          history.pop(); // the turn that failed is not part of the conversation
          throw err;
        }
        write('\n');
        history.push({ role: 'assistant', content: reply.choices[0].message.content });
      }
      prompt();
    }
  } finally {
    rl.close();
  }
}
