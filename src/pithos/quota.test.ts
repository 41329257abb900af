import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { call, dbTargets, startTestNode, withAstakos, type TestNode } from '../test/harness.js';
import { randomObject, store, storeUser, type StoreUser } from '../test/object-store.js';
import { blockHash } from './logic/hashmap.js';

const BLOCK = 65536;
/** Every user's disk space in this suite, in bytes. */
const LIMIT = 300_000;
const DISKSPACE = 'pithos.diskspace';

for (const db of dbTargets()) describe(`disk space quota on ${db.name}`, () => {
  let t: TestNode;
  before(async () => {
    t = await startTestNode({ db, settings: { 'pithos.block_size': BLOCK } });
    await withAstakos(t, (a) => a.resources.modify(DISKSPACE, { baseDefault: LIMIT, updateExisting: true }));
  });
  after(async () => { await t?.close(); });

  /** A user with an empty container `box`, their requests, and their disk space as Astakos counts it. */
  async function userWithBox(policy: Record<string, string> = {}) {
    const u = await storeUser(t);
    const req = (path: string, init: Parameters<typeof store>[1] = {}) => store(`${u.base}${path}`, { token: u.token, ...init });
    const put = (path: string, body: Buffer | string) => req(path, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal((await req('/box', { method: 'PUT', headers: policy })).status, 201);
    return { u, req, put, diskspace: () => diskspace(u) };
  }

  async function diskspace(u: StoreUser): Promise<{ limit: number; usage: number; pending: number }> {
    const res = await call(`${t.url}/astakos/account/v1.0/quotas`, { token: u.token });
    assert.equal(res.status, 200, res.text);
    const { limit, usage, pending } = res.json[u.uuid][DISKSPACE];
    return { limit, usage, pending };
  }

  it('a user over quota cannot upload: 413, nothing listed, usage unchanged and nothing pending', async () => {
    const { req, put, diskspace } = await userWithBox();
    assert.deepEqual(await diskspace(), { limit: LIMIT, usage: 0, pending: 0 });
    assert.equal((await req('', { method: 'HEAD' })).headers.get('x-account-policy-quota'), String(LIMIT));
    const kept = randomObject(250_000);
    assert.equal((await put('/box/kept.bin', kept)).status, 201);

    const refused = await put('/box/too-much.bin', randomObject(60_000));
    assert.equal(refused.status, 413, refused.text);
    assert.equal((await req('/box/too-much.bin', { method: 'HEAD' })).status, 404);
    assert.equal((await req('/box')).text, 'kept.bin\n');
    assert.deepEqual(await diskspace(), { limit: LIMIT, usage: 250_000, pending: 0 });

    const grown = await put('/box/kept.bin', randomObject(LIMIT + 1));
    assert.equal(grown.status, 413, 'an overwrite that grows past the limit');
    assert.deepEqual((await req('/box/kept.bin')).bytes, kept, 'the object keeps its bytes');

    // Blocks themselves are free: only the object that uses them is charged.
    const data = randomObject(2 * BLOCK);
    assert.equal((await req('/box', { method: 'POST', body: data, headers: { 'content-type': 'application/octet-stream' } })).status, 202);
    const hashes = [data.subarray(0, BLOCK), data.subarray(BLOCK)].map((b) => blockHash(b, 'sha256'));
    const byMap = await req('/box/by-map.bin?hashmap', { method: 'PUT', json: { bytes: data.length, hashes } });
    assert.equal(byMap.status, 413, byMap.text);
    assert.equal((await req('/box/by-map.bin', { method: 'HEAD' })).status, 404);

    const copied = await req('/box/copy.bin', { method: 'PUT', headers: { 'x-copy-from': '/box/kept.bin', 'content-length': '0' } });
    assert.equal(copied.status, 413, 'a copy is charged too');
    assert.equal((await req('/box')).text, 'kept.bin\n');
    const head = await req('/box', { method: 'HEAD' });
    assert.equal(head.headers.get('x-container-object-count'), '1');
    assert.equal(head.headers.get('x-container-bytes-used'), '250000');
    assert.deepEqual(await diskspace(), { limit: LIMIT, usage: 250_000, pending: 0 });

    assert.equal((await put('/box/fits.bin', randomObject(LIMIT - 250_000))).status, 201, 'exactly up to the limit is allowed');
    assert.deepEqual(await diskspace(), { limit: LIMIT, usage: LIMIT, pending: 0 });
  });

  it('usage follows writes, overwrites (by the difference), copies and deletes', async () => {
    const { req, put, diskspace } = await userWithBox();
    const usage = async () => {
      const d = await diskspace();
      assert.equal(d.pending, 0, 'nothing is left pending');
      assert.equal((await req('', { method: 'HEAD' })).headers.get('x-account-bytes-used'), String(d.usage), 'the account reports the same bytes');
      return d.usage;
    };
    assert.equal((await put('/box/a', randomObject(1000))).status, 201);
    assert.equal(await usage(), 1000);
    assert.equal((await put('/box/a', randomObject(400))).status, 201);
    assert.equal(await usage(), 400, 'an overwrite charges the difference');
    assert.equal((await put('/box/a', randomObject(BLOCK + 5))).status, 201);
    assert.equal(await usage(), BLOCK + 5);
    assert.equal((await put('/box/b', randomObject(600))).status, 201);
    assert.equal(await usage(), BLOCK + 605);
    assert.equal((await req('/box/b?update', { method: 'POST', headers: { 'x-object-meta-tag': 'x' } })).status, 202);
    assert.equal(await usage(), BLOCK + 605, 'metadata is free');
    assert.equal((await req('/box/c', { method: 'PUT', headers: { 'x-copy-from': '/box/b', 'content-length': '0' } })).status, 201);
    assert.equal(await usage(), BLOCK + 1205, 'a copy counts in full');
    assert.equal((await req('/box/d', { method: 'PUT', headers: { 'x-move-from': '/box/c', 'content-length': '0' } })).status, 201);
    assert.equal(await usage(), BLOCK + 1205, 'a move changes nothing');
    assert.equal((await req('/box/a', { method: 'DELETE' })).status, 204);
    assert.equal(await usage(), 1200);
    assert.equal((await req('/box/b', { method: 'DELETE' })).status, 204);
    assert.equal((await req('/box/d', { method: 'DELETE' })).status, 204);
    assert.equal(await usage(), 0);
    assert.equal((await put('/box/empty', '')).status, 201);
    assert.equal(await usage(), 0);
  });

  it('a container quota policy refuses a write that would exceed it with 413', async () => {
    const { req, put, diskspace } = await userWithBox({ 'x-container-policy-quota': '100' });
    assert.equal((await req('/box', { method: 'HEAD' })).headers.get('x-container-policy-quota'), '100');
    const refused = await put('/box/big', randomObject(101));
    assert.equal(refused.status, 413, refused.text);
    assert.equal((await req('/box/big', { method: 'HEAD' })).status, 404);
    assert.deepEqual(await diskspace(), { limit: LIMIT, usage: 0, pending: 0 });

    assert.equal((await put('/box/full', randomObject(100))).status, 201);
    assert.equal((await put('/box/one-more', 'x')).status, 413);
    assert.equal((await put('/box/full', randomObject(60))).status, 201, 'an overwrite counts by the difference');
    assert.equal((await put('/box/rest', randomObject(40))).status, 201);
    assert.equal((await req('/box/copy', { method: 'PUT', headers: { 'x-copy-from': '/box/rest', 'content-length': '0' } })).status, 413);
    assert.equal((await req('/box')).text, 'full\nrest\n');
    assert.deepEqual(await diskspace(), { limit: LIMIT, usage: 100, pending: 0 });

    assert.equal((await req('/box', { method: 'POST', headers: { 'x-container-policy-quota': '0' } })).status, 202);
    assert.equal((await put('/box/one-more', 'x')).status, 201, 'quota 0 means no container limit');
    assert.deepEqual(await diskspace(), { limit: LIMIT, usage: 101, pending: 0 });
  });

  it('a client that goes away mid-upload leaves no object and nothing pending; the next upload works', async () => {
    const { u, req, put, diskspace } = await userWithBox();
    const data = randomObject(250_000);
    const url = new URL(`${u.base}/box/cut-short`);
    await new Promise<void>((resolve) => {
      const r = httpRequest(url, { method: 'PUT', headers: { 'x-auth-token': u.token, 'content-type': 'application/octet-stream', 'content-length': String(data.length) } });
      r.on('error', () => resolve());
      r.on('close', () => resolve());
      // Several blocks' worth, then the connection drops.
      r.write(data.subarray(0, 200_000), () => setTimeout(() => r.destroy(), 200));
    });
    let state = { status: 0, pending: -1, usage: -1 };
    for (let i = 0; i < 50; i++) {
      const d = await diskspace();
      state = { status: (await req('/box/cut-short', { method: 'HEAD' })).status, pending: d.pending, usage: d.usage };
      if (state.status === 404 && state.pending === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(state, { status: 404, pending: 0, usage: 0 }, 'no object, nothing charged, nothing pending');
    assert.equal((await put('/box/cut-short', data)).status, 201);
    assert.deepEqual((await req('/box/cut-short')).bytes, data);
    assert.deepEqual(await diskspace(), { limit: LIMIT, usage: data.length, pending: 0 });
  });
});
