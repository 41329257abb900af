import { it } from 'node:test';
import assert from 'node:assert/strict';
import { blockHash, isBlockHash, merkleRoot } from './hashmap.js';

// Reference values computed independently (Python hashlib) with Pithos' published rules.
const data = Buffer.from('hello world, blocks!');
const blocks = [data.subarray(0, 8), data.subarray(8, 16), data.subarray(16)];
const hashes = [
  '2850459f91fca1b8ca435e518708137a0eee63750d71056a67d700eb3d3ae9c9',
  'd2ca359991edf9d7912e8826facf03d674eb4398509e0efbbacaae3fc6a33edd',
  '6867e152c0661209310a6b8522cc94ad2e987c302caaeba78c11fc10b17189df',
];

it('hashes each block after trimming its trailing NUL bytes', () => {
  assert.deepEqual(blocks.map((b) => blockHash(b, 'sha256')), hashes);
  assert.equal(blockHash(Buffer.from('ab\0\0'), 'sha256'), blockHash(Buffer.from('ab'), 'sha256'));
});

it("computes an object's hash as the Merkle root of its blocks, padded to a power of two", () => {
  assert.equal(merkleRoot(hashes, 'sha256'), 'd18616a18ff7e4748dbd9c1eb31f7eef79fffab9604f37c0f2c39f501b0f0f3d');
  assert.equal(merkleRoot(hashes.slice(0, 1), 'sha256'), hashes[0]);
  assert.equal(merkleRoot([], 'sha256'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

it('recognizes block hashes of an algorithm', () => {
  assert.ok(isBlockHash(hashes[0], 'sha256'));
  assert.ok(!isBlockHash('abc', 'sha256'));
  assert.ok(!isBlockHash(hashes[0]!.toUpperCase(), 'sha256'));
});
