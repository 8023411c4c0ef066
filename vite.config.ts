// One config, three builds (see package.json "build"):
//   vite build              -> dist/web: the static pages (chat, widget demo, bench) + their workers
//   vite build --mode test-pages -> dist/test-pages: the e2e tier's test pages (smoke, engine-test, ...), never shipped
//   vite build --mode lib   -> dist/lib/browser: the library (ES modules) for browsers and bundlers
//   vite build --mode lib-node -> dist/lib/node: the library for Node (Dawn)
//   vite build --mode cli   -> dist/cli: the Node CLI (Dawn's `webgpu` package stays external)
//   vite build --mode widget -> dist/web/glm-chat.js: the embeddable <glm-chat> element (one script tag) + its worker files beside it
import { defineConfig, type Plugin, type UserConfig } from 'vite';
import { resolve } from 'node:path';
import { builtinModules } from 'node:module';
import { wgslStripComments } from './scripts/vite-wgsl-strip-comments';

const root = import.meta.dirname;

/** The e2e tier's test pages (src/ui/<name>.html): built into dist/test-pages, never into dist/web. */
export const TEST_PAGES = ['smoke', 'engine-test', 'loader-test', 'attachments-test'];

// Cross-origin isolation lets the CPU fallback use SharedArrayBuffer threads.
export const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * Library builds: Vite writes a worker reference as
 * `new Worker(new URL(new URL("assets/x.js", import.meta.url).href, "" + import.meta.url))`, a form no
 * bundler recognises as a worker. Rewrite it to the plain `new Worker(new URL("./assets/x.js",
 * import.meta.url))` that Vite, webpack 5 and browsers all understand, so an app bundling the library
 * from node_modules bundles (or copies) the worker with it.
 */
function plainWorkerUrls(): Plugin {
  const viteForm = /new URL\(\s*(?:\/\*\s*@vite-ignore\s*\*\/\s*)?new URL\((["'`])([^"'`]+)\1,\s*import\.meta\.url\)\.href,\s*(["'`])\3\s*\+\s*import\.meta\.url\s*\)/g;
  return {
    name: 'glm-plain-worker-urls',
    renderChunk(code) {
      if (!viteForm.test(code)) return null;
      viteForm.lastIndex = 0;
      return { code: code.replace(viteForm, (_m, _q, path: string) => `new URL(${JSON.stringify(path.startsWith('.') ? path : `./${path}`)}, import.meta.url)`), map: null };
    },
  };
}

export default defineConfig(({ mode }): UserConfig => {
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
    // dist/web/glm-chat.js: the <glm-chat> element as one ES module, so a page embeds it with a single
    // script tag. Runs after the pages build, into the same folder.
    // Its engine worker is a file beside it (glm-chat-engine-worker.js, found relative to glm-chat.js), not a
    // blob: URL, so the widget works under a strict CSP (`worker-src 'self'`); see README "Content-Security-Policy".
    return {
      publicDir: false,
      base: './',
      plugins: [wgslStripComments()],
      build: {
        outDir: resolve(root, 'dist/web'),
        emptyOutDir: false,
        target: 'es2022',
        lib: { entry: resolve(root, 'src/ui/widget/glm-chat.ts'), formats: ['es'], fileName: () => 'glm-chat.js' },
        rollupOptions: { output: { inlineDynamicImports: true, minify: true } },
      },
      worker: { format: 'es', plugins: () => [wgslStripComments()], rollupOptions: { output: { inlineDynamicImports: true, entryFileNames: 'glm-chat-[name].js' } } },
    };
  }
  if (mode === 'lib') {
    // dist/lib/browser: the library for browsers and bundlers (the package's "browser"/"default" export),
    // plus its worker entry. Dependencies are bundled in, so the files also work as plain ES modules from
    // a static folder or CDN. Workers are emitted beside them under fixed names and referenced as
    // `new Worker(new URL('./assets/engine-worker.js', import.meta.url))`, the form Vite, webpack 5 and
    // browsers all resolve relative to the library file itself (base './').
    return {
      publicDir: false,
      base: './',
      build: {
        outDir: resolve(root, 'dist/lib/browser'),
        emptyOutDir: true,
        target: 'es2022',
        lib: {
          entry: { 'glm-webgpu': resolve(root, 'src/index.ts'), worker: resolve(root, 'src/worker/engine-worker.ts') },
          formats: ['es'],
          fileName: (_format, name) => `${name}.js`,
        },
        rollupOptions: { output: { chunkFileNames: 'chunks/[name]-[hash].js' } },
      },
      plugins: [plainWorkerUrls()],
      // Each worker is one self-contained file: an app's bundler may copy it as a plain asset.
      worker: {
        format: 'es',
        plugins: () => [plainWorkerUrls()],
        rollupOptions: { output: { entryFileNames: 'assets/[name].js', codeSplitting: false } },
      },
    };
  }
  if (mode === 'lib-node') {
    // dist/lib/node: the library for Node (the package's "node" export): Dawn through the optional
    // `webgpu` package, model folders on disk; dependencies stay imports of the installed packages.
    return {
      publicDir: false,
      build: {
        ssr: true,
        outDir: resolve(root, 'dist/lib/node'),
        emptyOutDir: true,
        target: 'node20',
        rollupOptions: {
          input: { 'glm-webgpu': resolve(root, 'src/index.ts') },
          output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
        },
      },
    };
  }
  if (mode === 'test-pages') {
    // dist/test-pages: pages that exist only for the e2e tier (they drive the engine, loader and attachments
    // below the chat UI). Built apart so that dist/web, the folder a site deploys, holds only real pages.
    // The e2e harness serves this folder layered over dist/web (the models and test models live there).
    return {
      root: resolve(root, 'src/ui'),
      publicDir: false,
      base: './',
      build: {
        outDir: resolve(root, 'dist/test-pages'),
        emptyOutDir: true,
        target: 'es2022',
        rollupOptions: { input: Object.fromEntries(TEST_PAGES.map((name) => [name, resolve(root, `src/ui/${name}.html`)])) },
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
