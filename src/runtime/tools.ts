// Function calling in each GLM family's own format.
//
//   glm4 (GLM-4-9B-chat, GLM-4-0414): the tools go through the model's Jinja chat template: GLM-4-9B-chat's
//     reads them from a message (`item['tools']`), GLM-4-0414's from a `tools` variable. The model calls
//     a tool by answering `<|assistant|>name\n{"arg": ...}`; that call comes back in history as an
//     assistant message with metadata = name and content = the arguments, the result as `<|observation|>`.
//   chatglm3: THUDM's build_chat_input: a system message whose content is followed by "\n" and the tool
//     list as JSON (indent 4); the model answers `<|assistant|>name\n ```python\ntool_call(k=v)\n````.
//
// OpenAI's shapes map onto these: `tools` -> the family's tool list, an assistant message's
// `tool_calls` -> metadata + content, `role: "tool"` -> observation; the reply is parsed back into
// `tool_calls` with finish_reason "tool_calls".
import { InvalidArgumentError, UnsupportedFieldError } from '../errors';
import type { ChatMessage, ChatFamily } from '../tokenizer/chat';
import type { ChatCompletionMessageParam, ChatCompletionMessageToolCall, ChatCompletionTool, ChatCompletionToolChoice, JsonSchema } from './api-types';
import { contentText } from './request';

/** The system prompt THUDM's ChatGLM3 tool demos put in front of the tool list. */
export const CHATGLM3_TOOL_SYSTEM_PROMPT = 'Answer the following questions as best as you can. You have access to the following tools:';

export interface ToolPlan {
  /** Messages for renderChat (tool calls and results in the family's form). */
  messages: ChatMessage[];
  /** glm4 only: variables for the chat template (tools). */
  templateVariables: Record<string, unknown>;
  /** Tools the reply may call (empty: parse nothing). */
  callable: ChatCompletionTool[];
  /** Set when tool_choice names a function (or is "required" with one tool): the reply is forced to call it. */
  forced: ChatCompletionTool | null;
  /** tool_choice "required" with several tools: the reply must call one of `callable` (tool-name-constraint.ts). */
  required: boolean;
}

function checkTools(tools: readonly ChatCompletionTool[]): void {
  const names = new Set<string>();
  tools.forEach((t, i) => {
    if (!t || t.type !== 'function' || !t.function || typeof t.function.name !== 'string' || !/^[\w\-./]{1,64}$/.test(t.function.name)) {
      throw new InvalidArgumentError(`tools[${i}] must be {type: "function", function: {name, description?, parameters?}} with a name of letters, digits, _ - . /`);
    }
    for (const key of Object.keys(t.function)) {
      if (!['name', 'description', 'parameters', 'strict'].includes(key)) throw new UnsupportedFieldError(`tools[${i}].function field "${key}" is not supported`);
    }
    if (names.has(t.function.name)) throw new InvalidArgumentError(`tools[${i}]: two tools are named "${t.function.name}"`);
    names.add(t.function.name);
  });
}

/** Python's repr of a JSON value, as ChatGLM3 writes tool_call(...) arguments. */
function pythonRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') {
    const quote = v.includes("'") && !v.includes('"') ? '"' : "'";
    const body = v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll(quote, `\\${quote}`);
    return `${quote}${body}${quote}`;
  }
  if (Array.isArray(v)) return `[${v.map(pythonRepr).join(', ')}]`;
  return `{${Object.entries(v as object).map(([k, x]) => `${pythonRepr(k)}: ${pythonRepr(x)}`).join(', ')}}`;
}

