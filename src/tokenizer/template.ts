// Chat templates come from the model's files, so they are untrusted code: a `range(100000000)`, a nested loop or
// a recursive macro must fail fast with a named error instead of exhausting the heap or freezing the page.
// @huggingface/jinja renders synchronously and cannot be interrupted, so the budget is enforced from inside:
// every AST node and loop iteration evaluated is a step (with a clock check every 16 steps), every string produced is measured,
// numbers computed by the template are bounded, and `range` refuses long ranges before building them.
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { ChatTemplateError, ChatTemplateLimitError } from './errors';

import { TEMPLATE_LIMITS, type TemplateLimits } from './template-limits';

export { TEMPLATE_LIMITS, type TemplateLimits };

type Statement = Parameters<Interpreter['evaluate']>[0];
type RuntimeValue = ReturnType<Interpreter['evaluate']>;

/** Nodes whose numeric result the template computed itself (not a number passed in through the messages or tools). */
const COMPUTED_NUMBERS = new Set(['IntegerLiteral', 'FloatLiteral', 'BinaryExpression', 'UnaryExpression']);

class BudgetedInterpreter extends Interpreter {
  private steps = 0;
  private readonly deadline: number;

  constructor(
    env: Environment,
    private readonly limits: TemplateLimits,
  ) {
    super(env);
    this.deadline = Date.now() + limits.maxMillis;
    // A loop body is a block evaluated once per iteration even when empty, so blocks are steps too. The
    // library declares evaluateBlock private, hence the instance-level wrapper instead of an override.
    const self = this as unknown as { evaluateBlock(statements: Statement[], env: Environment): RuntimeValue };
    const evaluateBlock = self.evaluateBlock.bind(this);
    self.evaluateBlock = (statements, env) => {
      this.step();
      return evaluateBlock(statements, env);
    };
  }

  private step(): void {
    const limits = this.limits;
    if (++this.steps > limits.maxSteps) {
      throw new ChatTemplateLimitError(`the chat template ran more than ${limits.maxSteps} steps: it loops too long (a huge range or nested loops?)`);
    }
    if ((this.steps & 15) === 0 && Date.now() > this.deadline) {
      throw new ChatTemplateLimitError(`the chat template ran longer than ${limits.maxMillis} ms`);
    }
  }

  override evaluate(statement: Statement, environment: Environment): RuntimeValue {
    const limits = this.limits;
    this.step();
    const value = super.evaluate(statement, environment);
    if (value.type === 'StringValue' && (value.value as string).length > limits.maxOutputChars) {
      throw new ChatTemplateLimitError(`the chat template built a string of more than ${limits.maxOutputChars} characters`);
    }
    if (
      statement !== undefined &&
      COMPUTED_NUMBERS.has(statement.type) &&
      (value.type === 'IntegerValue' || value.type === 'FloatValue') &&
      Math.abs(value.value as number) > limits.maxNumber
    ) {
      throw new ChatTemplateLimitError(`the chat template computed the number ${String(value.value)}; numbers in templates are limited to ±${limits.maxNumber}`);
    }
    return value;
  }
}

/** Python's range() with the length checked before the list exists. */
function boundedRange(limits: TemplateLimits): (...args: unknown[]) => number[] {
  return (...args: unknown[]) => {
    if (args.length < 1 || args.length > 3 || !args.every((a) => Number.isInteger(a))) {
      throw new ChatTemplateError('range() takes one to three integers');
    }
    const [start, stop, step] = args.length === 1 ? [0, args[0] as number, 1] : [args[0] as number, args[1] as number, (args[2] as number | undefined) ?? 1];
    if (step === 0) throw new ChatTemplateError('range() step must not be zero');
    const length = Math.max(0, Math.ceil((stop - start) / step));
    if (length > limits.maxRangeLength) {
      throw new ChatTemplateLimitError(`range() of ${length} numbers in the chat template; at most ${limits.maxRangeLength} are allowed`);
    }
    return Array.from({ length }, (_, i) => start + i * step);
  };
}

/** Parses a template, refusing sources longer than the limit. */
export function parseChatTemplate(source: string, limits: TemplateLimits = TEMPLATE_LIMITS): Template {
  if (source.length > limits.maxTemplateChars) {
    throw new ChatTemplateLimitError(`the chat template is ${source.length} characters long; at most ${limits.maxTemplateChars} are accepted`);
  }
  return new Template(source);
}

/** Template.render with the same globals (transformers' set), under the budget. */
export function renderChatTemplate(template: Template, variables: Record<string, unknown>, limits: TemplateLimits = TEMPLATE_LIMITS): string {
  const env = new Environment();
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    raise_exception: (message: unknown) => {
      throw new ChatTemplateError(`the chat template raised: ${String(message)}`);
    },
    range: boundedRange(limits),
    // The library's own strftime_now, reached through a one-line template.
    strftime_now: (format: unknown) => new Template('{{ strftime_now(f) }}').render({ f: String(format) }),
  };
  for (const [key, value] of Object.entries({ ...globals, ...variables })) env.set(key, value);
  const result = new BudgetedInterpreter(env, limits).run(template.parsed);
  return String(result.value);
}
