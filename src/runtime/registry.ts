// Models known by id: `engine.load('glm-demo')`. A browser loads the URL relative to the page; Node
// loads the folder beside the package (public/models/...).

export interface RegistryEntry {
  /** Folder URL relative to the page (browsers). */
  url: string;
  /** Folder relative to the package root (Node). */
  path: string;
  description: string;
}

export const MODEL_REGISTRY: Readonly<Record<string, RegistryEntry>> = {
  'glm-demo': {
    url: 'models/glm-demo/',
    path: 'public/models/glm-demo',
    description: 'Embedded demo: a 20M-parameter GLM-4-architecture model trained on WordNet definitions (q4, 11.5 MB)',
  },
};

export function registryEntry(source: string): RegistryEntry | undefined {
  return Object.hasOwn(MODEL_REGISTRY, source) ? MODEL_REGISTRY[source] : undefined;
}
