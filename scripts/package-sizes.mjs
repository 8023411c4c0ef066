// The sizes README "Install and use" states, measured from the current build (run `npm run build` first):
//   node scripts/package-sizes.mjs            bundles (raw and gzip) and the packed/unpacked tarball
//   node scripts/package-sizes.mjs --install  also installs the tarball into fresh folders under the OS temp
//                                             directory, without and with the optional `webgpu` (network or
//                                             npm cache needed), and reports node_modules sizes
// gzip is zlib's default level, the one static hosts and Vite's build report use. MB = 10^6 bytes, as npm.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const REPO = resolve(import.meta.dirname, '..');
const DIST = join(REPO, 'dist');

/** Plain files under dir (symbolic links, e.g. node_modules/.bin, are not counted twice). */
function filesUnder(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const stat = lstatSync(path);
    return stat.isDirectory() ? filesUnder(path) : stat.isFile() ? [path] : [];
  });
}

const kb = (n) => `${Math.round(n / 1000)} KB`;
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

/** Raw and gzip bytes of a set of files (gzip per file: each is fetched on its own). */
function measure(files) {
  let raw = 0;
  let gzip = 0;
  for (const file of files) {
    const bytes = readFileSync(file);
    raw += bytes.byteLength;
    gzip += gzipSync(bytes).byteLength;
  }
  return { files: files.map((f) => relative(DIST, f)), raw, gzip };
}

const lib = join(DIST, 'lib/browser');
const bundles = {
  // The library as an app imports it: the entry and the chunks it loads (not the worker files).
  'browser library (glm-webgpu.js + chunks/)': measure([join(lib, 'glm-webgpu.js'), ...filesUnder(join(lib, 'chunks')).filter((f) => f.endsWith('.js'))]),
  // The engine worker the library starts by itself: one self-contained file.
  'engine worker (assets/engine-worker.js)': measure([join(lib, 'assets/engine-worker.js')]),
  'widget (glm-chat.js)': measure([join(DIST, 'web/glm-chat.js')]),
  'widget worker (glm-chat-engine-worker.js)': measure([join(DIST, 'web/glm-chat-engine-worker.js')]),
};
for (const [name, m] of Object.entries(bundles)) console.log(`${name}: ${kb(m.raw)} raw, ${kb(m.gzip)} gzip (${m.files.length} file${m.files.length > 1 ? 's' : ''})`);

const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const packDir = mkdtempSync(join(tmpdir(), 'glm-sizes-'));
try {
  const [pack] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], REPO));
  const demo = pack.files.filter((f) => f.path.startsWith('public/models/glm-demo/')).reduce((n, f) => n + f.size, 0);
  console.log(`tarball ${pack.filename}: ${mb(pack.size)} packed, ${mb(pack.unpackedSize)} unpacked (${pack.entryCount} files), of which the demo model ${mb(demo)}`);
  if (process.argv.includes('--install')) {
    const tarball = join(packDir, pack.filename);
    for (const optional of [false, true]) {
      const app = mkdtempSync(join(tmpdir(), 'glm-sizes-app-'));
      try {
        writeFileSync(join(app, 'package.json'), '{ "name": "sizes-app", "private": true }\n');
        npm(['install', tarball, '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', ...(optional ? [] : ['--omit=optional'])], app);
        const modules = join(app, 'node_modules');
        const bytes = (dir) => filesUnder(dir).reduce((n, f) => n + statSync(f).size, 0);
        const all = bytes(modules);
        const own = bytes(join(modules, 'glm-webgpu'));
        console.log(`installed ${optional ? 'with' : 'without'} the optional webgpu: node_modules ${mb(all)} (glm-webgpu ${mb(own)}, its dependencies ${mb(all - own)})`);
      } finally {
        rmSync(app, { recursive: true, force: true });
      }
    }
  }
} finally {
  rmSync(packDir, { recursive: true, force: true });
}
