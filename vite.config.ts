// One config, three builds (see package.json "build"):
//   vite build              -> dist/web: the static pages (chat, widget demo, bench, smoke) + their workers
//   vite build --mode lib   -> dist/lib: the library (ES module) for bundlers
//   vite build --mode cli   -> dist/cli: the Node CLI (Dawn's `webgpu` package stays external)
//   vite build --mode widget -> dist/web/glm-chat.js: the embeddable <glm-chat> element, one self-contained ES module
import { defineConfig } from 'vite';
import { resolve } from 'node:path';
import { builtinModules } from 'node:module';
import { wgslStripComments } from './scripts/vite-wgsl-strip-comments';

const root = import.meta.dirname;

// Cross-origin isolation lets the CPU fallback use SharedArrayBuffer threads.
export const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig(({ mode }) => {
  if (mode === 'cli') {
    return {
      publicDir: false,
      build: {
        ssr: resolve(root, 'src/cli/main.ts'),
        outDir: resolve(root, 'dist/cli'),
        emptyOutDir: true,
        target: 'node20',
        sourcemap: true,
        rollupOptions: {
          external: ['webgpu', ...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
          output: { entryFileNames: 'main.js', format: 'es' },
        },
      },
      ssr: { noExternal: true, external: ['webgpu'] },
    };
  }
  if (mode === 'widget') {
    // dist/web/glm-chat.js: the <glm-chat> element as ONE ES module (worker and its imports inlined), so a
    // page embeds it with a single script tag. Runs after the pages build, into the same folder.
    return {
      publicDir: false,
      plugins: [wgslStripComments()],
      build: {
        outDir: resolve(root, 'dist/web'),
        emptyOutDir: false,
        target: 'es2022',
        lib: { entry: resolve(root, 'src/ui/widget/glm-chat.ts'), formats: ['es'], fileName: () => 'glm-chat.js' },
        rollupOptions: { output: { inlineDynamicImports: true, minify: true } },
      },
      worker: { format: 'es', plugins: () => [wgslStripComments()], rollupOptions: { output: { inlineDynamicImports: true } } },
    };
  }
  if (mode === 'lib') {
    return {
      publicDir: false,
      build: {
        outDir: resolve(root, 'dist/lib'),
        emptyOutDir: true,
        lib: { entry: resolve(root, 'src/index.ts'), formats: ['es'], fileName: 'glm-webgpu' },
        rollupOptions: { external: ['webgpu', /^node:/] },
      },
      worker: { format: 'es' },
    };
  }
  return {
    root: resolve(root, 'src/ui'),
    publicDir: resolve(root, 'public'),
    base: './',
    build: {
      outDir: resolve(root, 'dist/web'),
      emptyOutDir: true,
      target: 'es2022',
      rollupOptions: {
        input: {
          index: resolve(root, 'src/ui/index.html'),
          'widget-demo': resolve(root, 'src/ui/widget-demo.html'),
          bench: resolve(root, 'src/ui/bench.html'),
          smoke: resolve(root, 'src/ui/smoke.html'),
          'loader-test': resolve(root, 'src/ui/loader-test.html'),
          'engine-test': resolve(root, 'src/ui/engine-test.html'),
        },
      },
    },
    worker: { format: 'es' },
    // 'mpa': a missing file is a real 404, not index.html (an SPA fallback makes a mistyped model URL look
    // like a malformed package, and a Hugging Face folder's absent manifest.json like HTML).
    appType: 'mpa',
    server: { host: '127.0.0.1', headers: isolationHeaders },
    preview: { host: '127.0.0.1', port: 5173, headers: isolationHeaders },
  };
});
