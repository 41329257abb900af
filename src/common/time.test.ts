import { it } from 'node:test';
import assert from 'node:assert/strict';
import { isoTime } from './time.js';

it('formats times as Synnefo does: UTC, microseconds when present, +00:00', () => {
  assert.equal(isoTime(Date.UTC(2013, 5, 19, 15, 23, 59, 975)), '2013-06-19T15:23:59.975000+00:00');
  assert.equal(isoTime(Date.UTC(2013, 5, 19, 15, 23, 59)), '2013-06-19T15:23:59+00:00');
});
