// Bootstrap for running the datapath worker from TypeScript source (tsx, jest): on Node 20, tsx's
// `--import tsx` registers its hooks on the main thread only, so the worker registers them itself.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entryUrl);
