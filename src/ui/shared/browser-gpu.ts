// What this browser offers before anything is downloaded: WebGPU or not, the adapter's info, limits and
// features, and the memory budgets the planner should assume (WebGPU reports no memory size, so the GPU
// budget is the planner's per-adapter-class guess, defaultGpuBudget).
import { classifyAdapter, defaultGpuBudget, type AdapterClass } from '../../index';
import { GiB } from '../../index';

export type GpuStatus = 'ok' | 'no-api' | 'no-adapter' | 'error';

export interface BrowserGpu {
  status: GpuStatus;
  /** Why WebGPU is unusable (status other than 'ok'). */
  message?: string;
  info: { vendor: string; architecture: string; device: string; description: string; isFallback: boolean };
  adapterClass: AdapterClass | null;
  adapterReason: string;
  limits: Record<string, number>;
  features: string[];
  /** Planner budgets in bytes. gpuBytes is 0 without WebGPU. */
  gpuBudget: number;
  /** Where the GPU budget comes from (the class default, or a test allocation). */
  gpuBudgetReason: string;
  cpuBudget: number;
  cpuBudgetReason: string;
  /** navigator.deviceMemory in GiB where the browser tells it (Chrome caps it at 8). */
  deviceMemoryGiB: number | null;
  secureContext: boolean;
  crossOriginIsolated: boolean;
}

/** Limits shown on the pages and used by the planner (the rest are in the bench page's JSON). */
export const SHOWN_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const;

/**
 * The CPU fallback holds its layers in the tab's memory (JS heap and WASM). A tab rarely gets more than
 * 4 GiB, and the browser, the page and the GPU process need the rest of the machine: half of
 * navigator.deviceMemory, at most 4 GiB; 2 GiB when the browser does not say.
 */
export function cpuBudgetFor(deviceMemoryGiB: number | null): { bytes: number; reason: string } {
  if (deviceMemoryGiB === null) return { bytes: 2 * GiB, reason: 'the browser does not report its memory: assumed 2 GiB for the tab' };
  const bytes = Math.min(4 * GiB, Math.floor((deviceMemoryGiB / 2) * GiB));
  return { bytes, reason: `half of the ${deviceMemoryGiB} GiB the browser reports (navigator.deviceMemory), at most 4 GiB for one tab` };
}

function deviceMemory(): number | null {
  const m = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
  return typeof m === 'number' && m > 0 ? m : null;
}

const NO_INFO = { vendor: '', architecture: '', device: '', description: '', isFallback: false };

export async function probeBrowserGpu(gpu: GPU | undefined = typeof navigator !== 'undefined' ? navigator.gpu : undefined): Promise<BrowserGpu> {
  const mem = typeof navigator !== 'undefined' ? deviceMemory() : null;
  const cpu = cpuBudgetFor(mem);
  const base = {
    info: NO_INFO,
    adapterClass: null,
    adapterReason: '',
    limits: {},
    features: [],
    gpuBudget: 0,
    gpuBudgetReason: 'no WebGPU',
    cpuBudget: cpu.bytes,
    cpuBudgetReason: cpu.reason,
    deviceMemoryGiB: mem,
    secureContext: typeof isSecureContext !== 'undefined' ? isSecureContext : false,
    crossOriginIsolated: typeof crossOriginIsolated !== 'undefined' ? crossOriginIsolated : false,
  };
  if (!gpu) {
    const why = base.secureContext
      ? 'this browser has no WebGPU (navigator.gpu is missing): use a recent Chrome or Edge, or enable WebGPU in Firefox or Safari'
      : 'WebGPU needs a secure context: open the page over https or from localhost';
    return { ...base, status: 'no-api', message: why };
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    return { ...base, status: 'error', message: `requestAdapter failed: ${(err as Error).message}` };
  }
  if (!adapter) {
    return { ...base, status: 'no-adapter', message: 'WebGPU is present but returned no adapter: the GPU may be blocklisted or have no driver' };
  }
  const raw = adapter.info;
  const info = {
    vendor: raw?.vendor ?? '',
    architecture: raw?.architecture ?? '',
    device: raw?.device ?? '',
    description: raw?.description ?? '',
    isFallback: Boolean((raw as GPUAdapterInfo & { isFallbackAdapter?: boolean })?.isFallbackAdapter) || /swiftshader/i.test(raw?.description ?? ''),
  };
  const limits: Record<string, number> = {};
  for (const name of SHOWN_LIMITS) limits[name] = adapter.limits[name];
  const { adapterClass, reason } = classifyAdapter(info);
  const classBudget = defaultGpuBudget(
    info,
    { maxBufferSize: limits.maxBufferSize!, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize! },
    mem !== null ? { deviceMemoryBytes: mem * GiB } : {},
  );
  const budget = await probeGpuBudget(adapter, adapterClass, classBudget);
  return {
    ...base,
    status: 'ok',
    info,
    adapterClass,
    adapterReason: reason,
    limits,
    features: [...adapter.features].sort(),
    gpuBudget: budget.bytes,
    gpuBudgetReason: budget.reason,
  };
}

