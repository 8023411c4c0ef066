// Worker side of the e2e smoke page: owns a WebGPU device, runs the smoke kernel, answers
// through comlink. Proves that the architecture (GPU in a worker, comlink to the page) works.
import * as Comlink from 'comlink';
import { requestGpu } from '../gpu/device';
import { runAxpyKernel } from '../gpu/smoke';

const api = {
  async runAxpy(alpha: number, x: Float32Array, y: Float32Array) {
    const ctx = await requestGpu(self.navigator.gpu);
    try {
      const out = await runAxpyKernel(ctx.device, alpha, x, y);
      return { out, adapter: ctx.adapter, features: [...ctx.features] };
    } finally {
      ctx.device.destroy();
    }
  },
};

export type SmokeWorkerApi = typeof api;
Comlink.expose(api);
