// The package's version (package.json, two folders up from src/gateway and from dist/gateway alike):
// what `tollgate version` prints and each agent publishes in /state/hosts.
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
