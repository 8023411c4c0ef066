// Bundles tests/gpu/device-check.ts into dist/gpu-check/device-check.mjs for the GPU machine, which has
// Node and Dawn (.device/) but no node_modules: everything is inlined except the 'webgpu' package.
import { build } from 'vite';

await build({
  configFile: false,
  publicDir: false,
  logLevel: 'warn',
  build: {
    ssr: 'tests/gpu/device-check.ts',
    outDir: 'dist/gpu-check',
    emptyOutDir: true,
    minify: false,
    target: 'node22',
    rollupOptions: { external: ['webgpu'], output: { entryFileNames: 'device-check.mjs' } },
  },
  ssr: { noExternal: true, external: ['webgpu'] },
});
