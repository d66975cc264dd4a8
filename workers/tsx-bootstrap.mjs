// Running from TypeScript source: Node 20 ignores `--import tsx` in a
// worker's execArgv, so the worker registers tsx itself and then loads the
// real .ts entry named in its argv. Its default export is passed through for
// piscina, which imports this file as the task module. Compiled builds never
// use this file.
import { register } from 'tsx/esm/api';

register();
const entry = await import(process.argv[2]);

export default entry.default;
