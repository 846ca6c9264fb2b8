// Environment references in a scenario file's values, so that one file runs in many places (CI
// with ephemeral ports, a staging box): `${NAME}`, `${NAME:-default}` (the default when NAME is
// unset or empty, as in the shell) and `$$` for a literal `$`. Any other `$` stays as written,
// so regexes like `ok$` and shell commands like `echo $HOME` keep working. Keys are never
// substituted: they are the format, not data.
//
// The result of a substitution is a string, whatever the quoting. Where the file expects a
// number or true/false (toxicity, status, exit_code, enabled, oneway, toxic attributes), a
// substituted string that YAML would read as one counts as that value; see Checker.typed.
// Types follow the position rather than the quoting because inside flow collections
// (`{latency: "${LAT:-200}"}`) and in JSON a reference has to be quoted.
//
// The environment is whatever the caller passes, never process.env: a scenario posted to a
// server must not be able to read the server's secrets.

import { isMap, isScalar, isSeq, type Document, type ScalarTag } from 'yaml';
import { child, item, type Checker, type YamlNode } from './validate-node.js';

export type Env = Readonly<Record<string, string | undefined>>;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `text` with its references replaced, and what went wrong with the ones that could not be. */
export function substitute(text: string, env: Env): { value: string; changed: boolean; errors: string[] } {
  let value = '';
  let changed = false;
  const errors: string[] = [];
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0 || dollar === text.length - 1) {
      value += text.slice(i);
      break;
    }
    value += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next !== '$' && next !== '{') {
      value += '$';
      i = dollar + 1;
      continue;
    }
    changed = true;
    if (next === '$') {
      value += '$';
      i = dollar + 2;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) {
      const shown = /^\S{0,40}/.exec(text.slice(dollar))![0];
      errors.push(`unclosed reference "${shown}": expected } after the variable name (write $$ for a literal $)`);
      break;
    }
    const body = text.slice(dollar + 2, close);
    i = close + 1;
    const split = body.indexOf(':-');
    const name = split < 0 ? body : body.slice(0, split);
    const fallback = split < 0 ? undefined : body.slice(split + 2);
    if (!NAME.test(name) || fallback?.includes('${')) {
      errors.push(`malformed reference "\${${body}}": expected \${NAME} or \${NAME:-default}, where NAME is letters, ` +
        'digits and _ and does not start with a digit, and the default is plain text (write $$ for a literal $)');
      continue;
    }
    // Own properties only: `${constructor}` must not find Object.prototype.constructor.
    const set = Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined;
    if (fallback !== undefined && (set === undefined || set === '')) value += fallback;
    else if (set !== undefined) value += set;
    else errors.push(`environment variable ${name} is not set; write \${${name}:-value} to give a default`);
  }
  return { value, changed, errors };
}

/**
 * Substitutes every string value in the document in place (positions are untouched, so later
 * issues still point into the file). A value that cannot be substituted is reported once and
 * left as written; the Checker hides the issues that would follow from its unsubstituted text.
 */
export function interpolate(c: Checker, doc: Document, env: Env): void {
  const walk = (node: YamlNode, path: string): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        walk(pair.value, child(path, isScalar(pair.key) ? String(pair.key.value) : '?'));
      }
    } else if (isSeq(node)) {
      node.items.forEach((entry, i) => walk(entry, item(path, i)));
    } else if (isScalar(node) && typeof node.value === 'string') {
      const source = node.value;
      const { value, changed, errors } = substitute(source, env);
      if (errors.length > 0) {
        for (const message of errors) c.report(node, path, message);
        c.unresolved(node);
      } else if (changed) {
        node.value = value;
        c.substituted(node, source, typed(doc, value));
      }
    }
    // Aliases are skipped: their anchor is substituted where it stands.
  };
  walk(doc.contents, '');
}

/** The number or boolean YAML would read `text` as, written unquoted; undefined otherwise. */
function typed(doc: Document, text: string): number | boolean | undefined {
  const tag = doc.schema.tags.find((t): t is ScalarTag => t.default === true && !t.collection && t.test?.test(text) === true);
  if (tag === undefined) return undefined;
  const resolved = tag.resolve(text, () => {}, {});
  // Some tags resolve to a Scalar (to remember how the number was written).
  const value = isScalar(resolved) ? resolved.value : resolved;
  return typeof value === 'number' || typeof value === 'boolean' ? value : undefined;
}
