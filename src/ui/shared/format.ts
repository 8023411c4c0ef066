// Numbers as the pages show them. Sizes use the planner's binary units (GiB) so the page, the CLI and
// explainPlan() agree; rates are per second of wall clock.
import { formatBytes } from '../../index';

export { formatBytes };

/** 12345678 B/s -> "11.8 MiB/s". */
export function formatRate(bytesPerSec: number): string {
  return bytesPerSec > 0 && Number.isFinite(bytesPerSec) ? `${formatBytes(Math.round(bytesPerSec))}/s` : '-';
}

/** Seconds left -> "2 min 5 s", "42 s", "<1 s"; null -> "unknown". */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'unknown';
  if (seconds < 1) return '<1 s';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Tokens per second with sensible precision; null -> "-". */
export function formatTokPerSec(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} tok/s`;
}

/** Decimal GB/s, the unit bandwidth is quoted in. */
export function formatGBps(bytesPerSec: number): string {
  if (!Number.isFinite(bytesPerSec) || bytesPerSec <= 0) return '-';
  const g = bytesPerSec / 1e9;
  return `${g >= 100 ? g.toFixed(0) : g >= 1 ? g.toFixed(2) : g.toFixed(3)} GB/s`;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 0.01) return `${(ms * 1000).toFixed(2)} µs`;
  if (ms < 1) return `${(ms * 1000).toFixed(1)} µs`;
  return ms < 100 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(0)} ms`;
}

/** FLOP/s in the unit that keeps three significant digits: "1.23 TFLOP/s", "45.6 GFLOP/s", "789 MFLOP/s". */
export function formatFlops(flopsPerSec: number): string {
  if (!Number.isFinite(flopsPerSec) || flopsPerSec <= 0) return '-';
  for (const [unit, scale] of [['TFLOP/s', 1e12], ['GFLOP/s', 1e9], ['MFLOP/s', 1e6]] as const) {
    if (flopsPerSec >= scale) {
      const v = flopsPerSec / scale;
      return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${unit}`;
    }
  }
  return `${(flopsPerSec / 1e3).toFixed(1)} kFLOP/s`;
}
