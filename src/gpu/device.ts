// Adapter and device setup: ask for the adapter's real limits (never the 128 MiB defaults),
// report the features we use, and turn device loss into a named error.
import { DeviceLostError, NoAdapterError, WebGpuUnavailableError } from '../errors';

/** Optional features the engine uses when present; none is required. */
export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;
export type OptionalFeature = (typeof OPTIONAL_FEATURES)[number];

/** Limits we raise to the adapter's maximum: they bound tensor sizes and kernel designs. */
const LIMITS_TO_RAISE = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const;

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for SwiftShader and other software rasterisers. */
  isFallback: boolean;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: AdapterSummary;
  /** Optional features that were requested and granted. */
  features: Set<OptionalFeature>;
  limits: Record<(typeof LIMITS_TO_RAISE)[number], number>;
  /** Resolves with a DeviceLostError when the device is lost (never rejects). */
  lost: Promise<DeviceLostError>;
  /**
   * WGSL language features of the GPU object (`navigator.gpu.wgslLanguageFeatures`), e.g.
   * packed_4x8_integer_dot_product for the int8 decode GEMV; absent or empty: none known.
   */
  wgslFeatures?: ReadonlySet<string>;
}

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Features to leave off even when present (e.g. to test the float32 path). */
  disableFeatures?: OptionalFeature[];
}

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  const description = info?.description ?? '';
  const isFallback =
    Boolean((info as GPUAdapterInfo & { isFallbackAdapter?: boolean })?.isFallbackAdapter) ||
    /swiftshader/i.test(`${description} ${info?.vendor ?? ''} ${info?.architecture ?? ''}`);
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description,
    isFallback,
  };
}

export async function requestGpu(gpu: GPU | undefined, options: DeviceOptions = {}): Promise<GpuContext> {
  if (!gpu) {
    throw new WebGpuUnavailableError(
      'WebGPU is not available here (navigator.gpu is undefined). Use a recent Chrome or Edge, or Firefox/Safari with ' +
        'WebGPU enabled; pages must be served over https or from localhost.',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new NoAdapterError(
      'WebGPU returned no adapter. The GPU may be blocklisted or have no driver. Under Node on Linux: ' +
        '`apt-get install -y chromium libvulkan1` and run with VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json ' +
        'for the SwiftShader CPU driver.',
    );
  }
  const disabled = new Set(options.disableFeatures ?? []);
  const wanted = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS_TO_RAISE) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures: wanted as GPUFeatureName[], requiredLimits });
  const limits = {} as GpuContext['limits'];
  for (const name of LIMITS_TO_RAISE) limits[name] = device.limits[name];
  const lost = device.lost.then(
    (info) =>
      new DeviceLostError(
        `The GPU device was lost (${info.reason}): ${info.message || 'no message'}. ` +
          'Reload the model; if it repeats, close other GPU-heavy tabs or choose a smaller model or a CPU plan.',
      ),
  );
  const wgslFeatures = new Set<string>(gpu.wgslLanguageFeatures ? [...gpu.wgslLanguageFeatures] : []);
  return { device, adapter: summarizeAdapter(adapter), features: new Set(wanted), limits, lost, wgslFeatures };
}
