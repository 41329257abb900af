import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { dbTargets, startTestNode, type TestNode } from '../test/harness.js';
import { randomObject, store, storeUser, type StoreUser } from '../test/object-store.js';
import { blockHash, merkleRoot } from './logic/hashmap.js';

const BLOCK = 65536;
const EMPTY = createHash('sha256').digest('hex');

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const blocksOf = (data: Buffer) => {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += BLOCK) out.push(data.subarray(i, i + BLOCK));
  return out;
};

for (const db of dbTargets()) describe(`uploads by hashmap on ${db.name}`, () => {
  let t: TestNode;
  before(async () => { t = await startTestNode({ db, settings: { 'pithos.block_size': BLOCK } }); });
  after(async () => { await t?.close(); });

  /** A user with an empty container `box`, and their requests. */
  async function userWithBox() {
    const u = await storeUser(t);
    const req = (path: string, init: Parameters<typeof store>[1] = {}) => store(`${u.base}${path}`, { token: u.token, ...init });
    assert.equal((await req('/box', { method: 'PUT' })).status, 201);
    return { u, req };
  }

  const putHashmap = (u: StoreUser, path: string, body: unknown, headers: Record<string, string> = {}) =>
    store(`${u.base}${path}?hashmap&format=json`, { method: 'PUT', token: u.token, body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/octet-stream', ...headers } });

  it('the second upload of the same bytes sends zero blocks', async () => {
    // Four blocks, the third a repeat of the first, the last one short.
    const a = randomObject(BLOCK);
    const b = randomObject(BLOCK);
    const c = randomObject(BLOCK - 1000);
    const data = Buffer.concat([a, b, a, c]);
    const hashes = blocksOf(data).map((x) => blockHash(x, 'sha256'));
    const map = { bytes: data.length, hashes };
    const { u, req } = await userWithBox();

    const missing = await putHashmap(u, '/box/big.bin', map, { 'content-type': 'application/x-big' });
    assert.equal(missing.status, 409, missing.text);
    assert.match(missing.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual([...missing.json].sort(), [hashes[0], hashes[1], hashes[3]].sort(), 'each missing block named once');
    assert.equal((await req('/box/big.bin', { method: 'HEAD' })).status, 404, 'nothing is created yet');

    // Full blocks first: only the last block of one upload may be short.
    const order = [hashes[0]!, hashes[1]!, hashes[3]!];
    const bytesOf: Record<string, Buffer> = { [hashes[0]!]: a, [hashes[1]!]: b, [hashes[3]!]: c };
    const uploaded = await req('/box', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.concat(order.map((h) => bytesOf[h]!)) });
    assert.equal(uploaded.status, 202, uploaded.text);
    assert.deepEqual(uploaded.json, order);
    assert.equal((await req('/box', { method: 'HEAD' })).headers.get('x-container-object-count'), '0', 'blocks alone are no object');

    const created = await putHashmap(u, '/box/big.bin', map, { 'content-type': 'application/x-big' });
    assert.equal(created.status, 201, created.text);
    const got = await req('/box/big.bin');
    assert.equal(got.status, 200);
    assert.deepEqual(got.bytes, data);
    assert.equal(got.headers.get('etag'), md5(data), 'the MD5 is computed from the stored blocks');
    assert.equal(got.headers.get('content-type'), 'application/x-big');
    assert.equal(got.headers.get('x-object-hash'), merkleRoot(hashes, 'sha256'));
    assert.equal(got.headers.get('x-object-version'), created.headers.get('x-object-version'));

    const hashmap = await req('/box/big.bin?hashmap&format=json');
    assert.equal(hashmap.status, 200);
    assert.deepEqual(hashmap.json, { block_size: BLOCK, block_hash: 'sha256', bytes: data.length, hashes });

    const again = await putHashmap(u, '/box/twin.bin', map);
    assert.equal(again.status, 201, 'every block is known: no 409');
    assert.deepEqual((await req('/box/twin.bin')).bytes, data);

    const other = await storeUser(t, 'other');
    assert.equal((await store(`${other.base}/theirs`, { method: 'PUT', token: other.token })).status, 201);
    const theirs = await putHashmap(other, '/theirs/copy.bin', map);
    assert.equal(theirs.status, 201, 'blocks are shared by content across accounts');
    assert.deepEqual((await store(`${other.base}/theirs/copy.bin`, { token: other.token })).bytes, data);

    const head = await req('/box', { method: 'HEAD' });
    assert.equal(head.headers.get('x-container-object-count'), '2');
    assert.equal(head.headers.get('x-container-bytes-used'), String(2 * data.length));
  });

  it('the reply to a hashmap upload carries the ETag the object then shows', async () => {
    const data = randomObject(BLOCK + 10);
    const { u, req } = await userWithBox();
    assert.equal((await req('/box', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: data })).status, 202);
    const created = await putHashmap(u, '/box/e.bin', { bytes: data.length, hashes: blocksOf(data).map((x) => blockHash(x, 'sha256')) });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('etag'), (await req('/box/e.bin', { method: 'HEAD' })).headers.get('etag'));
  });

  it('an object uploaded as bytes can be re-created from its hashmap alone', async () => {
    const data = randomObject(2 * BLOCK + 10);
    const { u, req } = await userWithBox();
    assert.equal((await req('/box/plain.bin', { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } })).status, 201);
    const map = (await req('/box/plain.bin?hashmap')).json;
    assert.deepEqual(map.hashes, blocksOf(data).map((x) => blockHash(x, 'sha256')));
    const res = await putHashmap(u, '/box/from-map.bin', { bytes: map.bytes, hashes: map.hashes });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual((await req('/box/from-map.bin')).bytes, data);
  });

  it('malformed hashmaps are refused with 400 and create nothing', async () => {
    const { u, req } = await userWithBox();
    const h = blockHash(randomObject(100), 'sha256');
    const bad: [string, unknown][] = [
      ['not JSON', '{"bytes": 1, "hashes": ['],
      ['no hashes', { bytes: 100 }],
      ['no bytes', { hashes: [h] }],
      ['hashes not a list', { bytes: 100, hashes: h }],
      ['bytes not a number', { bytes: '100', hashes: [h] }],
      ['negative bytes', { bytes: -1, hashes: [h] }],
      ['a short hash', { bytes: 100, hashes: [h.slice(2)] }],
      ['an upper-case hash', { bytes: 100, hashes: [h.toUpperCase()] }],
      ['a hash that is not a string', { bytes: 100, hashes: [42] }],
      ['too few hashes for the size', { bytes: BLOCK + 1, hashes: [h] }],
      ['too many hashes for the size', { bytes: 100, hashes: [h, h] }],
      ['a JSON list', [h]],
    ];
    for (const [what, body] of bad) {
      const res = await putHashmap(u, '/box/bad.bin', body);
      assert.equal(res.status, 400, `${what}: ${res.status} ${res.text}`);
      assert.ok(res.json?.badRequest, `${what}: ${res.text}`);
    }
    assert.equal((await req('/box/bad.bin', { method: 'HEAD' })).status, 404);
    assert.equal((await req('/box')).status, 204, 'nothing listed');
  });

  it('an empty object is uploaded by hashmap with no hashes or with the hash of nothing', async () => {
    const { u, req } = await userWithBox();
    for (const [name, hashes] of [['none', []], ['nothing', [EMPTY]]] as const) {
      const res = await putHashmap(u, `/box/${name}`, { bytes: 0, hashes });
      assert.equal(res.status, 201, `${name}: ${res.text}`);
      const got = await req(`/box/${name}`);
      assert.equal(got.status, 200);
      assert.equal(got.bytes.length, 0);
      assert.equal(got.headers.get('x-object-hash'), EMPTY);
      assert.equal(got.headers.get('etag'), md5(Buffer.alloc(0)));
      assert.deepEqual((await req(`/box/${name}?hashmap`)).json, { block_size: BLOCK, block_hash: 'sha256', bytes: 0, hashes: [EMPTY] });
    }
    assert.equal((await req('/box')).text, 'none\nnothing\n');
  });
});
