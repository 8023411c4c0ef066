// Argument parsers shared by CLI subcommands. They throw commander's InvalidArgumentError, which
// run() turns into a usage message and exit code 2.
import { InvalidArgumentError } from 'commander';
import { GlmError } from '../errors';
import { parseBytes } from '../planner/units';

/** Bad arguments found after parsing (e.g. a token id outside the vocabulary): usage error, exit 2. */
export class UsageError extends GlmError {
  override name = 'UsageError';
}

export function parseIdList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new InvalidArgumentError('expected a comma-separated list of token ids, e.g. 5,7,9');
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new InvalidArgumentError(`"${p}" is not a token id (a non-negative integer)`);
    return Number(p);
  });
}

export function parseNonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`"${value}" is not a non-negative integer`);
  return Number(value);
}

export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`"${value}" is not a number`);
  return n;
}

export function parseChoice<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`"${value}" is not one of ${choices.join(', ')}`);
    return value as T;
  };
}

/** Byte sizes like 4GiB, 128MiB, 1.5GB or 1073741824. */
export function parseBytesOption(value: string): number {
  try {
    return parseBytes(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