/** Test allocations tried from the largest down; the budget is GPU_BUDGET_SHARE of the first that succeeds. */
const PROBE_TOTALS_GIB = [20, 14, 10, 7];
const GPU_BUDGET_SHARE = 0.75;

/**
 * A better default than the class guess for a discrete (or unrecognised) GPU: WebGPU reports no memory
 * size, so allocate test buffers of decreasing totals inside an out-of-memory error scope and take 75% of
 * the first total the device accepts (the browser, the compositor and other tabs need the rest). Unified
 * and shared-memory adapters (Apple, integrated, mobile) and software ones keep the class guess: their
 * drivers may accept more than the machine can hold. When the guess is still too high, the engine's
 * out-of-memory recovery moves layers to the CPU (runtime/hybrid.ts).
 */
export async function probeGpuBudget(adapter: GPUAdapter, adapterClass: AdapterClass, classBudget: number): Promise<{ bytes: number; reason: string }> {
  const guess = { bytes: classBudget, reason: `the default for ${adapterClass === 'unknown' ? 'an unrecognised adapter' : `a ${adapterClass} adapter`}` };
  if (adapterClass !== 'discrete' && adapterClass !== 'unknown') return guess;
  let device: GPUDevice | null = null;
  try {
    const maxBufferSize = adapter.limits.maxBufferSize;
    device = await adapter.requestDevice({ requiredLimits: { maxBufferSize } });
    const chunk = Math.min(maxBufferSize, 1 * GiB);
    for (const gib of PROBE_TOTALS_GIB) {
      const total = gib * GiB;
      if (total * GPU_BUDGET_SHARE <= classBudget) break;
      device.pushErrorScope('out-of-memory');
      device.pushErrorScope('validation');
      const buffers: GPUBuffer[] = [];
      for (let done = 0; done < total; done += chunk) buffers.push(device.createBuffer({ size: Math.min(chunk, total - done), usage: GPUBufferUsage.STORAGE }));
      const invalid = await device.popErrorScope();
      const oom = await device.popErrorScope();
      for (const b of buffers) b.destroy();
      if (!invalid && !oom) {
        return { bytes: Math.floor(total * GPU_BUDGET_SHARE), reason: `75% of a ${gib} GiB test allocation the GPU accepted` };
      }
    }
    return guess;
  } catch {
    return guess;
  } finally {
    device?.destroy();
  }
}

/** "NVIDIA · ampere" / "SwiftShader (software)" / "no WebGPU". */
export function adapterLabel(g: BrowserGpu): string {
  if (g.status !== 'ok') return 'no WebGPU';
  const parts = [g.info.vendor, g.info.architecture, g.info.description].filter(Boolean);
  const name = parts.length ? parts.join(' · ') : 'unnamed adapter';
  return g.adapterClass === 'software' ? `${name} (software)` : name;
}
