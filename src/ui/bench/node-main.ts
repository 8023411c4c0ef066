// The bench page's suite under Node + Dawn (no DOM): the same measurements on a machine without a
// browser, e.g. the GPU machine. Bundle it with Vite (it imports a .wgsl?raw) keeping `webgpu` external:
//   node --input-type=module -e "import {build} from 'vite'; await build({configFile: false, logLevel: 'warn',
//     build: {ssr: 'src/ui/bench/node-main.ts', outDir: 'dist/bench-node', target: 'node20',
//     rollupOptions: {external: ['webgpu', /^node:/], output: {entryFileNames: 'bench.mjs', format: 'es'}}},
//     ssr: {noExternal: true, external: ['webgpu']}})"
//   node dist/bench-node/bench.mjs --preset glm-4-9b --layers 4 [--vocab N] [--prompt 64] [--decode 32] [--json out.json]
import { writeFileSync } from 'node:fs';
import { createNodeGpu } from '../../gpu/node-gpu';
import { isPresetName } from '../../model/presets';
import { runBenchSuite, type BenchOptions } from './suite';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const preset = arg('preset') ?? 'glm-4-9b';
  if (!isPresetName(preset)) throw new Error(`unknown preset "${preset}"`);
  const vocab = arg('vocab');
  const options: BenchOptions = {
    preset,
    layers: Number(arg('layers') ?? 4),
    promptTokens: Number(arg('prompt') ?? 64),
    decodeTokens: Number(arg('decode') ?? 32),
    ...(vocab ? { vocab: Number(vocab) } : {}),
    onProgress: (m) => console.error(m),
  };
  const gpu = await createNodeGpu((process.env.GLM_WEBGPU_DAWN_FLAGS ?? '').split(',').filter(Boolean));
  const r = await runBenchSuite(gpu, options);
  const g = (bps: number) => `${(bps / 1e9).toFixed(1)} GB/s`;
  console.log(`adapter: ${r.adapter.vendor} ${r.adapter.architecture} ${r.adapter.description}`);
  console.log(`read bandwidth: ${g(r.readBandwidth.bytesPerSec)} (${r.readBandwidth.timing.method})`);
  console.log(`dispatch overhead: ${r.dispatchOverhead.microsPerDispatch.toFixed(2)} us dependent, ${r.dispatchOverhead.independentMicrosPerDispatch.toFixed(2)} us independent (${r.dispatchOverhead.timing.method})`);
  for (const k of r.kernels) console.log(`kernel ${k.name}${k.gemv ? ` (${k.gemv})` : ''} ${k.rows}x${k.cols}: ${g(k.bytesPerSec)} = ${k.percentOfRead.toFixed(0)}% of read, ${k.microsPerCall.toFixed(1)} us/call`);
  if (r.model) {
    const m = r.model;
    console.log(`model ${m.preset} ${m.layers}/${m.presetLayers} layers vocab ${m.vocab}: prefill ${m.prefill.tokensPerSec.toFixed(1)} tok/s (${m.prefill.tokens} tokens), decode ${m.decode.tokensPerSec.toFixed(1)} tok/s = ${g(m.decode.bytesPerSec)} = ${m.decode.percentOfRead.toFixed(0)}% of read; full model estimate ${m.fullModelDecodeEstimate.toFixed(1)} tok/s`);
  }
  for (const e of r.errors) console.log(`error in ${e.part}: ${e.name}: ${e.message}`);
  const out = arg('json');
  if (out) writeFileSync(out, JSON.stringify(r, null, 2));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
