// `glm-webgpu bench`: the benchmark suite of the bench page under Node + Dawn (src/ui/bench/suite.ts):
// the adapter's read bandwidth and dispatch overhead, q4 GEMV GB/s per matrix of the preset, and
// prefill/decode tok/s of a random-weight INT4 model with the preset's exact shapes (no download).
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { createNodeGpu } from '../gpu/node-gpu';
import { presetNames, PRESETS, type PresetName } from '../model/presets';
import { runBenchSuite } from '../ui/bench/suite';
import { BENCH_GGUF_TYPES, type BenchGgufType } from '../ui/bench/gguf-mix';
import { formatFlops, formatGBps, formatMs } from '../ui/shared/format';
import { parseChoice, parseNonNegativeInt } from './args';
import type { GemvArithmetic } from '../gpu/ops';

const GEMV_KINDS: readonly GemvArithmetic[] = ['int8', 'float'];

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('benchmark the GPU with a random-weight INT4 model of a GLM preset (no download)')
    .requiredOption('--preset <name>', `one of ${presetNames.join(', ')}`, parseChoice(presetNames))
    .option('--layers <n>', "layers of the random model (default: the preset's)", parseNonNegativeInt)
    .option('--prompt <n>', 'prompt tokens for the prefill measurement', parseNonNegativeInt, 512)
    .option('--decode <n>', 'tokens to decode after the prompt', parseNonNegativeInt, 128)
    .option('--vocab <n>', "vocabulary of the random model (default: the preset's)", parseNonNegativeInt)
    .option('--f16', 'f16 activations and KV cache (asks Dawn for shader-f16 on NVIDIA: toggle vulkan_enable_f16_on_nvidia)')
    .option('--sweep', 'also time the decode GEMV at every launch shape of the sweep (both arithmetics)')
    .option('--gemv <kind>', "the decode GEMV's arithmetic for the model run: int8 (dot4I8Packed; the default where WGSL has it) or float", parseChoice(GEMV_KINDS))
    .option('--gemv-qx <kind>', 'the same for the QX matrices of a --gguf-type model: int8 or float (the default)', parseChoice(GEMV_KINDS))
    .option('--gguf-type <type>', `build the model in llama-quantize's type mix for this GGUF file type (${BENCH_GGUF_TYPES.join(', ')}) instead of plain q4`, parseChoice(BENCH_GGUF_TYPES))
    .option('--no-pipeline', 'decode with the simple step (submit, wait for the id, repeat) instead of pipelined steps: the baseline')
    .option('--json [file]', 'print the report as JSON (or write it to a file)')
    .action(async (opts: {
      preset: PresetName; layers?: number; prompt: number; decode: number; vocab?: number; f16?: boolean; sweep?: boolean;
      ggufType?: BenchGgufType; json?: boolean | string; pipeline: boolean; gemv?: GemvArithmetic; gemvQx?: GemvArithmetic;
    }) => {
      const flags = opts.f16 ? ['enable-dawn-features=vulkan_enable_f16_on_nvidia'] : [];
      const gpu = await createNodeGpu(flags);
      const report = await runBenchSuite(gpu, {
        preset: opts.preset,
        layers: opts.layers ?? PRESETS[opts.preset].numLayers,
        promptTokens: Math.max(1, opts.prompt),
        decodeTokens: Math.max(1, opts.decode),
        ...(opts.vocab ? { vocab: opts.vocab } : {}),
        f16: opts.f16 ?? false,
        sweep: opts.sweep ?? false,
        pipeline: opts.pipeline,
        ...(opts.ggufType ? { ggufType: opts.ggufType } : {}),
        ...(opts.gemv ? { gemv: opts.gemv } : {}),
        ...(opts.gemvQx ? { gemvQx: opts.gemvQx } : {}),
        onProgress: (m) => process.stderr.write(`${m}\n`),
      });
      if (opts.json) {
        const text = JSON.stringify(report, null, 2);
        if (typeof opts.json === 'string') writeFileSync(opts.json, `${text}\n`);
        else process.stdout.write(`${text}\n`);
        return;
      }
      // Units that keep small and large figures readable (issue #16: "565968.9 us", "0.0 GB/s").
      const g = (bps: number) => formatGBps(bps);
      const t = (micros: number) => formatMs(micros / 1000);
      const out: string[] = [];
      out.push(`adapter: ${report.adapter.vendor} ${report.adapter.architecture} ${report.adapter.description}; features: ${report.features.join(', ')}`);
      out.push(`read bandwidth: ${g(report.readBandwidth.bytesPerSec)} (${report.readBandwidth.timing.method})`);
      out.push(`dispatch overhead: ${t(report.dispatchOverhead.microsPerDispatch)}/dispatch`);
      out.push(`f32 FMA rate: ${formatFlops(report.fmaRate.flopsPerSec)} (${report.fmaRate.timing.method}); activations ${report.activations}`);
      for (const k of report.kernels) {
        out.push(`  ${k.name} ${k.rows}x${k.cols} ${k.kernel} (${k.gemv}${k.chosen ? ', chosen' : ''}): ${t(k.microsPerCall)}, ${g(k.bytesPerSec)} = ${k.percentOfRead.toFixed(1)}% of read bandwidth`);
      }
      if (report.model) {
        const m = report.model;
        out.push(
          `model ${m.preset} (${m.layers}/${m.presetLayers} layers, vocab ${m.vocab}): prefill ${m.prefill.tokensPerSec.toFixed(1)} tok/s ` +
            `(${m.prefill.percentOfFma.toFixed(1)}% of the FMA rate, first token after ${(m.prefill.ttftSeconds * 1000).toFixed(1)} ms), ` +
            `decode ${m.decode.tokensPerSec.toFixed(1)} tok/s = ${g(m.decode.bytesPerSec)} = ${m.decode.percentOfRead.toFixed(1)}% of read bandwidth; ` +
            `${m.decode.dispatchesPerStep} dispatches per step, ${m.decode.pipelined ? 'pipelined' : 'simple'} steps, ${m.decode.gemv} GEMV (QX ${m.decode.gemvQx}): ` +
            `${m.decode.encodeMsPerToken.toFixed(2)} ms recording and ${m.decode.waitMsPerToken.toFixed(2)} ms waiting per step; ` +
            `GPU memory ${(m.gpuBytes.allocated / 2 ** 20).toFixed(0)} MiB`,
        );
        if (m.gguf) {
          const mix = Object.entries(m.gguf.typeCounts).map(([t, n]) => `${t} x${n}`).join(', ');
          out.push(
            `GGUF ${m.gguf.fileType} mix (${mix}): decode reads ${(m.bytesPerToken / 2 ** 20).toFixed(0)} MiB a token; ` +
              `its matrices take ${(m.gguf.fileBytesPerToken / 2 ** 20).toFixed(0)} MiB in the file, read on the GPU as ${(100 * (m.gguf.gpuOverFile - 1)).toFixed(1)}% more`,
          );
        }
        if (m.decodeProfile) {
          out.push(`decode GPU time ${m.decodeProfile.gpuMsPerToken.toFixed(3)} ms/token; by kernel:`);
          for (const k of m.decodeProfile.kernels.slice(0, 12)) out.push(`  ${k.kernel}: ${t(k.microsPerToken)}/token (${k.callsPerToken} calls)`);
        }
      }
      for (const e of report.errors) out.push(`error in ${e.part}: ${e.name}: ${e.message}`);
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
