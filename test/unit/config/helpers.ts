// Shared by the config tests: check YAML text and get its problems as the CLI prints them.
import { formatProblem, parseConfigText, type ParseConfigOptions } from '../../../src/gateway/config/index.js';

export const FILE = 'test.yaml';

/** The problems of `yaml` as `test.yaml:LINE:COL: field: message` lines; [] when it loads. */
export function problemsOf(yaml: string, options?: ParseConfigOptions): string[] {
  return parseConfigText(yaml, FILE, options).problems.map(formatProblem);
}

/** Lines joined with '\n'; keeps line numbers in test cases easy to read. */
export const yamlLines = (...lines: string[]): string => `${lines.join('\n')}\n`;

export const BASE = ['host:', '  id: gw1', '  tunnelIp: 192.0.2.1', 'zookeeper:', '  servers: ["127.0.0.1:2181"]'];
