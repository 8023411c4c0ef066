// E2E smoke page. The page, not the worker, computes the CPU expectation and compares, so a
// broken kernel shows up as a failure here.
import * as Comlink from 'comlink';
import { get, set, del } from 'idb-keyval';
import { axpy } from '../cpu/smoke';
import type { SmokeWorkerApi } from '../worker/smoke-worker';

// Same bound as tests/gpu/smoke.test.ts: the GPU may fuse a*x+y into one FMA.
const AXPY_REL_TOL = 2 ** -22;

interface SmokeResult {
  ok: boolean;
  n: number;
  mismatches: number;
  firstMismatch: string | null;
  adapter?: unknown;
  features?: string[];
  idbRoundTrip: boolean;
  error?: string;
}

async function run(): Promise<SmokeResult> {
  const n = 1000;
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
  const y = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.7));
  const alpha = 1.75;

  const worker = new Worker(new URL('../worker/smoke-worker.ts', import.meta.url), { type: 'module' });
  const remote = Comlink.wrap<SmokeWorkerApi>(worker);
  const { out, adapter, features } = await remote.runAxpy(alpha, x, y);
  worker.terminate();

  const want = axpy(alpha, x, y);
  let mismatches = 0;
  let firstMismatch: string | null = null;
  for (let i = 0; i < n; i++) {
    const err = Math.abs(out[i]! - want[i]!);
    if (!(err <= 1e-6 + AXPY_REL_TOL * Math.abs(want[i]!))) {
      mismatches++;
      firstMismatch ??= `failed at index ${i}: got ${out[i]}, expected ${want[i]}`;
    }
  }

  const key = 'glm-webgpu-smoke';
  const stored = { bytes: new Uint8Array([1, 2, 3, 250]), at: Date.now() };
  await set(key, stored);
  const back = await get<typeof stored>(key);
  const idbRoundTrip = !!back && back.at === stored.at && back.bytes.join() === stored.bytes.join();
  await del(key);

  return { ok: mismatches === 0 && idbRoundTrip && out.length === n, n, mismatches, firstMismatch, adapter, features, idbRoundTrip };
}

const status = document.getElementById('status')!;
const pre = document.getElementById('result')!;
run()
  .catch((err: Error): SmokeResult => ({ ok: false, n: 0, mismatches: -1, firstMismatch: null, idbRoundTrip: false, error: `${err.name}: ${err.message}` }))
  .then((result) => {
    pre.textContent = JSON.stringify(result, null, 2);
    pre.dataset.state = result.ok ? 'pass' : 'fail';
    status.textContent = result.ok ? 'PASS: kernel matches the CPU and IndexedDB round trip works' : 'FAIL';
    status.className = result.ok ? 'ok' : 'fail';
  });
