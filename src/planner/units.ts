// Byte sizes as people type them (CLI flags, page settings) and as the planner prints them.
import { InvalidArgumentError } from '../errors';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

// Binary units (KiB...) are what GPU limits and buffer sizes are written in; decimal ones (KB...)
// are what disk and download sizes use. Bare K/M/G/T follow dd and ulimit: binary.
const UNIT_FACTORS: Record<string, number> = {
  '': 1,
  b: 1,
  k: KiB,
  kib: KiB,
  kb: 1e3,
  m: MiB,
  mib: MiB,
  mb: 1e6,
  g: GiB,
  gib: GiB,
  gb: 1e9,
  t: 1024 * GiB,
  tib: 1024 * GiB,
  tb: 1e12,
};

const BYTES_PATTERN = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i;

/**
 * "4GiB", "128 MiB", "1.5GB", "1073741824" -> bytes (a non-negative safe integer; fractions of a byte are
 * dropped). Units are case-insensitive; B is always bytes, never bits.
 */
export function parseBytes(text: string): number {
  const match = BYTES_PATTERN.exec(text);
  const factor = match ? UNIT_FACTORS[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new InvalidArgumentError(
      `"${text}" is not a byte size; write a number with an optional unit, e.g. 4GiB, 128MiB, 1.5GB or 1073741824`,
    );
  }
  const bytes = Math.floor(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError(`byte size "${text}" is too large`);
  return bytes;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** 4294967296 -> "4 GiB", 5703204864 -> "5.31 GiB": three significant digits, binary units. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${sign}${value} B`;
  // toPrecision(3) of 1023.6 gives "1.02e+3"; fixed decimals keep the plain form.
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  const fixed = value.toFixed(digits);
  // Drop trailing zeros of the decimals only: "1.50" -> "1.5", "2.00" -> "2", but "320" stays.
  const text = fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
  return `${sign}${text} ${BINARY_UNITS[unit]}`;
}
