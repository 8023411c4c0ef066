// One fuzz worker (worker_threads, started by harness.ts with resourceLimits): builds the seed models once,
// then for each case it is sent builds the mutated files, loads them through the engine on the CPU and
// asks for a 3-token chat reply. It answers with what happened; deaths and hangs are seen by the harness.
import { parentPort, workerData } from 'node:worker_threads';
import { GlmEngine } from '../../src/runtime/engine';
import { buildCase, type CaseSpec } from './mutations';
import { buildSeeds, caseModelFiles, type Seeds } from './seeds';

export interface CaseOutcome {
  /** 'ok': loaded and answered; 'error': threw. */
  kind: 'ok' | 'error';
  name?: string;
  message?: string;
  /** The error was a named one (not a bare Error/TypeError/RangeError/...). */
  named?: boolean;
  mustReject: boolean;
  mutation: string;
  ms: number;
}

/** Built-in error classes: an error with one of these names is a generic error, whatever its message. */
export const GENERIC_ERROR_NAMES = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'AggregateError', 'InternalError']);

async function runCase(spec: CaseSpec, seeds: Seeds): Promise<CaseOutcome> {
  // A generator bug is reported as such (the harness counts it as a failure), never blamed on the engine.
  let c: ReturnType<typeof buildCase>;
  try {
    c = buildCase(spec, seeds);
  } catch (err) {
    return { kind: 'error', name: 'FuzzGeneratorBug', message: String((err as Error).stack ?? err).slice(0, 300), named: false, mustReject: true, mutation: '?', ms: 0 };
  }
  const started = performance.now();
  const engine = new GlmEngine(async () => caseModelFiles(c.seedName, c.files));
  try {
    await engine.load('fuzz', { backend: 'cpu', contextLength: 64 });
    await engine.generate({ messages: [{ role: 'user', content: 'hello world' }], max_tokens: 3, temperature: 0 });
    return { kind: 'ok', mustReject: c.mustReject, mutation: c.mutation, ms: performance.now() - started };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    return { kind: 'error', name: e.name, message: e.message.slice(0, 300), named: !GENERIC_ERROR_NAMES.has(e.name), mustReject: c.mustReject, mutation: c.mutation, ms: performance.now() - started };
  } finally {
    engine.unload();
  }
}

const port = parentPort!;
const seedsReady = buildSeeds((workerData as { root: string }).root);
seedsReady.then(
  () => port.postMessage({ type: 'ready' }),
  (err: Error) => port.postMessage({ type: 'fatal', message: `seed build failed: ${err.stack ?? err.message}` }),
);
port.on('message', async (msg: { id: number; spec: CaseSpec }) => {
  const outcome = await runCase(msg.spec, await seedsReady);
  port.postMessage({ type: 'result', id: msg.id, outcome });
});
