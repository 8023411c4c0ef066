// What a calibration (runtime/calibration.ts) measured, and how the planner and the pages use it: plain
// data and pure functions, so the pages' main thread can plan with it without loading the kernels.
import type { Bandwidth } from './planner';

/**
 * 2: the CPU's minParallelGroups; 3: the attention's cost per context token (attentionSec). Older cached
 * calibrations are measured again.
 */
export const CALIBRATION_VERSION = 3;

export interface GpuCalibration {
  /** Bytes per second the q4 decode GEMV reads. */
  bytesPerSec: number;
  /** Seconds one small dispatch costs beside its bytes. */
  opSec: number;
  /** Seconds of one step's submit + readback (paid once per decoded token). */
  tokenSec: number;
  /**
   * Seconds per layer x query head x head dim x cached position that a decode step's attention adds (the
   * probe model decoded at two context lengths): Bandwidth's gpuAttentionSec / cpuAttentionSec.
   */
  attentionSec: number;
  /** Seconds per vocabulary entry of the GPU's sampler kernels (greedy), paid once per token by a GPU head. */
  sampleSec: number;
  /** Weight bytes per second per prompt token of the prefill GEMM; null when not measured (a slow device). */
  prefillBytesPerSec: number | null;
  /** "vendor · architecture · description" of the adapter measured. */
  adapter: string;
}

export interface CpuCalibration {
  bytesPerSec: number;
  opSec: number;
  /**
   * Seconds per layer x query head x head dim x cached position that a decode step's attention adds (the
   * probe model decoded at two context lengths): Bandwidth's gpuAttentionSec / cpuAttentionSec.
   */
  attentionSec: number;
  prefillBytesPerSec: number;
  /**
   * The runtime's FastMatmul.minParallelGroups as measured here: the smallest one-token matmul (groups)
   * the worker threads make faster; null: they never do (or there are none), every call stays on one thread.
   */
  minParallelGroups: number | null;
  /** The matmul kernels measured (backend and threads). */
  kernels: string;
}

export interface Calibration {
  version: typeof CALIBRATION_VERSION;
  gpu: GpuCalibration | null;
  cpu: CpuCalibration;
  /** Wall time the measurement took. */
  tookMs: number;
  /** ISO time of the measurement. */
  measuredAt: string;
}

/** The planner's speed figures from a calibration (GPU fields only when a GPU was measured). */
export function bandwidthOf(c: Calibration): Partial<Bandwidth> {
  return {
    cpuBytesPerSec: c.cpu.bytesPerSec,
    cpuOpSec: c.cpu.opSec,
    cpuAttentionSec: c.cpu.attentionSec,
    cpuPrefillBytesPerSec: c.cpu.prefillBytesPerSec,
    ...(c.gpu
      ? {
          gpuBytesPerSec: c.gpu.bytesPerSec,
          gpuOpSec: c.gpu.opSec,
          gpuTokenSec: c.gpu.tokenSec,
          gpuAttentionSec: c.gpu.attentionSec,
          gpuSampleSec: c.gpu.sampleSec,
          ...(c.gpu.prefillBytesPerSec !== null ? { gpuPrefillBytesPerSec: c.gpu.prefillBytesPerSec } : {}),
          // A seam is one small readback or upload: about one step's fixed cost.
          transferLatencySec: c.gpu.tokenSec,
        }
      : {}),
  };
}

/**
 * The CPU matmul threading a calibration measured, for the runtime's load options (LoadOptions
 * cpuMinParallelGroups); nothing for a calibration from before version 2, which did not measure it.
 */
export function cpuThreadingOf(c: Calibration): { cpuMinParallelGroups?: number } {
  const m = (c.cpu as Partial<CpuCalibration>).minParallelGroups;
  return m === undefined ? {} : { cpuMinParallelGroups: m ?? Infinity };
}

function gbps(v: number): string {
  const g = v / 1e9;
  return `${g >= 10 ? g.toFixed(0) : g >= 1 ? g.toFixed(1) : g.toFixed(3)} GB/s`;
}

/** The attention's cost per context token of a whole step is tiny per head and dim: shown per 1,000. */
function attentionPer1k(sec: number): string {
  return `${us(sec * 1000)} attention per 1k head·dim·positions`;
}

function us(sec: number): string {
  const u = sec * 1e6;
  return u >= 1000 ? `${(u / 1000).toFixed(1)} ms` : `${u.toFixed(0)} µs`;
}

/** One line for the verdict: what was measured, where and when. */
export function describeCalibration(c: Calibration): string {
  const gpu = c.gpu
    ? `GPU ${gbps(c.gpu.bytesPerSec)} read, ${us(c.gpu.opSec)} per dispatch, ${us(c.gpu.tokenSec)} per token, ${attentionPer1k(c.gpu.attentionSec)}, sampler ${us(c.gpu.sampleSec * 1000)} per 1k vocabulary; `
    : '';
  return `measured on this machine (${(c.tookMs / 1000).toFixed(1)} s calibration, ${c.measuredAt.slice(0, 16).replace('T', ' ')} UTC): ${gpu}CPU ${gbps(c.cpu.bytesPerSec)}, ${us(c.cpu.opSec)} per op, ${attentionPer1k(c.cpu.attentionSec)} (${c.cpu.kernels})`;
}

