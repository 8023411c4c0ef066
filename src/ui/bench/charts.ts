// Horizontal bar charts as inline SVG (no chart library): one bar per row, the value printed beside it.
// The SVG has role="img" and a text alternative listing every bar, for screen readers.
const SVG_NS = 'http://www.w3.org/2000/svg';

export interface Bar {
  label: string;
  value: number;
  /** What is printed at the bar's end (default: the value). */
  text?: string;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * `max` fixes the scale (e.g. 100 for percentages); default: the largest value. A reference line is
 * drawn at `max` when given.
 */
export function barChart(bars: Bar[], options: { title: string; max?: number; width?: number } ): SVGSVGElement {
  const width = options.width ?? 560;
  // Room for the longest label and value text (about 7.5 px per character at the 13 px font).
  const chars = (f: (b: Bar) => string) => Math.max(4, ...bars.map((b) => f(b).length));
  const labelWidth = Math.min(200, 16 + 7.5 * chars((b) => b.label));
  const valueWidth = Math.min(220, 16 + 7.5 * chars((b) => b.text ?? String(b.value)));
  const barHeight = 22;
  const gap = 8;
  const height = Math.max(1, bars.length) * (barHeight + gap) + gap;
  const max = options.max ?? Math.max(1e-12, ...bars.map((b) => b.value));
  const plot = width - labelWidth - valueWidth;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', class: 'bar-chart' });
  root.append(svg('title', {}, `${options.title}: ${bars.map((b) => `${b.label} ${b.text ?? b.value}`).join('; ')}`));
  bars.forEach((b, i) => {
    const y = gap + i * (barHeight + gap);
    const w = Math.max(1, Math.min(1, b.value / max) * plot);
    root.append(svg('text', { x: labelWidth - 8, y: y + barHeight / 2, 'text-anchor': 'end', 'dominant-baseline': 'middle', class: 'bar-label' }, b.label));
    root.append(svg('rect', { x: labelWidth, y, width: plot, height: barHeight, rx: 4, class: 'bar-track' }));
    root.append(svg('rect', { x: labelWidth, y, width: w, height: barHeight, rx: 4, class: b.value > max ? 'bar over' : 'bar' }));
    root.append(svg('text', { x: labelWidth + plot + 8, y: y + barHeight / 2, 'dominant-baseline': 'middle', class: 'bar-value' }, b.text ?? String(b.value)));
  });
  if (bars.length === 0) root.append(svg('text', { x: 8, y: 20, class: 'bar-label' }, 'No data.'));
  return root;
}
