// Dispatches shaders/matmul_gemm.wgsl with chosen override constants, outside GpuOps (which always
// takes src/gpu/gemm-tiling.ts's choice): the tile-shape tests and the GEMM bench use it to run every
// tile shape on the same data. Buffers come from GpuOps (upload, uploadWeight); the result is written
// into a tensor's buffer, so GpuOps.read returns it.
import { PipelineCache, moduleSource } from '../../src/gpu/pipelines';
import type { GpuActDtype, GpuWeight } from '../../src/gpu/tensor';

export interface GemmDispatch {
  /** matmul_gemm.wgsl overrides (THREADS_X, THREADS_Y, ROW_VECS, TOKEN_VECS). */
  constants: Record<string, number>;
  /** The grid for a weight part of `rows` rows (GemmTiling.grid). */
  grid: (rows: number) => [number, number, number];
  n: number;
  weight: GpuWeight;
  x: GPUBuffer;
  out: GPUBuffer;
  bias?: GPUBuffer;
  residual?: GPUBuffer;
  residualScale?: number;
  /** Another kernel text with the same bindings in place of matmul_gemm.wgsl (the bench's baseline). */
  source?: string;
}

export class GemmRunner {
  private readonly cache: PipelineCache;
  private readonly dummy: GPUBuffer;
  private readonly uniforms: GPUBuffer[] = [];

  constructor(
    readonly device: GPUDevice,
    readonly act: GpuActDtype,
  ) {
    this.cache = new PipelineCache(device);
    this.dummy = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  }

  /** Builds the pipeline, uniforms and bind groups once; the returned function encodes the dispatches (one per weight part). */
  prepare(d: GemmDispatch): (pass: GPUComputePassEncoder) => void {
    const w = d.weight;
    const constants = w.format === 'q4' ? { ...d.constants, W_ASYMMETRIC: w.asymmetric ? 1 : 0 } : d.constants;
    const req = { kernel: 'matmulGemm' as const, format: w.format, act: this.act, constants };
    const p = this.cache.get(req);
    let pipeline = p.pipeline;
    if (d.source !== undefined) {
      const marker = '// ---- matmul_gemm.wgsl ----';
      const code = `${moduleSource(req).split(marker)[0]!}${marker}\n${d.source}`;
      pipeline = this.device.createComputePipeline({
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [p.layout] }),
        compute: { module: this.device.createShaderModule({ code }), entryPoint: 'main', constants },
      });
    }
    const steps = w.parts.map((part) => {
      const uniform = this.device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.uniforms.push(uniform);
      const params = new ArrayBuffer(48);
      new Uint32Array(params).set([d.n, w.cols, part.rows, part.rowStart, w.rows, d.bias ? 1 : 0, d.residual ? 1 : 0]);
      new Float32Array(params)[7] = d.residualScale ?? 1;
      this.device.queue.writeBuffer(uniform, 0, params);
      const weightBuffers = w.format === 'q4' && !w.asymmetric ? [...part.buffers, this.dummy] : [...part.buffers];
      const buffers = [d.x, d.out, d.bias ?? this.dummy, d.residual ?? this.dummy, ...weightBuffers];
      const group = this.device.createBindGroup({
        layout: p.layout,
        entries: p.bindings.map((binding, i) =>
          i === 0 ? { binding, resource: { buffer: uniform, size: 48 } } : { binding, resource: { buffer: buffers[i - 1]! } },
        ),
      });
      return { group, grid: d.grid(part.rows) };
    });
    return (pass) => {
      pass.setPipeline(pipeline);
      for (const s of steps) {
        pass.setBindGroup(0, s.group);
        pass.dispatchWorkgroups(...s.grid);
      }
    };
  }

  /** Encodes and submits one GEMM; throws the pipeline's compile error, if any. */
  async run(d: GemmDispatch): Promise<void> {
    const enc = this.device.createCommandEncoder();
    const encode = this.prepare(d);
    await this.cache.takeErrors();
    const pass = enc.beginComputePass();
    encode(pass);
    pass.end();
    this.device.queue.submit([enc.finish()]);
    await this.device.queue.onSubmittedWorkDone();
  }

  dispose(): void {
    for (const u of this.uniforms) u.destroy();
    this.uniforms.length = 0;
    this.dummy.destroy();
  }
}
