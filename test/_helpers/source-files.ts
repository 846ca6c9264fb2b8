// Reads the TypeScript source tree (not dist/) for the architecture test: file lists, import
// specifiers with their line numbers, and code with comments (and optionally strings) blanked.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The repository root: this file runs as dist/test/_helpers/source-files.js. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Every file under `dir` (relative to the root), as root-relative POSIX paths, sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(path.join(ROOT, rel));
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const child = `${rel}/${name}`;
      if (statSync(path.join(ROOT, child)).isDirectory()) walk(child);
      else out.push(child);
    }
  };
  walk(dir);
  return out;
}

export function readSource(rel: string): string {
  return readFileSync(path.join(ROOT, rel), 'utf8');
}

/**
 * Blanks comments (and, if `strings`, the contents of string and template literals) with
 * spaces, keeping every newline, so offsets and line numbers still match the original.
 */
export function blank(text: string, strings = false): string {
  const out = text.split('');
  const fill = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      fill(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      fill(i, stop);
      i = stop;
    } else if (c === '\'' || c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) {
        if (text[j] === '\\') j++;
        else if (c !== '`' && text[j] === '\n') break;
        j++;
      }
      if (strings) fill(i + 1, j);
      i = j + 1;
    } else {
      i++;
    }
  }
  return out.join('');
}

export interface ImportRef {
  /** The specifier exactly as written, e.g. '../toxic.js' or 'node:net'. */
  spec: string;
  line: number;
}

const PATTERNS = [
  // import x from '..' / import type { a, b } from '..' / export { x } from '..' / export * from '..'
  /\b(?:import|export)\s+(?:type\s+)?(?:[\w*$\s,{}]|\bas\b)*?\bfrom\s*(['"])([^'"]+)\1/g,
  // import '..' (side effects only)
  /\bimport\s*(['"])([^'"]+)\1/g,
  // import('..') and require('..')
  /\b(?:import|require)\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
];

/** Every module a file depends on: static, side-effect, dynamic imports, re-exports, require. */
export function importsOf(text: string): ImportRef[] {
  const code = blank(text);
  const found = new Map<number, ImportRef>();
  for (const re of PATTERNS) {
    for (const m of code.matchAll(re)) {
      const at = m.index! + m[0].lastIndexOf(m[2]!);
      found.set(at, { spec: m[2]!, line: code.slice(0, at).split('\n').length });
    }
  }
  return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, ref]) => ref);
}

export type Target =
  | { kind: 'builtin'; name: string }
  | { kind: 'package'; name: string }
  | { kind: 'file'; path: string };

/** What a specifier in `from` (a root-relative path) points at; `.js` maps back to `.ts`. */
export function resolveImport(from: string, spec: string): Target {
  if (spec.startsWith('node:')) return { kind: 'builtin', name: spec };
  if (spec.startsWith('.') || spec.startsWith('/')) {
    const joined = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
    return { kind: 'file', path: joined.replace(/\.js$/, '.ts') };
  }
  const parts = spec.split('/');
  return { kind: 'package', name: spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]! };
}

/** The comment lines at the top of a file, before its first line of code. */
export function headerComment(text: string): string {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' && lines.length === 0) continue;
    if (t.startsWith('//') || t.startsWith('/*') || t.startsWith('*')) lines.push(t);
    else break;
  }
  return lines.join('\n');
}
