// Keeps the shape of the project honest (see ARCHITECTURE.md, "Dependencies flow one way"):
// reads the import lines of every .ts file in the SOURCE tree (src/ and toxics/, not dist/)
// and checks the direction of every dependency, plus the few house rules that are easy to
// lose: process.exit only in the CLI's main, kebab-case names, and files of modest length.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  blank, headerComment, importsOf, listFiles, readSource, resolveImport, ROOT, type Target,
} from './_helpers/source-files.js';

interface Edge {
  from: string;
  line: number;
  spec: string;
  to: Target;
}

const SOURCES = [...listFiles('src'), ...listFiles('toxics')].filter((f) => f.endsWith('.ts'));
const TEXT = new Map(SOURCES.map((f) => [f, readSource(f)]));
const EDGES: Edge[] = SOURCES.flatMap((from) =>
  importsOf(TEXT.get(from)!).map(({ spec, line }) => ({ from, line, spec, to: resolveImport(from, spec) })));

const LEAVES = ['src/toxic.ts', 'src/toxic-attributes.ts', 'src/toxic-request.ts', 'src/toxic-dns.ts', 'src/errors.ts', 'src/random.ts'];
/** Layers above the core and the toxics, by path prefix. */
const API_LAYERS = ['src/api/', 'src/events/', 'src/store/', 'src/scenario/', 'src/sessions/'];
const ABOVE_LAYERS = ['src/cli/', 'src/client/', 'src/server.ts', 'src/index.ts'];

const under = (file: string, prefixes: readonly string[]) => prefixes.some((p) => file === p || file.startsWith(p));
const fileOf = (to: Target) => (to.kind === 'file' ? to.path : null);
const describe = (e: Edge) => `${e.from}:${e.line} imports '${e.spec}'`;

/** Fails with one line per offending import, each naming the file, line and specifier. */
function expectNone(edges: Edge[], rule: string): void {
  if (edges.length === 0) return;
  assert.unreachable(`${rule}:\n  ${edges.map(describe).join('\n  ')}`);
}

test('the source tree is found and its imports are read', () => {
  assert.ok(SOURCES.length > 10, `only ${SOURCES.length} .ts files under ${ROOT}src and ${ROOT}toxics`);
  for (const file of ['src/toxic.ts', 'src/errors.ts', 'src/server.ts', 'toxics/index.ts']) {
    assert.ok(TEXT.has(file), `${file} is missing from the scan`);
  }
  const fromServer = EDGES.filter((e) => e.from === 'src/server.ts').map((e) => fileOf(e.to));
  assert.ok(fromServer.includes('src/core/collection.ts'), 'src/server.ts -> src/core/collection.ts not found');
});

test('the import reader sees every kind of import and ignores comments', () => {
  const sample = [
    "import a from './a.js';",
    'import type {',
    '  B,',
    '  C as D,',
    "} from '../b.js';",
    "export { e } from './e.js';",
    "export * from 'pkg/sub';",
    "import './side.js';",
    "const m = await import('node:http');",
    "// import x from 'commented';",
    "/* import y from 'blocked'; */",
    "const s = 'not // a comment';",
  ].join('\n');
  assert.equal(importsOf(sample), [
    { spec: './a.js', line: 1 },
    { spec: '../b.js', line: 5 },
    { spec: './e.js', line: 6 },
    { spec: 'pkg/sub', line: 7 },
    { spec: './side.js', line: 8 },
    { spec: 'node:http', line: 9 },
  ]);
  assert.equal(resolveImport('src/core/link.ts', '../toxic.js'), { kind: 'file', path: 'src/toxic.ts' });
  assert.equal(resolveImport('src/a.ts', '@scope/pkg/x'), { kind: 'package', name: '@scope/pkg' });
});

test("a toxic imports only '../src/toxic.js' and node: built-ins", () => {
  const toxics = SOURCES.filter((f) => f.startsWith('toxics/') && f !== 'toxics/index.ts');
  assert.ok(toxics.length >= 8, `expected the 8 Toxiproxy toxics, found ${toxics.length}`);
  expectNone(
    EDGES.filter((e) => toxics.includes(e.from) && e.to.kind !== 'builtin' && fileOf(e.to) !== 'src/toxic.ts'),
    "a toxic may import only '../src/toxic.js' and node: built-ins",
  );
  // The registry lists the toxics; it may import them and the contract, nothing else.
  expectNone(
    EDGES.filter((e) => e.from === 'toxics/index.ts' &&
      !(fileOf(e.to)?.startsWith('toxics/') || fileOf(e.to) === 'src/toxic.ts')),
    'toxics/index.ts may import only toxics and src/toxic.ts',
  );
});

test('the leaf files import only each other, node: built-ins and npm packages', () => {
  expectNone(
    EDGES.filter((e) => LEAVES.includes(e.from) && e.to.kind === 'file' && !LEAVES.includes(e.to.path)),
    `${LEAVES.join(', ')} may not import the rest of the project`,
  );
});

test('the core knows nothing of the API, events, store, CLI, HTTP, WebSockets or SQLite', () => {
  const core = EDGES.filter((e) => e.from.startsWith('src/core/'));
  assert.ok(core.length > 0, 'no imports found under src/core/');
  expectNone(
    core.filter((e) => under(fileOf(e.to) ?? '', [...API_LAYERS, ...ABOVE_LAYERS, 'src/http/'])),
    'src/core/ may not import http/, api/, events/, store/, scenario/, sessions/, cli/, server.ts or index.ts',
  );
  const forbidden = ['ws', 'sqlite3', 'node:http', 'node:https', 'node:http2'];
  expectNone(
    core.filter((e) => e.to.kind !== 'file' && forbidden.includes(e.to.name)),
    `src/core/ may not import ${forbidden.join(', ')}`,
  );
});

