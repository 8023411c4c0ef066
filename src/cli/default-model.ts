// The embedded demo model (public/models/glm-demo, a tiny GLM-4-architecture chat model trained on
// WordNet; see tools/demo-model/README.md): what `generate` and `chat` use when no --model is given.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function defaultModelPath(): string {
  // From src/cli/ (tests) or dist/cli/ (the built CLI), the package root is two folders up.
  const path = fileURLToPath(new URL('../../public/models/glm-demo', import.meta.url));
  return existsSync(path) ? path : 'public/models/glm-demo';
}
