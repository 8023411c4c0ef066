// A few lines instead of a UI framework: create elements with attributes and children.
type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

/**
 * el('button', { type: 'button', onclick: fn, 'aria-label': 'Stop' }, 'Stop'). Attributes whose value is
 * false/null/undefined are left out; `on*` functions become listeners; `class`, `for` and data-/aria-
 * attributes are set as written.
 */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, ...children);
  return node;
}

export function setAttrs(node: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (typeof value === 'function') node.addEventListener(name.slice(2).toLowerCase(), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
}

export function append(node: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
}

/** getElementById that fails loudly (the page's HTML and script are built together). */
export function byId<T extends HTMLElement = HTMLElement>(id: string, root: Document | ShadowRoot = document): T {
  const node = root.getElementById(id);
  if (!node) throw new Error(`element #${id} is missing from the page`);
  return node as T;
}

/** Replaces the children of `node`. */
export function replace(node: Node, ...children: Child[]): void {
  while (node.firstChild) node.removeChild(node.firstChild);
  append(node, ...children);
}
