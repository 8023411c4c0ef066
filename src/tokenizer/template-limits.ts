// The budget a chat template renders under (issue #18), apart from the renderer so that the public
// types need not import @huggingface/jinja (whose declarations do not resolve under moduleResolution
// nodenext).
export interface TemplateLimits {
  /** AST nodes evaluated in one render. Real GLM templates use about 50 per message. */
  maxSteps: number;
  /** Wall-clock time of one render, checked every 16 steps. */
  maxMillis: number;
  /** Length of any string the template builds, the prompt included. */
  maxOutputChars: number;
  /** Length of one `range(...)`. */
  maxRangeLength: number;
  /** Magnitude of a number the template computes (literals and arithmetic), so `indent(500000000)` cannot allocate. */
  maxNumber: number;
  /** Length of the template source. */
  maxTemplateChars: number;
}

export const TEMPLATE_LIMITS: Readonly<TemplateLimits> = Object.freeze({
  maxSteps: 2_000_000,
  maxMillis: 2_000,
  maxOutputChars: 8 << 20,
  maxRangeLength: 100_000,
  maxNumber: 2 ** 24,
  maxTemplateChars: 1 << 20,
});
