// Nothing of the repository itself may end up in a build output: no root file (README, package.json,
// package-lock.json, tsconfig) copied as an asset or inlined as a string, and no Node-only module in the
// browser builds. Scans dist/ as `npm run build` left it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './pack';
import { TEST_PAGES } from '../../vite.config';

const DIST = join(REPO, 'dist');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** A line of each root file that no build has a reason to contain. */
function rootFileMarkers(): { file: string; marker: string }[] {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8').split('\n').find((l) => l.startsWith('An open-source TypeScript engine'));
  return [
    { file: 'README.md', marker: readme! },
    { file: 'package.json', marker: '"devDependencies"' },
    { file: 'package-lock.json', marker: '"lockfileVersion"' },
    { file: 'tsconfig.json', marker: '"verbatimModuleSyntax"' },
  ];
}

describe('pkg: build outputs', () => {
  const files = filesUnder(DIST).filter((f) => !relative(DIST, f).startsWith(`web${'/'}models${'/'}`));

  it('hold no repository root file, by name or by content', () => {
    expect(files.length).toBeGreaterThan(20);
    const byName = files.filter((f) => /(^|[/\\])(README[^/\\]*|package(-lock)?[^/\\]*\.json|tsconfig[^/\\]*\.json|LICENSE[^/\\]*)$/i.test(f));
    expect(byName.map((f) => relative(DIST, f))).toEqual([]);
    const markers = rootFileMarkers();
    expect(markers.every((m) => m.marker && m.marker.length > 10)).toBe(true);
    const hits: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'latin1');
      for (const m of markers) if (text.includes(m.marker)) hits.push(`${relative(DIST, file)} contains ${m.file}`);
    }
    expect(hits).toEqual([]);
  });

  it('dist/web, the folder a site deploys, holds the real pages and none of the e2e test pages', () => {
    const web = join(DIST, 'web');
    const pages = readdirSync(web).filter((f) => f.endsWith('.html')).sort();
    expect(pages).toEqual(expect.arrayContaining(['bench.html', 'index.html', 'widget-demo.html']));
    expect(pages.filter((f) => TEST_PAGES.includes(f.replace(/\.html$/, '')))).toEqual([]);
    // Nor their scripts: each test page's entry chunk is named after it.
    const testChunks = filesUnder(web).filter((f) => TEST_PAGES.some((name) => relative(web, f).split(/[/\\]/).pop()!.startsWith(`${name}-`)));
    expect(testChunks.map((f) => relative(DIST, f))).toEqual([]);
  });

  it('browser builds import no Node module and no Dawn (`webgpu`)', () => {
    const browserFiles = files.filter((f) => /\.js$/.test(f) && /^(lib[/\\]browser|web)[/\\]/.test(relative(DIST, f)));
    expect(browserFiles.length).toBeGreaterThan(5);
    const nodeImport = /(?:from\s*|import\s*\(\s*|import\s+)["'`](?:node:[\w/]+|webgpu|fs|path|os|worker_threads)["'`]/;
    const offenders = browserFiles.filter((f) => nodeImport.test(readFileSync(f, 'utf8'))).map((f) => relative(DIST, f));
    expect(offenders).toEqual([]);
  });
});
