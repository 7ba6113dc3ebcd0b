// The launcher's promise, checked on this machine's kernel and glibc: a process started the way
// bin/tollgate starts the agent gets its large typed arrays in transparent huge pages; without
// the tunable (THP in "madvise" mode, Debian's default) it does not. And the launcher's shell.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HUGE_PAGES_TUNABLE, withHugePagesTunable } from '../../../src/gateway/huge-pages.js';

const THP_MODE = ((): string => {
  try {
    return /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unavailable';
  }
})();
const HUGE_PAGES = fileURLToPath(new URL('../../../src/gateway/huge-pages.ts', import.meta.url));
// A 64 MiB Float64Array, every page touched, then the bytes in huge pages as huge-pages.ts reads them.
const CHILD = `import { hugePageBytes } from ${JSON.stringify(HUGE_PAGES)};
const a = new Float64Array(8 * 1024 * 1024);
for (let i = 0; i < a.length; i += 512) a[i] = i;
process.stdout.write(String(hugePageBytes()));`;

function hugeBytesOfChild(env: NodeJS.ProcessEnv): number {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], { env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return Number(r.stdout);
}

const describeMadvise = THP_MODE === 'madvise' ? describe : describe.skip;

describeMadvise(`transparent huge pages (THP mode ${THP_MODE})`, () => {
  test('with the launcher\'s tunable, a large typed array lands in huge pages', () => {
    const { GLIBC_TUNABLES: _, ...plain } = process.env;
    expect(hugeBytesOfChild(withHugePagesTunable(plain))).toBeGreaterThanOrEqual(32 * 2 ** 20);
  }, 90_000);

  test('without it, it does not', () => {
    const { GLIBC_TUNABLES: _, ...plain } = process.env;
    expect(hugeBytesOfChild(plain)).toBe(0);
  }, 90_000);
});

// The launcher's shell, run for real: a stand-in dist/gateway/cli.js beside a copy of it reports
// what it was started with (the CLI itself is tested elsewhere, through tsx).
describe('bin/tollgate', () => {
  const LAUNCHER = fileURLToPath(new URL('../../../bin/tollgate', import.meta.url));
  let root = '';
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'tollgate-launcher-'));
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'dist', 'gateway'), { recursive: true });
    copyFileSync(LAUNCHER, join(root, 'bin', 'tollgate'));
    chmodSync(join(root, 'bin', 'tollgate'), 0o755);
    writeFileSync(join(root, 'dist', 'gateway', 'cli.js'), 'process.stdout.write(JSON.stringify({ tunables: process.env.GLIBC_TUNABLES ?? null, args: process.argv.slice(2) }));\n');
    // npm installs bins as symlinks (node_modules/.bin/tollgate): the launcher must find dist through one.
    mkdirSync(join(root, 'links'));
    symlinkSync(join(root, 'bin', 'tollgate'), join(root, 'links', 'tollgate'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const launch = (via: 'bin' | 'links', tunables?: string): { tunables: string | null; args: string[] } => {
    const { GLIBC_TUNABLES: _, ...env } = process.env;
    const r = spawnSync(join(root, via, 'tollgate'), ['agent', '--config', 'a b.yaml'], {
      env: tunables === undefined ? env : { ...env, GLIBC_TUNABLES: tunables }, encoding: 'utf8', timeout: 30_000,
    });
    if (r.status !== 0) throw new Error(`launcher failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as { tunables: string | null; args: string[] };
  };

  test('starts the CLI with the huge-pages tunable and the arguments as given, also through a symlink', () => {
    for (const via of ['bin', 'links'] as const) {
      expect(launch(via)).toEqual({ tunables: HUGE_PAGES_TUNABLE, args: ['agent', '--config', 'a b.yaml'] });
    }
  });

  test('keeps other tunables and an operator\'s own hugetlb setting', () => {
    expect(launch('bin', 'glibc.malloc.arena_max=2').tunables).toBe(`glibc.malloc.arena_max=2:${HUGE_PAGES_TUNABLE}`);
    expect(launch('bin', 'glibc.malloc.hugetlb=0').tunables).toBe('glibc.malloc.hugetlb=0');
  });
});
