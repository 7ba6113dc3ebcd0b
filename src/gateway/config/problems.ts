// What is wrong with a config file, and the error that carries it: every problem as
// FILE:LINE:COL: field.path: message (DESIGN: Interfaces for people).

export interface ConfigProblem {
  readonly file: string;
  /** 1-based; 0 when the problem concerns the whole file (it cannot be read, it is empty). */
  readonly line: number;
  /** 1-based; 0 with line 0. */
  readonly col: number;
  /** Dotted field path with [i] for list items, e.g. `uplinks[0].peers[1].holdTime`; '' for none. */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file;
  return p.path === '' ? `${where}: ${p.message}` : `${where}: ${p.path}: ${p.message}`;
}

export function sortProblems(problems: readonly ConfigProblem[]): ConfigProblem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.col - b.col || a.path.localeCompare(b.path) || a.message.localeCompare(b.message));
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly file: string;
  readonly problems: readonly ConfigProblem[];

  constructor(file: string, problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.file = file;
    this.problems = problems;
  }
}

/** A path segment: an object key or a list index. */
export type PathSegment = string | number;

/** A problem before it is placed in the file: the field, which part of it to point at, and why. */
export interface FieldProblem {
  readonly path: readonly PathSegment[];
  /** Its key (an unknown or missing field) or its value (a bad value). */
  readonly anchor: 'key' | 'value';
  readonly message: string;
  /** Where to point when that differs from `path` (a missing section reported at what needs it). */
  readonly at?: readonly PathSegment[];
}

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}
