// Parses a config file's YAML and maps a field path back to its line and column, so that every
// problem can name where it is (DESIGN: Interfaces for people). Uses yaml's node ranges.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { type ConfigProblem, type FieldProblem, type PathSegment } from './problems.js';

/** Which part of a field a problem points at: its key (unknown field) or its value (bad value). */
export type Anchor = FieldProblem['anchor'];

export interface Position {
  readonly line: number;
  readonly col: number;
}

export interface ParsedYaml {
  readonly data: unknown;
  /** The position of the field at `path`, or of its nearest ancestor present in the file. */
  locate(path: readonly PathSegment[], anchor: Anchor): Position;
}

export type ParseResult = { readonly ok: true; readonly yaml: ParsedYaml } | { readonly ok: false; readonly problems: ConfigProblem[] };

// yaml's pretty errors append " at line L, column C:" and a source excerpt; we print the position ourselves.
const stripPosition = (message: string): string => message.replace(/ at line \d+, column \d+:[\s\S]*$/, '');

export function parseConfigYaml(text: string, file: string): ParseResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true, strict: true });
  const issues = [...doc.errors, ...doc.warnings];
  if (issues.length > 0) {
    return {
      ok: false,
      problems: issues.map((e) => {
        const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
        return { file, line: pos.line, col: pos.col, path: '', message: `YAML: ${stripPosition(e.message)}` };
      }),
    };
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    return { ok: false, problems: [{ file, line: 0, col: 0, path: '', message: 'the file holds no configuration' }] };
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  const at = (offset: number): Position => lineCounter.linePos(offset);
  return { ok: true, yaml: { data, locate: (path, anchor) => locateIn(doc, path, anchor, at) } };
}

const isEmptyScalar = (n: Node): boolean => isScalar(n) && n.value === null && n.range != null && n.range[0] === n.range[1];

function locateIn(doc: Document, path: readonly PathSegment[], anchor: Anchor, at: (offset: number) => Position): Position {
  let node: Node | null = doc.contents;
  // Where to point for the node reached so far: its key when it is a map value, else the node itself.
  let here: Node | null = node;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    // A field reached through an alias (*name) is reported at the alias, where this use of it is.
    if (node !== null && isAlias(node)) break;
    if (node !== null && isMap(node) && typeof seg === 'string') {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
      if (pair === undefined) break; // not in the file (missing or a default): point at the parent
      const key = pair.key as Node;
      const value = (pair.value as Node | null) ?? null;
      if (value === null || isEmptyScalar(value) || (last && anchor === 'key')) {
        here = key;
        node = value;
      } else {
        here = last ? value : key;
        node = value;
      }
    } else if (node !== null && isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      node = (node.items[seg] as Node | null) ?? null;
      if (node === null) break;
      here = node;
    } else {
      break;
    }
  }
  return at(here?.range?.[0] ?? 0);
}
