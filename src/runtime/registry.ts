// Models known by id: `engine.load('glm-demo')`. A browser loads the URL relative to the page; Node
// loads the model's own package if one is installed, else the folder inside this package (see
// registryLocation in src/platform/).

export interface RegistryEntry {
  /** Folder URL relative to the page (browsers). */
  url: string;
  /** Folder relative to the package root (Node). */
  path: string;
  /** An npm package that holds the same folder, preferred under Node when installed. */
  packageName?: string;
  description: string;
}

export const MODEL_REGISTRY: Readonly<Record<string, RegistryEntry>> = {
  'glm-demo': {
    url: 'models/glm-demo/',
    path: 'public/models/glm-demo',
    packageName: 'glm-webgpu-demo-model',
    description: 'Embedded demo: a 20M-parameter GLM-4-architecture model trained on WordNet definitions (q4, 11.5 MB)',
  },
};

export function registryEntry(source: string): RegistryEntry | undefined {
  return Object.hasOwn(MODEL_REGISTRY, source) ? MODEL_REGISTRY[source] : undefined;
}
