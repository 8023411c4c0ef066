// `glm-webgpu convert --model SOURCE --out DIR [--quant q4|q8|none] [--shard-size 64MiB] [--force]`
// SOURCE: a Hugging Face folder, a .gguf file, a package folder or URL. Streams tensor by tensor
// (src/formats/convert.ts); progress and a final summary with the peak RSS go to stderr.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { convertModel } from '../formats/convert';
import { nodePackageSink } from '../formats/node-package-sink';
import { DEFAULT_SHARD_SIZE, MIN_SHARD_SIZE, PART_ALIGNMENT } from '../formats/package';
import { formatBytes } from '../loader/errors';
import type { QuantChoice } from '../model/quantize-weights';
import { parseChoice } from './args';
import { openModelSource } from './model-source';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 };

/** "64MiB", "64M" (binary: MiB), "500KB" (decimal), "65536"; must be a multiple of 256 and at least 4 KiB. */
export function parseByteSize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unitName = m?.[2]?.toLowerCase() ?? '';
  // A bare K/M/G means the binary unit, as in most tools' size flags.
  const unit = m ? (unitName.length === 1 && unitName !== 'b' ? UNITS[`${unitName}ib`] : UNITS[unitName]) : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError(`"${value}" is not a size (examples: 64MiB, 512KiB, 1GiB, 67108864)`);
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < MIN_SHARD_SIZE || bytes % PART_ALIGNMENT !== 0) {
    throw new InvalidArgumentError(`shard size ${bytes} bytes must be at least ${MIN_SHARD_SIZE} and a multiple of ${PART_ALIGNMENT}`);
  }
  return bytes;
}

interface ConvertCliOptions {
  model: string;
  out: string;
  quant: QuantChoice;
  shardSize: number;
  force?: boolean;
  cacheDir?: string;
}

export function registerConvertCommand(program: Command): void {
  program
    .command('convert')
    .description('convert a model (Hugging Face folder, .gguf file, package) into a glm-webgpu package: manifest.json + shards')
    .requiredOption('--model <path|url>', 'source model: folder (config.json + safetensors, or a package), .gguf file, or package URL')
    .requiredOption('--out <dir>', 'output package folder (created if needed)')
    .option('--quant <q4|q8|none>', 'quantize the matrices (none: keep them as stored)', parseChoice(['none', 'q4', 'q8'] as const), 'q4')
    .option('--shard-size <size>', 'maximum shard size', parseByteSize, DEFAULT_SHARD_SIZE)
    .option('--force', 'replace a package already in --out')
    .option('--cache-dir <dir>', 'download cache for package URLs (default ~/.cache/glm-webgpu)')
    .action(async (opts: ConvertCliOptions) => {
      const t0 = performance.now();
      const log = (line: string) => process.stderr.write(`${line}\n`);
      const files = await openModelSource(opts.model, { cacheDir: opts.cacheDir, log, hubDirect: true });
      const sink = await nodePackageSink(opts.out, { force: opts.force });
      let lastPct = -1;
      const manifest = await convertModel(files, sink, {
        quant: opts.quant,
        shardSize: opts.shardSize,
        createdBy: 'glm-webgpu 0.1.0',
        onProgress: (p) => {
          const pct = Math.floor((100 * p.tensorsDone) / p.tensorsTotal);
          if (pct < lastPct + 5 && p.tensorsDone !== p.tensorsTotal) return;
          lastPct = pct;
          log(`convert: ${pct}% (${p.tensorsDone}/${p.tensorsTotal} tensors, ${formatBytes(p.bytesWritten)} in ${p.shards} shard${p.shards === 1 ? '' : 's'}) ${p.path}`);
        },
      });
      const seconds = (performance.now() - t0) / 1000;
      // resourceUsage().maxRSS is in KiB.
      const peakRss = process.resourceUsage().maxRSS * 1024;
      log(
        `convert: wrote ${Object.keys(manifest.tensors).length} tensors (${manifest.quant}) in ${manifest.shards.length} shards, ` +
          `${formatBytes(manifest.totalBytes)}, to ${sink.location} in ${seconds.toFixed(1)} s; peak RSS ${formatBytes(peakRss)} (${peakRss} bytes)`,
      );
    });
}
