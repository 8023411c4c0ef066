// The converter carries GLM-4V's vision tower into a package (matrices in the chosen format, the tower's
// tables in f32), and a model loaded back from the package answers like the checkpoint it came from.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CpuOps } from '../../src/cpu/ops';
import { convertModel } from '../../src/formats/convert';
import { nodeModelFiles } from '../../src/formats/node-files';
import { nodePackageSink } from '../../src/formats/node-package-sink';
import { loadModelFolder } from '../../src/model/load';
import { ModelSession } from '../../src/runtime/session';
import { quantizeWeightAt } from '../../src/model/quantize-weights';
import { expectAllClose, maxAbsDiff } from '../helpers/compare';
import { LOGITS_ATOL } from '../helpers/fixtures';
import { GLM4V_DIR, glm4vExpected, glm4vImage } from '../helpers/glm4v-fixture';

async function promptLogits(model: Awaited<ReturnType<typeof loadModelFolder>>): Promise<Float32Array> {
  const ops = new CpuOps();
  const session = new ModelSession(ops, model.config, model.weights, 64, model.vision);
  return ops.read(await session.appendPrompt({ ids: glm4vExpected().prompt_ids, images: [glm4vImage()] }, 'all'));
}

describe('GLM-4V packages', () => {
  it.each(['none', 'q4'] as const)('converted with quant %s: the tower is in the manifest and the package answers like the checkpoint', async (quant) => {
    const dir = join(mkdtempSync(join(tmpdir(), 'glm4v-pkg-')), 'pkg');
    const manifest = await convertModel(nodeModelFiles(GLM4V_DIR), await nodePackageSink(dir), { quant });
    const tower = Object.keys(manifest.tensors).filter((p) => p.startsWith('vision.'));
    expect(tower).toContain('vision.layers.1.fc2.weight');
    expect(tower).toContain('vision.glu.gateUp');
    expect(manifest.tensors['vision.positions']!.dtype).toBe('f32'); // tables stay float32
    expect(manifest.tensors['vision.layers.0.qkv.weight']!.dtype).toBe(quant === 'q4' ? 'q4' : 'f32');

    const fromPackage = await promptLogits(await loadModelFolder(nodeModelFiles(dir)));
    // The same weights loaded straight from the checkpoint, quantized on load by the backends' rule.
    const direct = await promptLogits(await loadModelFolder(nodeModelFiles(GLM4V_DIR), { convert: (w, path) => quantizeWeightAt(w, path, quant) }));
    expect(maxAbsDiff(fromPackage, direct)).toBe(0);
    if (quant === 'none') {
      const V = 3013;
      glm4vExpected().prompt_logits.forEach((want, r) => expectAllClose(fromPackage.subarray(r * V, (r + 1) * V), want, { atol: LOGITS_ATOL, label: `package row ${r}` }));
    }
  });
});
