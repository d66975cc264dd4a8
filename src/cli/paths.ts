/**
 * Paths as a user types them. A shell expands `~` only at the start of an
 * unquoted word, so `--config=~/x`, a quoted `PARLEY_CONFIG="~/x"` or a chat's
 * `/save ~/x.md` arrive with the tilde still in them.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** `~` and `~/…` become the home directory ($HOME, else the OS's); `~user` is left as it is. */
export function expandHome(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (path !== '~' && !path.startsWith('~/')) return path;
  return join(env.HOME || homedir(), path.slice(1));
}

/** An absolute path from what the user typed. */
export function userPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(expandHome(path, env));
}