function parseArguments(call: ChatCompletionMessageToolCall, where: string): Record<string, unknown> {
  try {
    const v = JSON.parse(call.function.arguments) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new InvalidArgumentError(`${where}: function.arguments must be the JSON text of an object`);
}

/**
 * Turns OpenAI messages (tool calls, tool results, content parts) into the family's chat messages, and
 * says how tools go into the prompt. `templateReadsToolsVariable`: the glm4 template takes a `tools`
 * variable (GLM-4-0414) rather than tools on a message (GLM-4-9B-chat).
 */
export function planTools(
  family: ChatFamily,
  input: readonly ChatCompletionMessageParam[],
  tools: readonly ChatCompletionTool[] | null | undefined,
  toolChoice: ChatCompletionToolChoice | null | undefined,
  templateReadsToolsVariable: boolean,
): ToolPlan {
  const list = tools ?? [];
  if (!Array.isArray(list)) throw new InvalidArgumentError('tools must be an array');
  checkTools(list);
  const usesTools = list.length > 0 || input.some((m) => m.role === 'tool' || m.tool_calls?.length);
  if (usesTools && family !== 'glm4' && family !== 'chatglm3') {
    throw new UnsupportedFieldError(`tools: the ${family} format has no function calling (GLM-4-9B-chat, GLM-4-0414 and ChatGLM3 do)`);
  }
  let forced: ChatCompletionTool | null = null;
  let required = false;
  if (toolChoice === 'required') {
    if (list.length === 0) throw new InvalidArgumentError('tool_choice "required" needs tools: pass the functions the model must choose from');
    // One tool: the call is decided, only its arguments are not.
    if (list.length === 1) forced = list[0]!;
    else required = true;
  } else if (toolChoice !== undefined && toolChoice !== null && toolChoice !== 'auto' && toolChoice !== 'none') {
    if (typeof toolChoice !== 'object' || toolChoice.type !== 'function' || typeof toolChoice.function?.name !== 'string') {
      throw new UnsupportedFieldError(`tool_choice ${JSON.stringify(toolChoice)} is not supported: use "auto", "none", "required" or {type: "function", function: {name}}`);
    }
    forced = list.find((t) => t.function.name === toolChoice.function.name) ?? null;
    if (!forced) throw new InvalidArgumentError(`tool_choice names "${toolChoice.function.name}", which is not in tools`);
  }
  // "none": the model is not told about the tools, so it answers in text.
  const offered = toolChoice === 'none' ? [] : list;

  const messages: ChatMessage[] = [];
  input.forEach((m, i) => {
    const text = contentText(m, i);
    if (m.role === 'tool' || m.role === 'observation') {
      messages.push({ role: 'observation', content: text });
    } else if (m.role === 'assistant' && m.tool_calls?.length) {
      if (text) messages.push({ role: 'assistant', content: text });
      m.tool_calls.forEach((call, j) => {
        const where = `message ${i} tool_calls[${j}]`;
        if (!call || call.type !== 'function' || typeof call.function?.name !== 'string') throw new InvalidArgumentError(`${where} must be {id, type: "function", function: {name, arguments}}`);
        const args = parseArguments(call, where);
        const content = family === 'chatglm3'
          ? ` \`\`\`python\ntool_call(${Object.entries(args).map(([k, v]) => `${k}=${pythonRepr(v)}`).join(', ')})\n\`\`\``
          : JSON.stringify(args);
        messages.push({ role: 'assistant', metadata: call.function.name, content });
      });
    } else {
      messages.push({ role: m.role as ChatMessage['role'], content: text, ...(m.metadata ? { metadata: m.metadata } : {}) });
    }
  });

  const templateVariables: Record<string, unknown> = {};
  if (offered.length > 0) {
    if (family === 'chatglm3') {
      const functions = offered.map((t) => ({ name: t.function.name, description: t.function.description ?? '', parameters: t.function.parameters ?? { type: 'object', properties: {} } }));
      messages.unshift({ role: 'system', content: `${CHATGLM3_TOOL_SYSTEM_PROMPT}\n${JSON.stringify(functions, null, 4)}` });
    } else if (templateReadsToolsVariable) {
      templateVariables.tools = offered;
    } else {
      // GLM-4-9B-chat: the tools ride on a system message; its template prints the tool block for it
      // and the message's own content only when there is some.
      const first = messages[0];
      if (first && first.role === 'system') messages[0] = { ...first, tools: offered } as ChatMessage;
      else messages.unshift({ role: 'system', content: '', tools: offered } as ChatMessage);
    }
  }
  return { messages, templateVariables, callable: offered, forced, required };
}

/** Whether a glm4 chat template takes tools as a top-level variable (GLM-4-0414) rather than on a message. */
export function templateReadsToolsVariable(template: string | undefined): boolean {
  if (!template) return false;
  return /\{%-?\s*if\s+tools\b/.test(template) || /\bfor\s+tool\s+in\s+tools\b/.test(template) && !/item\[['"]tools['"]\]/.test(template);
}

/** The text the reply starts with when tool_choice forces a call (the function name line). */
export function forcedCallPrefix(forced: ChatCompletionTool): string {
  return `${forced.function.name}\n`;
}

/** The schema a forced call's arguments are decoded under (an object, whatever the tool declares). */
export function argumentsSchema(tool: ChatCompletionTool): JsonSchema {
  return tool.function.parameters ?? { type: 'object', properties: {} };
}

// ---------------------------------------------------------------------------------------------------------
// Parsing the reply
// ---------------------------------------------------------------------------------------------------------

export interface ParsedCall {
  name: string;
  arguments: string;
}

/** Python literal (ChatGLM3's tool_call kwargs) -> JSON value; a small recursive reader. */
function parsePythonKwargs(src: string): Record<string, unknown> | null {
  let i = 0;
  const ws = () => {
    while (i < src.length && /\s/.test(src[i]!)) i++;
  };
  const value = (): unknown => {
    ws();
    const c = src[i];
    if (c === "'" || c === '"') {
      const quote = c;
      i++;
      let out = '';
      while (i < src.length && src[i] !== quote) {
        if (src[i] === '\\') {
          const e = src[i + 1];
          out += e === 'n' ? '\n' : e === 't' ? '\t' : (e ?? '');
          i += 2;
        } else out += src[i++];
      }
      if (src[i] !== quote) throw new Error('unterminated string');
      i++;
      return out;
    }
    if (c === '[' || c === '(') {
      const close = c === '[' ? ']' : ')';
      i++;
      const arr: unknown[] = [];
      ws();
      while (src[i] !== close) {
        arr.push(value());
        ws();
        if (src[i] === ',') i++;
        ws();
        if (i >= src.length) throw new Error('unterminated list');
      }
      i++;
      return arr;
    }
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      while (src[i] !== '}') {
        const k = value();
        ws();
        if (src[i++] !== ':') throw new Error('expected :');
        obj[String(k)] = value();
        ws();
        if (src[i] === ',') i++;
        ws();
        if (i >= src.length) throw new Error('unterminated dict');
      }
      i++;
      return obj;
    }
    const m = /^(True|False|None|-?\d+(\.\d+)?([eE][+-]?\d+)?)/.exec(src.slice(i));
    if (!m) throw new Error(`unexpected ${c}`);
    i += m[0].length;
    return m[1] === 'True' ? true : m[1] === 'False' ? false : m[1] === 'None' ? null : Number(m[0]);
  };
  try {
    const out: Record<string, unknown> = {};
    ws();
    while (i < src.length) {
      const name = /^[A-Za-z_]\w*/.exec(src.slice(i));
      if (!name) return null;
      i += name[0].length;
      ws();
      if (src[i++] !== '=') return null;
      out[name[0]] = value();
      ws();
      if (src[i] === ',') i++;
      ws();
    }
    return out;
  } catch {
    return null;
  }
}

/**
 * The call in a finished reply, or null when the reply is plain text (or does not parse as a call of a
 * known tool: then it stays content, as the model wrote it).
 */
export function parseToolCall(family: ChatFamily, text: string, callable: readonly ChatCompletionTool[]): ParsedCall | null {
  const nl = text.indexOf('\n');
  if (nl < 0) return null;
  const name = text.slice(0, nl).trim();
  if (!callable.some((t) => t.function.name === name)) return null;
  const body = text.slice(nl + 1).trim();
  if (family === 'chatglm3') {
    const m = /^(?:```(?:python)?\s*)?tool_call\(([\s\S]*)\)\s*(?:```)?$/.exec(body);
    const args = m ? parsePythonKwargs(m[1]!) : null;
    return args ? { name, arguments: JSON.stringify(args) } : null;
  }
  return isJsonObjectText(body) ? { name, arguments: body } : null;
}

/**
 * Whether `text` is the JSON text of an object. The arguments are then passed on as the model wrote them
 * (as OpenAI does), not parsed and written again: that would turn a long integer into 3.03e+23.
 */
function isJsonObjectText(text: string): boolean {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}

/**
 * The call of a forced reply (tool_choice named the tool): `text` is the arguments alone, decoded as JSON
 * under the tool's schema after the name line the prompt ends with, in every family (ChatGLM3 included:
 * its Python form is written back only when the call goes into history). Null when they do not parse
 * (the reply ran out of max_tokens).
 */
export function parseForcedCall(forced: ChatCompletionTool, text: string): ParsedCall | null {
  const body = text.trim();
  return isJsonObjectText(body) ? { name: forced.function.name, arguments: body } : null;
}

/**
 * While streaming: may `text` (the reply so far) still turn out to be a call? True while the first line
 * is unfinished and a prefix of a tool name, or finished and a tool name.
 */
export function mayBeToolCall(text: string, callable: readonly ChatCompletionTool[]): boolean {
  const nl = text.indexOf('\n');
  const head = nl < 0 ? text : text.slice(0, nl);
  if (nl < 0) return callable.some((t) => t.function.name.startsWith(head.trimStart()));
  return callable.some((t) => t.function.name === head.trim());
}

let callCounter = 0;
/** An id for a call, unique in this page/process (OpenAI's are opaque strings too). */
export function newToolCallId(): string {
  callCounter = (callCounter + 1) % 1e9;
  return `call_${Date.now().toString(36)}${callCounter.toString(36)}`;
}
