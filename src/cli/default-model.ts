// The embedded demo model (public/models/glm-demo, a tiny GLM-4-architecture chat model trained on
// WordNet; see tools/demo-model/README.md): what `generate` and `chat` use when no --model is given.
// Found like `load('glm-demo')`: its own package if installed, else the copy inside this package.
import { platform } from '#platform';
import { MODEL_REGISTRY } from '../runtime/registry';

export function defaultModelPath(): string {
  return platform.registryLocation(MODEL_REGISTRY['glm-demo']!);
}
