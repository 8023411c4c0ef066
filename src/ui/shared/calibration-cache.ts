// The calibration (runtime/calibration.ts) the chat page, the widget and the bench page share: measured
// once per adapter and browser by the engine's worker, kept in localStorage under a key naming both, so a
// reload (or another page of the site) reuses it. A browser update or another GPU gives a new key, and so
// a new measurement.
import { CALIBRATION_VERSION, type Calibration } from '../../index';

/** What the key needs to know of the browser (a BrowserGpu has it; browserForCalibration() gets it lightly). */
export interface CalibrationBrowser {
  status: string;
  info: { vendor: string; architecture: string; description: string };
  crossOriginIsolated: boolean;
}

/** The adapter's name and the isolation state, without the planner (the widget's bundle stays small). */
export async function browserForCalibration(): Promise<CalibrationBrowser> {
  const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  const info = adapter?.info;
  return {
    status: adapter ? 'ok' : 'no-adapter',
    info: { vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', description: info?.description ?? '' },
    crossOriginIsolated: isolated,
  };
}

const STORAGE_KEY = 'glm-webgpu.calibration';

/** What the figures depend on: the adapter, the browser build, threads (isolation, cores). */
export function calibrationKey(gpu: CalibrationBrowser): string {
  const adapter = gpu.status === 'ok' ? [gpu.info.vendor, gpu.info.architecture, gpu.info.description].join('/') : 'no-webgpu';
  const threads = `${gpu.crossOriginIsolated ? 'isolated' : 'not-isolated'}/${typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : 1}`;
  return `v${CALIBRATION_VERSION}|${adapter}|${threads}|${typeof navigator !== 'undefined' ? navigator.userAgent : ''}`;
}

function readAll(): Record<string, Calibration> {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Record<string, Calibration>) : {};
  } catch {
    return {}; // storage disabled or corrupt: measure again
  }
}

export function cachedCalibration(gpu: CalibrationBrowser): Calibration | null {
  const c = readAll()[calibrationKey(gpu)];
  return c && c.version === CALIBRATION_VERSION && c.cpu ? c : null;
}

export function storeCalibration(gpu: CalibrationBrowser, c: Calibration): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ ...readAll(), [calibrationKey(gpu)]: c }));
  } catch {
    // No storage (private mode, quota): the figures still serve this page.
  }
}

export function forgetCalibration(): void {
  try {
    localStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
}

/** The cached calibration for this adapter and browser, or a new one measured by `measure` (and cached). */
export async function ensureCalibration(gpu: CalibrationBrowser, measure: () => Promise<Calibration>): Promise<{ calibration: Calibration; cached: boolean }> {
  const cached = cachedCalibration(gpu);
  if (cached) return { calibration: cached, cached: true };
  const calibration = await measure();
  storeCalibration(gpu, calibration);
  return { calibration, cached: false };
}
