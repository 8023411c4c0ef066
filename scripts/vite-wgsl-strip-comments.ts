// A Vite plugin for the one-file widget build (vite.config.ts, mode "widget"): WGSL imported with ?raw
// loses its comments and blank lines there. The shaders' comments explain layouts and are half their
// bytes; the widget is inlined into one file with a size limit (tests/e2e/widget.test.ts), and nobody
// reads its shaders. The other builds keep them as written.
import type { Plugin } from 'vite';

/** WGSL without comments (line and block; WGSL has no string literals to protect) or blank lines. */
export function stripWgslComments(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '')
    .join('\n');
}

export function wgslStripComments(): Plugin {
  return {
    name: 'glm-wgsl-strip-comments',
    enforce: 'post',
    transform(code, id) {
      if (!/\.wgsl\?raw$/.test(id)) return null;
      // Vite turns ?raw into `export default "<json string>"`.
      const m = /^export default (".*");?\s*$/s.exec(code);
      if (!m) return null;
      return { code: `export default ${JSON.stringify(stripWgslComments(JSON.parse(m[1]!) as string))};`, map: null };
    },
  };
}
