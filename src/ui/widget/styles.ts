// The widget's only stylesheet, applied inside its shadow root. Two walls keep the host page out:
//  - :host declarations are !important: for important rules the shadow tree's declarations beat the
//    page's (CSS Cascade 4, "context"), so `* { color: red !important }` on the page loses here;
//  - .root resets every property (all: initial) and sets its own, so nothing the host element inherits
//    reaches the widget's contents. Outer selectors never match elements inside a shadow root.
// Nothing here can leak out: shadow styles only apply inside the shadow tree (and :host to the element).
export const WIDGET_CSS = `
:host {
  all: initial !important;
  display: block !important;
  color-scheme: light !important;
  color: #1b2130 !important;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif !important;
  contain: layout style !important;
}
:host([theme="dark"]) { color-scheme: dark !important; color: #e4e7ee !important; }
:host([position="bottom-right"]), :host(:not([position])) {
  position: fixed !important; right: 20px !important; bottom: 20px !important; z-index: 2147483000 !important;
}
:host([position="bottom-left"]) {
  position: fixed !important; left: 20px !important; bottom: 20px !important; z-index: 2147483000 !important;
}
:host([position="inline"]) { position: relative !important; width: 100% !important; max-width: 34rem !important; }
:host([hidden]) { display: none !important; }

.root {
  all: initial;
  display: flex;
  flex-direction: column;
  align-items: flex-end;
  gap: 12px;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg);
  --fg: #1b2130;
  --muted: #5b6476;
  --bg: #ffffff;
  --bg2: #f3f5f9;
  --border: #d9dee7;
  --accent: #2f5bd3;
  --accent-fg: #ffffff;
  --user: #e8eefc;
  --error: #a4161a;
  --error-bg: #fdecec;
  --shadow: 0 12px 32px rgba(15, 23, 42, 0.22);
}
.root[data-theme="dark"] {
  --fg: #e4e7ee;
  --muted: #9aa3b5;
  --bg: #1c2028;
  --bg2: #14171d;
  --border: #323845;
  --accent: #6c8ff0;
  --accent-fg: #0b1020;
  --user: #243152;
  --error: #ffb4b4;
  --error-bg: #3b1d1f;
  --shadow: 0 12px 32px rgba(0, 0, 0, 0.55);
}
.root[data-position="bottom-left"] { align-items: flex-start; }
.root[data-position="inline"] { align-items: stretch; }
*, *::before, *::after { box-sizing: border-box; }

button, textarea {
  font: inherit;
  color: inherit;
  margin: 0;
  letter-spacing: normal;
  text-transform: none;
  text-shadow: none;
}
button {
  cursor: pointer;
  border: 1px solid var(--border);
  background: var(--bg2);
  border-radius: 8px;
  padding: 6px 12px;
  line-height: 1.3;
}
button:disabled { opacity: 0.5; cursor: not-allowed; }
button:focus-visible, textarea:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
.primary { background: var(--accent); color: var(--accent-fg); border-color: var(--accent); font-weight: 600; }

.launcher {
  width: 56px;
  height: 56px;
  border-radius: 50%;
  border: none;
  background: var(--accent);
  color: var(--accent-fg);
  box-shadow: var(--shadow);
  display: grid;
  place-items: center;
  padding: 0;
}
.launcher svg { width: 26px; height: 26px; fill: currentColor; }
.root[data-position="inline"] .launcher { display: none; }

.panel {
  display: flex;
  flex-direction: column;
  width: min(380px, calc(100vw - 40px));
  height: min(520px, calc(100vh - 110px));
  background: var(--bg);
  color: var(--fg);
  border: 1px solid var(--border);
  border-radius: 14px;
  box-shadow: var(--shadow);
  overflow: hidden;
}
.panel[hidden] { display: none; }
.root[data-position="inline"] .panel { width: 100%; height: 460px; box-shadow: none; }

header {
  display: flex;
  align-items: center;
  gap: 8px;
  padding: 10px 12px;
  border-bottom: 1px solid var(--border);
  background: var(--bg2);
}
h2 { all: unset; font-weight: 700; font-size: 15px; flex: 1; }
.state { font-size: 12px; color: var(--muted); }
.close { border: none; background: transparent; font-size: 20px; line-height: 1; padding: 2px 8px; }
.root[data-position="inline"] .close { display: none; }

.messages { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; }
.hello { color: var(--muted); margin: auto 0; text-align: center; font-size: 13px; }
.msg { max-width: 88%; padding: 7px 11px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.msg.user { align-self: flex-end; background: var(--user); }
.msg.assistant { align-self: flex-start; background: var(--bg2); border: 1px solid var(--border); }
.msg[data-done="false"]::after { content: "▍"; color: var(--accent); }
.note { font-size: 12px; color: var(--muted); font-style: italic; }
.source { align-self: flex-start; max-width: 88%; font-size: 12px; color: var(--muted); }
.source summary { cursor: pointer; }
.source pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0 0; font: inherit; }
.suggestions { display: flex; flex-wrap: wrap; gap: 6px; justify-content: center; margin-top: 8px; }
.suggestion { font: inherit; font-size: 12px; padding: 4px 9px; border-radius: 12px; border: 1px solid var(--border); background: var(--bg2); color: inherit; cursor: pointer; }
.error { align-self: stretch; background: var(--error-bg); color: var(--error); border-radius: 8px; padding: 7px 10px; font-size: 13px; }

.progress { padding: 0 12px 8px; font-size: 12px; color: var(--muted); }
.progress[hidden] { display: none; }
.bar { height: 6px; border-radius: 3px; background: var(--bg2); overflow: hidden; border: 1px solid var(--border); margin-bottom: 4px; }
.bar > div { height: 100%; width: 0; background: var(--accent); transition: width 0.2s; }

form { display: flex; gap: 8px; align-items: flex-end; padding: 10px 12px; border-top: 1px solid var(--border); }
textarea {
  flex: 1;
  resize: none;
  min-height: 38px;
  max-height: 120px;
  padding: 8px 10px;
  border: 1px solid var(--border);
  border-radius: 8px;
  background: var(--bg2);
  line-height: 1.4;
}
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
/* Issue #21: images to send, and images in the conversation (only for a model with a vision tower). */
.attachments { display: flex; gap: 6px; flex-wrap: wrap; padding: 8px 12px 0; }
.attachments[hidden], .attach[hidden] { display: none; }
.attachment { position: relative; margin: 0; }
.attachment img { display: block; width: 56px; height: 56px; object-fit: cover; border-radius: 6px; border: 1px solid var(--border); }
.attachment .remove { position: absolute; top: -6px; right: -6px; width: 20px; height: 20px; padding: 0; border-radius: 50%; line-height: 1; }
.attach { min-width: 38px; height: 38px; padding: 0; font-size: 20px; line-height: 1; }
.msg .message-image { display: block; max-width: 100%; max-height: 180px; min-width: 40px; min-height: 40px; object-fit: contain; border-radius: 6px; margin-bottom: 6px; }
form.dropping, textarea.dropping { outline: 2px dashed var(--accent, #2f5bd3); outline-offset: 2px; }
`;
