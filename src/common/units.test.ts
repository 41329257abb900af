import { it } from 'node:test';
import assert from 'node:assert/strict';
import { INFINITE, parseQuantity, showQuantity } from './units.js';

it('reads quantities as operators write them', () => {
  assert.equal(parseQuantity('12'), 12);
  assert.equal(parseQuantity('40G'), 40 * 2 ** 30);
  assert.equal(parseQuantity('512MiB'), 512 * 2 ** 20);
  assert.equal(parseQuantity('1.5k'), 1536);
  assert.equal(parseQuantity('inf'), INFINITE);
  assert.throws(() => parseQuantity('12 apples'), /invalid quantity/);
  assert.throws(() => parseQuantity('-1'), /invalid quantity/);
});

it('shows quantities back in binary units for byte resources', () => {
  assert.equal(showQuantity(40 * 2 ** 30, 'bytes'), '40G');
  assert.equal(showQuantity(INFINITE, ''), 'inf');
  assert.equal(showQuantity(7, ''), '7');
});
