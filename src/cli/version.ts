/**
 * `parley --version`: the version of the package this CLI belongs to. The
 * file runs from src/cli (a checkout) or dist/src/cli (the package), so the
 * package.json is looked for upwards rather than at a fixed depth.
 */
import { readFileSync } from 'node:fs';

export function cliVersion(): string {
  for (let up = '../'; up.length <= 4 * 3; up += '../') {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`${up}package.json`, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'parley' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this depth
    }
  }
  return 'unknown';
}
