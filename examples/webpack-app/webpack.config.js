// webpack 5 bundles glm-webgpu's engine worker by itself: the library starts it with
// `new Worker(new URL('./assets/engine-worker.js', import.meta.url), { type: 'module' })`.
import { copyFileSync, mkdirSync } from 'node:fs';

export default {
  mode: 'production',
  entry: './src/index.js',
  experiments: { topLevelAwait: true },
  output: { path: new URL('./dist', import.meta.url).pathname, clean: true },
  plugins: [
    {
      apply(compiler) {
        compiler.hooks.afterEmit.tap('copy-html', () => {
          mkdirSync('dist', { recursive: true });
          copyFileSync('index.html', 'dist/index.html');
        });
      },
    },
  ],
};
