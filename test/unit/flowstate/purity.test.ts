// The flow-state core stays pure (STYLE: functional core, imperative shell): only the named shell
// files may import node built-ins or pino, and no core file imports a shell file.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../src/agent-core/flowstate');
const SHELL = new Set(['hmac.ts', 'udp-transport.ts', 'index.ts']);

function imports(file: string): string[] {
  const text = readFileSync(join(DIR, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]);
}

describe('flowstate purity', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));

  test('the folder has the expected core and shell files', () => {
    expect(files).toEqual(
      expect.arrayContaining(['message-codec.ts', 'push-sender.ts', 'push-receiver.ts', 'interested-set.ts', 'tunnel-channel.ts', ...SHELL]),
    );
  });

  test.each(files.filter((f) => !SHELL.has(f)))('%s imports no node built-in, no logger, no shell file', (file) => {
    const bad = imports(file).filter(
      (s) => s.startsWith('node:') || ['fs', 'net', 'dgram', 'crypto', 'pino'].includes(s) || s === './hmac.js' || s === './udp-transport.js',
    );
    expect(bad).toEqual([]);
    expect(readFileSync(join(DIR, file), 'utf8')).not.toMatch(/\b(setTimeout|setInterval|Date\.now|performance\.now|console\.)/);
  });
});
