// loadConfig and checkConfig on real files: the ConfigError names every problem, unreadable files,
// and flowState.clusterKeyFile (read relative to the config's folder).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfig, ConfigError, loadConfig } from '../../../src/gateway/config/index.js';
import { BASE, problemsOf, yamlLines } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  it('throws a ConfigError whose message lists every problem as FILE:LINE:COL: field: message', async () => {
    const path = write('bad.yaml', yamlLines(...BASE, 'tunnel:', '  tpye: gre', '  port: 0'));
    const error = await loadConfig(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.file).toBe(path);
    expect(configError.message).toBe(
      [`${path}:7:3: tunnel.tpye: unknown field 'tpye' (did you mean 'type'?)`, `${path}:8:9: tunnel.port: must be between 1 and 65535 (got 0)`].join('\n'),
    );
    expect(configError.problems.map((p) => [p.line, p.col, p.path])).toEqual([
      [7, 3, 'tunnel.tpye'],
      [8, 9, 'tunnel.port'],
    ]);
  });

  it('names an unreadable file', async () => {
    const path = join(dir, 'missing.yaml');
    await expect(loadConfig(path)).rejects.toThrow(`${path}: cannot read the config file (ENOENT)`);
  });
});

describe('checkConfig', () => {
  it('is ok with no problems for a good file', async () => {
    expect(await checkConfig(write('good.yaml', yamlLines(...BASE)))).toEqual({ ok: true, problems: [] });
  });

  it('returns the problems of a bad file', async () => {
    const path = write('bad-check.yaml', yamlLines(...BASE, 'logging: { level: loud }'));
    expect(await checkConfig(path)).toEqual({
      ok: false,
      problems: [{ file: path, line: 6, col: 19, path: 'logging.level', message: 'must be one of trace, debug, info, warn, error, fatal (got "loud")' }],
    });
  });

  it('reports a missing file as a problem, not an exception', async () => {
    const result = await checkConfig(join(dir, 'nope.yaml'));
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([{ file: join(dir, 'nope.yaml'), line: 0, col: 0, path: '', message: 'cannot read the config file (ENOENT)' }]);
  });
});

describe('flowState.clusterKeyFile', () => {
  it('is read relative to the config file, trimmed, and its path made absolute', async () => {
    write('cluster.key', '  0123456789abcdef-key  \n');
    const config = await loadConfig(write('with-key.yaml', yamlLines(...BASE, 'flowState: { clusterKeyFile: cluster.key }')));
    expect(config.flowState.clusterKey).toBe('0123456789abcdef-key');
    expect(config.flowState.clusterKeyFile).toBe(join(dir, 'cluster.key'));
  });

  it('an unreadable key file is a problem at the field', () => {
    const yaml = yamlLines(...BASE, 'flowState:', '  clusterKeyFile: /nonexistent/tollgate.key');
    expect(problemsOf(yaml)).toEqual(['test.yaml:7:19: flowState.clusterKeyFile: cannot read /nonexistent/tollgate.key (ENOENT)']);
  });

  it('a key file with a short key is a problem', () => {
    const yaml = yamlLines(...BASE, 'flowState:', '  clusterKeyFile: /k');
    expect(problemsOf(yaml, { readKeyFile: () => 'short\n' })).toEqual([
      'test.yaml:7:19: flowState.clusterKeyFile: /k holds a key of 5 characters; at least 16 are needed',
    ]);
  });

  it('is not read when the config has other problems', () => {
    const reads: string[] = [];
    const readKeyFile = (path: string): string => {
      reads.push(path);
      return '0123456789abcdef';
    };
    expect(problemsOf(yamlLines(...BASE, 'flowState: { clusterKeyFile: /k, push: maybe }'), { readKeyFile })).toEqual([
      'test.yaml:6:40: flowState.push: must be true or false (got "maybe")',
    ]);
    expect(reads).toEqual([]);
    expect(problemsOf(yamlLines(...BASE, 'flowState: { clusterKeyFile: /k }'), { readKeyFile })).toEqual([]);
    expect(reads).toEqual(['/k']);
  });
});
