// Run and session ids are CLI arguments: none may start with `-`, or it reads as an option.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { publicId } from '../src/ids.js';

test('ids are 21 letters and digits: never an option-like `-` first', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const id = publicId();
    assert.match(id, /^[0-9A-Za-z]{21}$/);
    seen.add(id);
  }
  assert.is(seen.size, 20_000);
});

test.run();