test('src/http/ is a protocol beside the core: it builds on the core and the toxic contract, and only the composition root knows it', () => {
  const http = EDGES.filter((e) => e.from.startsWith('src/http/'));
  assert.ok(http.length > 0, 'no imports found under src/http/');
  expectNone(
    http.filter((e) => under(fileOf(e.to) ?? '', [...API_LAYERS, ...ABOVE_LAYERS])),
    'src/http/ may not import api/, events/, store/, scenario/, sessions/, cli/, server.ts or index.ts',
  );
  expectNone(
    http.filter((e) => e.to.kind === 'package' && !['nanoid'].includes(e.to.name)),
    'src/http/ uses node: built-ins (node:http2 for HTTP/2) and no other package but nanoid',
  );
  expectNone(
    EDGES.filter((e) => under(fileOf(e.to) ?? '', ['src/http/']) && !e.from.startsWith('src/http/') && e.from !== 'src/server.ts'),
    'only src/server.ts wires src/http/ in (through the collection\'s protocol factories)',
  );
  expectNone(
    EDGES.filter((e) => e.to.kind === 'builtin' && e.to.name === 'node:http2' && !e.from.startsWith('src/http/')),
    "only src/http/ may import 'node:http2'",
  );
});

test('the API, events, store and scenario layers never import the CLI or the composition root', () => {
  expectNone(
    EDGES.filter((e) => under(e.from, API_LAYERS) && under(fileOf(e.to) ?? '', ABOVE_LAYERS)),
    'src/api/, src/events/, src/store/, src/scenario/ and src/sessions/ may not import cli/, client/, server.ts or index.ts',
  );
});

test('the client talks to a server only over its API: it imports the server to start one, the toxic registry, leaves and event types', () => {
  const allowed = ['src/server.ts', 'src/toxic.ts', 'src/errors.ts', 'src/http-messages.ts', 'toxics/index.ts', 'src/events/bus.ts'];
  const client = EDGES.filter((e) => e.from.startsWith('src/client/'));
  assert.ok(client.length > 0, 'no imports found under src/client/');
  expectNone(
    client.filter((e) => e.to.kind === 'file' && !e.to.path.startsWith('src/client/') && !allowed.includes(e.to.path)),
    `src/client/ may import only itself and ${allowed.join(', ')}`,
  );
  expectNone(
    EDGES.filter((e) => under(fileOf(e.to) ?? '', ['src/client/']) && !e.from.startsWith('src/client/') && e.from !== 'src/index.ts'),
    'only src/index.ts imports src/client/',
  );
});

test("'ws' is imported only by the events layer and the client's stream, and 'sqlite3' only by the store", () => {
  expectNone(
    EDGES.filter((e) => e.to.kind === 'package' && e.to.name === 'ws' && !e.from.startsWith('src/events/') && e.from !== 'src/client/event-stream.ts'),
    "only src/events/ and src/client/event-stream.ts may import 'ws'",
  );
  expectNone(
    EDGES.filter((e) => e.to.kind === 'package' && e.to.name === 'sqlite3' && !e.from.startsWith('src/store/')),
    "only src/store/ may import 'sqlite3'",
  );
});

test('every relative import points at a file that exists', () => {
  expectNone(
    EDGES.filter((e) => e.to.kind === 'file' && !TEXT.has(e.to.path)),
    'imports of files that are not in src/ or toxics/',
  );
});

test('only src/cli/main.ts calls process.exit', () => {
  const offenders: string[] = [];
  for (const [file, text] of TEXT) {
    if (file === 'src/cli/main.ts') continue;
    // Comments and string contents are blanked, so only real code counts.
    blank(text, true).split('\n').forEach((line, i) => {
      if (/\bprocess\s*\.\s*exit\b(?!Code)/.test(line)) offenders.push(`${file}:${i + 1}: ${text.split('\n')[i]!.trim()}`);
    });
  }
  assert.equal(offenders, [], `process.exit outside src/cli/main.ts:\n  ${offenders.join('\n  ')}`);
  assert.match(blank(TEXT.get('src/cli/main.ts') ?? ''), /\bprocess\.exit\b/, 'src/cli/main.ts should be the one that exits');
});

test('file and folder names under src/ and toxics/ are kebab-case', () => {
  const bad = [...listFiles('src'), ...listFiles('toxics')].filter((file) =>
    file.split('/').slice(1).some((part, i, parts) => {
      const name = i === parts.length - 1 ? part.replace(/(\.d)?\.[a-z]+$/, '') : part;
      return !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(name);
    }));
  assert.equal(bad, [], `names that are not kebab-case: ${bad.join(', ')}`);
});

test('no file is over 300 lines unless its header comment says why', () => {
  const long: string[] = [];
  for (const [file, text] of TEXT) {
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines <= 300) continue;
    if (/\b(300|long|lines)\b/i.test(headerComment(text))) continue;
    long.push(`${file} (${lines} lines)`);
  }
  assert.equal(long, [], `files over 300 lines with no reason in their header: ${long.join(', ')}`);
});

test.run();
