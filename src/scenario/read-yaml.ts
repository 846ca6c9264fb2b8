// Reads a scenario's YAML (or JSON) text within bounds, wherever it comes from: a file for
// `faultline run` and `validate`, the server's scenarios folder, or a body posted to
// /scenarios/runs. Unbounded, the `yaml` package can be made to do harm:
// - its composer recurses a few frames per nesting level, so about 1,000 levels (8 KB of
//   `{"a":{"a":...`) overflow the stack. The first parse reports that as an error; a second one
//   ends the process with a V8 fatal error ("RegExpCompiler Allocation failed"), because by then
//   V8 compiles the scalar-type regexes to native code at the bottom of the nearly full stack;
// - its duplicate-key check compares every key with every earlier one in the mapping, so a
//   1 MB mapping of 90,000 keys holds the event loop for two minutes;
// - each alias resolved by the checks visits the whole document.
// So the size is checked first, then the depth and the alias count on the token stream, before
// the composer runs; duplicate keys are found here with one set per mapping instead.

import { CST, Composer, isScalar, Lexer, Parser, visit, type Document, type LineCounter } from 'yaml';

export const SCENARIO_LIMITS = {
  /** UTF-8 bytes of text. The shipped scenarios are under 5 KB; 128 KiB holds about 1,200
   *  one-line steps. The parse blocks the event loop (and so every proxy) for up to about
   *  10 µs per byte of hostile YAML, so this keeps the worst case near a second. */
  bytes: 128 * 1024,
  /** Nested collections. A scenario needs 5 (the top mapping, timeline, a step, its toxic,
   *  attributes); the composer overflows the stack at several hundred. */
  depth: 64,
  /** Alias nodes (`*name`). yaml's own default expansion limit is 100 too. */
  aliases: 100,
} as const;

export interface YamlProblem {
  /** Offset in the text (0-based, in UTF-16 units, as the yaml package counts). */
  offset: number;
  /** The yaml package's error code, or LIMIT for a bound above. */
  code: string;
  message: string;
}

export interface YamlRead {
  /** Null when a limit was passed: nothing was composed. */
  doc: Document.Parsed | null;
  /** A limit's problem alone, or the document's syntax errors, warnings and duplicate keys. */
  problems: YamlProblem[];
}

const COLLECTIONS = new Set(['block-map', 'block-seq', 'flow-collection']);

export function readYaml(source: string, lineCounter: LineCounter): YamlRead {
  const limit = (offset: number, message: string): YamlRead => ({ doc: null, problems: [{ offset, code: 'LIMIT', message }] });
  lineCounter.addNewLine(0);
  const bytes = Buffer.byteLength(source, 'utf8');
  if (bytes > SCENARIO_LIMITS.bytes) return limit(0, tooLarge(bytes));
  const parser = new Parser(lineCounter.addNewLine);
  const tokens: CST.Token[] = [];
  let aliases = 0;
  // The lexer marks a scalar's text with CST.SCALAR first, so `*` inside one is no alias.
  let scalarNext = false;
  for (const lexeme of new Lexer().lex(source)) {
    const offset = parser.offset;
    if (!scalarNext && lexeme.startsWith('*') && CST.tokenType(lexeme) === 'alias' && ++aliases > SCENARIO_LIMITS.aliases) {
      return limit(offset, `more than ${SCENARIO_LIMITS.aliases} aliases (${lexeme.slice(0, 40)}); the limit is ${SCENARIO_LIMITS.aliases}`);
    }
    scalarNext = lexeme === CST.SCALAR;
    for (const token of parser.next(lexeme)) tokens.push(token);
    // The stack also holds the document and the token being read; count only collections.
    if (parser.stack.length > SCENARIO_LIMITS.depth && depthOf(parser.stack) > SCENARIO_LIMITS.depth) {
      return limit(offset, `nested deeper than ${SCENARIO_LIMITS.depth} levels; the limit is ${SCENARIO_LIMITS.depth}`);
    }
  }
  for (const token of parser.end()) tokens.push(token);

  const composer = new Composer({ uniqueKeys: false, prettyErrors: false });
  let doc: Document.Parsed | null = null;
  const problems: YamlProblem[] = [];
  // yaml reports each problem as an Error, whose stack trace costs more than the rest of the
  // parse when a hostile text has a problem on every token. Nothing reads those stacks.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (const next of composer.compose(tokens, true, source.length)) {
      if (doc === null) {
        doc = next;
        continue;
      }
      problems.push({ offset: next.range[0], code: 'MULTIPLE_DOCS', message: 'Source contains multiple documents; please use YAML.parseAllDocuments()' });
      break;
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  // compose(..., forceDoc) yields at least one document.
  const parsed = doc!;
  for (const e of [...parsed.errors, ...parsed.warnings]) problems.push({ offset: e.pos[0], code: e.code, message: e.message });
  problems.push(...duplicateKeys(parsed));
  return { doc: parsed, problems };
}

/** The issue of a text of `bytes` bytes, over the size limit. */
export function tooLarge(bytes: number): string {
  return `the scenario is ${bytes} bytes; the limit is ${SCENARIO_LIMITS.bytes} bytes (128 KiB)`;
}

function depthOf(stack: readonly CST.Token[]): number {
  let n = 0;
  for (const token of stack) if (COLLECTIONS.has(token.type)) n++;
  return n;
}

/** Keys equal as yaml's uniqueKeys compares them: scalars by value, other nodes by identity. */
function duplicateKeys(doc: Document.Parsed): YamlProblem[] {
  const found: YamlProblem[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const { key } of map.items) {
        const value = isScalar(key) ? key.value : key;
        if (seen.has(value)) {
          const at = (key as { range?: [number, number, number] } | null)?.range?.[0] ?? map.range?.[0] ?? 0;
          found.push({ offset: at, code: 'DUPLICATE_KEY', message: 'Map keys must be unique' });
        } else {
          seen.add(value);
        }
      }
    },
  });
  return found;
}
