// Loads and checks the agent's YAML config (DESIGN: Interfaces for people): YAML syntax, then the
// JSON schema, then the cross-field rules; every problem names FILE:LINE:COL: field.path.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { buildConfig, type ReadKeyFile } from './build-config.js';
import { ConfigError, formatPath, sortProblems, type ConfigProblem, type FieldProblem } from './problems.js';
import { validateAgainstSchema } from './schema-validator.js';
import { checkConfigRules } from './semantic-checks.js';
import { type TollgateConfig } from './types.js';
import { parseConfigYaml } from './yaml-source.js';

export type ConfigCheckResult =
  | { readonly ok: true; readonly config: TollgateConfig; readonly problems: readonly [] }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

export interface ParseConfigOptions {
  /** Reads flowState.clusterKeyFile (given an absolute path); default: the file system. */
  readonly readKeyFile?: ReadKeyFile;
}

const readUtf8: ReadKeyFile = (path) => readFileSync(path, 'utf8');

/** Checks config text; `file` names it in problems and anchors a relative clusterKeyFile. */
export function parseConfigText(text: string, file: string, options: ParseConfigOptions = {}): ConfigCheckResult {
  const parsed = parseConfigYaml(text, file);
  if (!parsed.ok) return { ok: false, problems: sortProblems(parsed.problems) };
  const { data, locate } = parsed.yaml;
  const found: FieldProblem[] = [...validateAgainstSchema(data), ...checkConfigRules(data)];
  let config: TollgateConfig | undefined;
  if (found.length === 0) {
    const built = buildConfig(data as Record<string, unknown>, file, options.readKeyFile ?? readUtf8);
    found.push(...built.problems);
    config = built.config;
  }
  if (config !== undefined) return { ok: true, config, problems: [] };
  const problems = found.map((p): ConfigProblem => {
    const pos = locate(p.at ?? p.path, p.anchor);
    return { file, line: pos.line, col: pos.col, path: topLevelLabel(formatPath(p.path)), message: p.message };
  });
  return { ok: false, problems: sortProblems(problems) };
}

const topLevelLabel = (path: string): string => (path === '' ? '(top level)' : path);

async function readConfigFile(path: string): Promise<{ text?: string; problem?: ConfigProblem }> {
  try {
    return { text: await readFile(path, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return { problem: { file: path, line: 0, col: 0, path: '', message: `cannot read the config file (${code})` } };
  }
}

/** `tollgate config check FILE`: every problem in the file, none when it would load. */
export async function checkConfig(path: string): Promise<{ ok: boolean; problems: ConfigProblem[] }> {
  const { text, problem } = await readConfigFile(path);
  if (text === undefined) return { ok: false, problems: problem === undefined ? [] : [problem] };
  const result = parseConfigText(text, path);
  return { ok: result.ok, problems: [...result.problems] };
}

/** `tollgate agent --config FILE`: the frozen config with defaults applied, or a ConfigError listing every problem. */
export async function loadConfig(path: string): Promise<TollgateConfig> {
  const { text, problem } = await readConfigFile(path);
  if (text === undefined) throw new ConfigError(path, problem === undefined ? [] : [problem]);
  const result = parseConfigText(text, path);
  if (!result.ok) throw new ConfigError(path, result.problems);
  return result.config;
}
