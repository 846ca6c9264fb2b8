// Toxic types and attributes in a scenario, checked against the same definitions the server
// uses (toxics/index.ts and parseAttributes), so a file that validates is one the server
// accepts. Unlike the API, which ignores unknown attributes as Toxiproxy does, a scenario's
// keys are fixed: an unknown attribute is an error.

import { isMap, isScalar } from 'yaml';
import { TOXICS, findToxic } from '../../toxics/index.js';
import { attributeProtocol, parseAttributes, toxicApplies, type AnyToxicDefinition, type Attributes, type Protocol } from '../toxic.js';
import { describeValue } from './duration.js';
import { child, plain, type Checker, type YamlNode } from './validate-node.js';

/** The definition of a toxic type that applies to `protocol`, or undefined (reported). */
export function toxicType(
  c: Checker, node: YamlNode, path: string, type: string, protocol: Protocol | undefined, proxy: string,
): AnyToxicDefinition | undefined {
  const definition = findToxic(type);
  if (!definition) {
    c.report(node, path, `unknown toxic type '${type}'; expected one of ${TOXICS.map((t) => t.type).join(', ')}`);
    return undefined;
  }
  if (protocol !== undefined && !toxicApplies(definition, protocol)) {
    const fits = TOXICS.filter((t) => toxicApplies(t, protocol)).map((t) => t.type);
    c.report(node, path, `toxic type '${type}' does not apply to ${protocol} proxy '${proxy}'; ` +
      `it applies to ${definition.protocols.join(' and ')} (${protocol} takes ${fits.join(', ')})`);
    return undefined;
  }
  return definition;
}

/** The attributes as written, and merged over `base` (or the defaults) as the server will hold them. */
export interface CheckedAttributes {
  given: Record<string, unknown>;
  full: Attributes;
}

/**
 * Checks a toxic's attributes: each one against its spec (reported at its value), then the
 * definition's cross-field rules on the merged set (reported at the field they name).
 */
export function checkAttributes(
  c: Checker, definition: AnyToxicDefinition, node: YamlNode, path: string, base?: Attributes, protocol?: Protocol,
): CheckedAttributes | undefined {
  const target = c.resolve(node);
  const names = Object.keys(definition.attributes);
  const example = names.length > 0 ? ` like {${names[0]}: ${String(definition.attributes[names[0]!]!.default)}}` : '';
  if (!isMap(target)) {
    c.report(target, path, `expected a mapping of attributes${example}, got ${describeValue(plain(c, target))}`);
    return undefined;
  }
  const before = c.issues.length;
  const given: Record<string, unknown> = {};
  const nodes = new Map<string, YamlNode>();
  // Each attribute alone, without the cross-field rules, which need the whole set.
  const single: AnyToxicDefinition = { ...definition, validate: undefined };
  for (const pair of target.items) {
    const key = c.resolve(pair.key);
    const name = isScalar(key) ? String(key.value) : '?';
    const where = child(path, name);
    if (!names.includes(name)) {
      const expected = names.length > 0 ? `expected one of ${names.join(', ')}` : 'it takes no attributes';
      c.report(key, where, `unknown attribute '${name}' for a ${definition.type} toxic; ${expected}`, target);
      continue;
    }
    const value = plain(c, pair.value ?? null);
    const valueNode = pair.value ?? key;
    nodes.set(name, valueNode);
    if (value === null) {
      c.report(valueNode, where, `attribute ${name} needs a value (its default is ${String(definition.attributes[name]!.default)})`);
      continue;
    }
    try {
      parseAttributes(single, { [name]: value });
      given[name] = value;
    } catch (err) {
      c.report(valueNode, where, reason(err));
    }
  }
  if (c.issues.length > before) return undefined;
  try {
    return { given, full: parseAttributes(definition, given, base, protocol === undefined ? undefined : attributeProtocol(definition, protocol)) };
  } catch (err) {
    const message = reason(err);
    const field = /^attribute (\S+) /.exec(message)?.[1];
    const at = field !== undefined ? nodes.get(field) : undefined;
    c.report(at ?? target, at !== undefined && field !== undefined ? child(path, field) : path, message);
    return undefined;
  }
}

/** The server's message without its HTTP framing: `attribute latency must be a number, ...`. */
function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^bad request body: /, '');
}
