// The `glm-webgpu` command (Node + Dawn). Each subcommand lives in its own module and registers
// itself here; `run` returns the exit code (0 ok, 1 runtime error, 2 bad arguments).
import { Command, CommanderError } from 'commander';
import { UsageError } from './args';
import { registerAdapterCommand } from './adapter';
import { registerPlanCommand } from './plan';
import { registerModelCommands } from './model-commands';
import { registerChatCommands } from './chat-commands';
import { registerBenchCommand } from './bench';
import { registerConvertCommand } from './convert';
import { packageVersion } from '../platform/node';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command('glm-webgpu')
    .description('Run GLM chat models (ChatGLM-6B, ChatGLM2/3, GLM-4, GLM-4-0414, GLM-Edge) on WebGPU with INT4 weights')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  registerAdapterCommand(program);
  registerPlanCommand(program);
  registerModelCommands(program);
  registerChatCommands(program);
  registerBenchCommand(program);
  registerConvertCommand(program);
  return program;
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit through here with code 0.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    // Bad values the engine rejects (e.g. --temperature -1) are bad arguments too: exit 2, as documented.
    if (err instanceof UsageError || (err instanceof Error && err.name === 'InvalidArgumentError')) {
      console.error(`glm-webgpu: error: ${err.message}\n(run with --help for usage)`);
      return EXIT_USAGE;
    }
    const e = err as Error;
    console.error(`glm-webgpu: ${e.name}: ${e.message}`);
    return EXIT_ERROR;
  }
}
