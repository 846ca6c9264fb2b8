// The README's toxic table is what users read to pick a toxic, so it must not drift from the
// registry: one row per toxic, the same protocols, every attribute named, and both sides of the
// connection described.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TOXICS } from '../toxics/index.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const HEADER = /^\| Type \| Attributes \(unit, default\) \| Protocols \|/;

type Row = { type: string; attributes: string; protocols: string[]; receiver: string; sender: string };

function tableRows(): Row[] {
  const lines = readFileSync(README, 'utf8').split('\n');
  const start = lines.findIndex((line) => HEADER.test(line));
  assert.ok(start >= 0, 'README.md has no toxic table');
  const rows: Row[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.slice(1, -1).split(' | ').map((cell) => cell.trim());
    assert.is(cells.length, 5, `row has ${cells.length} cells: ${line.slice(0, 60)}`);
    const [type, attributes, protocols, receiver, sender] = cells as [string, string, string, string, string];
    rows.push({ type: type.replaceAll('`', ''), attributes, protocols: protocols.split(', '), receiver, sender });
  }
  return rows;
}

test('one row per toxic, in the registry order', () => {
  assert.equal(
    tableRows().map((row) => row.type),
    TOXICS.map((t) => t.type),
  );
});

test("each row gives the toxic's protocols and names every attribute", () => {
  const rows = new Map(tableRows().map((row) => [row.type, row]));
  for (const toxic of TOXICS) {
    const row = rows.get(toxic.type);
    assert.ok(row, `no row for ${toxic.type}`);
    assert.equal(row.protocols, [...toxic.protocols], `protocols of ${toxic.type}`);
    const names = Object.keys(toxic.attributes);
    if (names.length === 0) assert.is(row.attributes, 'none', `${toxic.type} has no attributes`);
    for (const name of names) {
      assert.ok(row.attributes.includes(`\`${name}\``), `${toxic.type}'s row does not name ${name}`);
    }
  }
});

test('each row says what both sides observe', () => {
  for (const row of tableRows()) {
    assert.ok(row.receiver.length > 3, `${row.type}: receiver cell is empty`);
    assert.ok(row.sender.length > 3, `${row.type}: sender cell is empty`);
  }
});

test.run();
