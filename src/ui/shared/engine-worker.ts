// The pages' engine worker is the library's own (src/worker/engine-worker.ts); this module exists so
// the pages and the widget (`?worker&inline`) have one import path for it.
import '../../worker/engine-worker';
