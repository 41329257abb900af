import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { call, dbTargets, startTestNode, withAstakos, type TestNode } from '../test/harness.js';
import { randomObject, store, storeUser, type StoreReply, type StoreUser, rawStatus } from '../test/object-store.js';
import { blockHash, merkleRoot } from './logic/hashmap.js';

const BLOCK = 4096;
/** Every user's disk space in this suite, in bytes. */
const LIMIT = 200_000;
const DISKSPACE = 'pithos.diskspace';

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const header = (res: StoreReply, name: string) => res.headers.get(name);
/** The block hashes of some bytes, as the store names them. */
const blocksOf = (data: Buffer) => {
  const out: string[] = [];
  for (let at = 0; at < data.length; at += BLOCK) out.push(blockHash(data.subarray(at, at + BLOCK), 'sha256'));
  return out;
};
/** `data` with `bytes` written at `offset`. */
const patched = (data: Buffer, offset: number, bytes: Buffer) => {
  const out = Buffer.alloc(Math.max(data.length, offset + bytes.length));
  data.copy(out);
  bytes.copy(out, offset);
  return out;
};


for (const db of dbTargets()) describe(`object data updates (POST with Content-Range) on ${db.name}`, () => {
  let t: TestNode;
  before(async () => {
    t = await startTestNode({ db, settings: { 'pithos.block_size': BLOCK } });
    await withAstakos(t, (a) => a.resources.modify(DISKSPACE, { baseDefault: LIMIT, updateExisting: true }));
  });
  after(async () => { await t?.close(); });

  /** A user with a container `box` (with the given policy) holding the given objects, and their requests. */
  async function userWith(objects: Record<string, Buffer> = {}, policy: Record<string, string> = {}) {
    const u = await storeUser(t);
    const req = (path: string, init: Parameters<typeof store>[1] = {}) => store(`${u.base}${path}`, { token: u.token, ...init });
    const put = (path: string, body: Buffer, headers: Record<string, string> = {}) => req(path, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream', ...headers } });
    /** A data update: bytes (labelled application/octet-stream) at a Content-Range. */
    const update = (path: string, range: string, body: Buffer, headers: Record<string, string> = {}) =>
      req(path, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'content-range': range, ...headers } });
    assert.equal((await req('/box', { method: 'PUT', headers: policy })).status, 201);
    for (const [name, body] of Object.entries(objects)) assert.equal((await put(`/box/${name}`, body)).status, 201);
    const hashmap = async (path: string): Promise<string[]> => (await req(`${path}?hashmap&format=json`)).json.hashes;
    const versions = async (path: string): Promise<number> => (await req(`${path}?version=list`)).json.versions.length;
    return { u, req, put, update, hashmap, versions };
  }

  async function diskspace(u: StoreUser): Promise<{ usage: number; pending: number }> {
    const res = await call(`${t.url}/astakos/account/v1.0/quotas`, { token: u.token });
    assert.equal(res.status, 200, res.text);
    const { usage, pending } = res.json[u.uuid][DISKSPACE];
    return { usage, pending };
  }

  /** Asserts an object's bytes, ETag (MD5) and X-Object-Hash (Merkle root of its blocks). */
  async function assertObject(req: (path: string, init?: Parameters<typeof store>[1]) => Promise<StoreReply>, path: string, data: Buffer) {
    const got = await req(path);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.bytes.length, data.length, 'size');
    assert.ok(got.bytes.equals(data), 'bytes');
    assert.equal(header(got, 'etag'), md5(data));
    assert.equal(header(got, 'x-object-hash'), merkleRoot(blocksOf(data), 'sha256'));
  }

  it('an append (Content-Range: bytes */*) adds the bytes at the end: 204 with the new ETag, a new version, the same object', async () => {
    const data = randomObject(BLOCK + 904);
    const { req, update, hashmap, versions } = await userWith({ 'log.bin': data });
    const first = await req('/box/log.bin', { method: 'HEAD' });
    const before = await hashmap('/box/log.bin');
    const more = randomObject(5000);
    const res = await update('/box/log.bin?update', 'bytes */*', more);
    assert.equal(res.status, 204, res.text);
    const whole = Buffer.concat([data, more]);
    assert.equal(header(res, 'etag'), md5(whole));
    assert.ok(Number(header(res, 'x-object-version')) > Number(header(first, 'x-object-version')));
    await assertObject(req, '/box/log.bin', whole);

    const after = await hashmap('/box/log.bin');
    assert.deepEqual(after, blocksOf(whole));
    assert.equal(after[0], before[0], 'the untouched first block is shared, not rewritten');
    const head = await req('/box/log.bin', { method: 'HEAD' });
    assert.equal(header(head, 'x-object-uuid'), header(first, 'x-object-uuid'));
    assert.equal(header(head, 'x-object-version'), header(res, 'x-object-version'));
    assert.equal(header(head, 'content-type'), 'application/octet-stream');
    assert.equal(await versions('/box/log.bin'), 2);
    assert.ok((await req(`/box/log.bin?version=${header(first, 'x-object-version')}`)).bytes.equals(data), 'the earlier version keeps its bytes');
    const listed = await req('/box?format=json');
    assert.equal(listed.json[0].bytes, whole.length);
    assert.equal((await req('/box', { method: 'HEAD' })).headers.get('x-container-bytes-used'), String(whole.length));
  });

  it('an overwrite of a range across a block boundary rewrites only the blocks it reaches, and may run past the end', async () => {
    let data = randomObject(3 * BLOCK + 100);
    const { req, update, hashmap } = await userWith({ 'disk.img': data });
    const before = await hashmap('/box/disk.img');

    const middle = randomObject(200);
    const res = await update('/box/disk.img?update', `bytes ${BLOCK - 96}-${BLOCK + 103}/*`, middle);
    assert.equal(res.status, 204, res.text);
    data = patched(data, BLOCK - 96, middle);
    await assertObject(req, '/box/disk.img', data);
    const after = await hashmap('/box/disk.img');
    assert.deepEqual(after, blocksOf(data));
    assert.notEqual(after[0], before[0]);
    assert.notEqual(after[1], before[1]);
    assert.deepEqual(after.slice(2), before.slice(2), 'blocks past the range are shared');

    // A range without its last byte takes the body's length; one running past the end grows the object.
    const tail = randomObject(BLOCK);
    assert.equal((await update('/box/disk.img?update', `bytes ${data.length - 10}-/*`, tail)).status, 204);
    data = patched(data, data.length - 10, tail);
    await assertObject(req, '/box/disk.img', data);

    // A range giving the object's size passes that check when the size is right.
    const head = randomObject(5);
    assert.equal((await update('/box/disk.img?update', `bytes 0-4/${data.length}`, head)).status, 204);
    data = patched(data, 0, head);
    await assertObject(req, '/box/disk.img', data);
  });

  it('a chunked update (no Content-Length) is read to its end, however many blocks it spans', async () => {
    let data = randomObject(2 * BLOCK);
    const { u, req } = await userWith({ 'stream.bin': data });
    const parts = [randomObject(3000), randomObject(100_000), randomObject(3000)];
    const body = new ReadableStream<Uint8Array>({
      start(controller) { for (const p of parts) controller.enqueue(p); controller.close(); },
    });
    const res = await fetch(`${u.base}/box/stream.bin?update`, {
      method: 'POST', body, duplex: 'half',
      headers: { 'x-auth-token': u.token, 'content-type': 'application/octet-stream', 'content-range': `bytes ${BLOCK + 10}-/*` },
    } as RequestInit);
    assert.equal(res.status, 204, await res.text());
    data = patched(data, BLOCK + 10, Buffer.concat(parts));
    await assertObject(req, '/box/stream.bin', data);
  });

  it("a truncate (X-Object-Bytes, the object as its own source, as kamaki sends it) cuts the object and rehashes the block it ends in", async () => {
    const data = randomObject(2 * BLOCK + 500);
    const { req, put, hashmap } = await userWith();
    assert.equal((await put('/box/notes.txt', data, { 'content-type': 'text/plain', 'x-object-meta-kind': 'notes' })).status, 201);
    const before = await hashmap('/box/notes.txt');
    const res = await req('/box/notes.txt?update', { method: 'POST', headers: { 'content-type': 'text/plain', 'x-source-object': '/box/notes.txt', 'content-range': 'bytes 0-0/*', 'x-object-bytes': '5000' } });
    assert.equal(res.status, 204, res.text);
    const cut = data.subarray(0, 5000);
    await assertObject(req, '/box/notes.txt', cut);
    const after = await hashmap('/box/notes.txt');
    assert.deepEqual(after, [before[0], blockHash(data.subarray(BLOCK, 5000), 'sha256')]);
    const head = await req('/box/notes.txt', { method: 'HEAD' });
    assert.equal(header(head, 'content-type'), 'text/plain', 'the type stays');
    assert.equal(header(head, 'x-object-meta-kind'), 'notes', 'metadata stays with ?update');

    assert.equal((await req('/box/notes.txt?update', { method: 'POST', headers: { 'x-source-object': '/box/notes.txt', 'content-range': 'bytes 0-0/*', 'x-object-bytes': '0' } })).status, 204);
    await assertObject(req, '/box/notes.txt', Buffer.alloc(0));
    assert.equal(header(await req('/box/notes.txt', { method: 'HEAD' }), 'content-length'), '0');

    // X-Object-Bytes never grows an object.
    assert.equal((await req('/box/notes.txt?update', { method: 'POST', body: Buffer.from('abc'), headers: { 'content-type': 'application/octet-stream', 'content-range': 'bytes */*', 'x-object-bytes': '10' } })).status, 204);
    await assertObject(req, '/box/notes.txt', Buffer.from('abc'));
  });

  it("an update from another object (X-Source-Object, X-Source-Version) writes that object's first bytes in, whole blocks shared at a block boundary", async () => {
    const src = randomObject(2 * BLOCK + 500);
    let dest = randomObject(3 * BLOCK);
    const { req, put, hashmap } = await userWith({ 'src.bin': src, 'dest.bin': dest });
    const srcBlocks = await hashmap('/box/src.bin');

    const aligned = await req('/box/dest.bin?update', { method: 'POST', headers: { 'x-source-object': '/box/src.bin', 'content-range': `bytes ${BLOCK}-/*` } });
    assert.equal(aligned.status, 204, aligned.text);
    dest = patched(dest, BLOCK, src);
    await assertObject(req, '/box/dest.bin', dest);
    const after = await hashmap('/box/dest.bin');
    assert.deepEqual(after.slice(1, 3), srcBlocks.slice(0, 2), "the source's whole blocks are taken as they are");

    const unaligned = await req('/box/dest.bin?update', { method: 'POST', headers: { 'x-source-object': '/box/src.bin', 'content-range': 'bytes 10-109/*' } });
    assert.equal(unaligned.status, 204, unaligned.text);
    dest = patched(dest, 10, src.subarray(0, 100));
    await assertObject(req, '/box/dest.bin', dest);

    // An earlier version of the source.
    const v1 = header(await req('/box/src.bin', { method: 'HEAD' }), 'x-object-version')!;
    assert.equal((await put('/box/src.bin', randomObject(50))).status, 201);
    const old = await req('/box/dest.bin?update', { method: 'POST', headers: { 'x-source-object': '/box/src.bin', 'x-source-version': v1, 'content-range': 'bytes 0-999/*' } });
    assert.equal(old.status, 204, old.text);
    dest = patched(dest, 0, src.subarray(0, 1000));
    await assertObject(req, '/box/dest.bin', dest);

    const tooLong = await req('/box/dest.bin?update', { method: 'POST', headers: { 'x-source-object': '/box/src.bin', 'content-range': 'bytes 0-99/*' } });
    assert.equal(tooLong.status, 400, 'a range longer than the source');
    assert.equal((await req('/box/dest.bin?update', { method: 'POST', headers: { 'x-source-object': '/box/missing', 'content-range': 'bytes 0-0/*' } })).status, 404);
    await assertObject(req, '/box/dest.bin', dest);
  });

  it("bad updates are refused with Pithos' codes and change nothing", async () => {
    const data = randomObject(BLOCK + 10);
    const { u, req, update, versions } = await userWith({ 'a.bin': data });
    const some = Buffer.from('0123456789');
    const refusals: [string, Promise<StoreReply>, number][] = [
      ['no Content-Range', req('/box/a.bin', { method: 'POST', body: some, headers: { 'content-type': 'application/octet-stream' } }), 400],
      ['a malformed range', update('/box/a.bin', 'bytes a-b/*', some), 416],
      ['a range ending before it starts', update('/box/a.bin', 'bytes 10-1/*', some), 416],
      ['a range past its own total', update('/box/a.bin', 'bytes 0-9/5', some), 416],
      ['an offset past the end', update('/box/a.bin', `bytes ${data.length + 1}-${data.length + 10}/*`, some), 416],
      ['a total other than the size', update('/box/a.bin', 'bytes 0-9/99999', some), 416],
      ['a total with a range past the end', update('/box/a.bin', `bytes ${data.length - 5}-${data.length + 4}/${data.length + 5}`, some), 416],
      ['a Content-Length other than the range', update('/box/a.bin', 'bytes 0-19/*', some), 400],
      ['a bad X-Object-Bytes', update('/box/a.bin', 'bytes */*', some, { 'x-object-bytes': 'many' }), 400],
      ['a missing object', update('/box/missing.bin', 'bytes */*', some), 404],
      ['If-Match another ETag', update('/box/a.bin', 'bytes */*', some, { 'if-match': md5(some) }), 412],
      ['If-None-Match *', update('/box/a.bin', 'bytes */*', some, { 'if-none-match': '*' }), 412],
    ];
    for (const [what, res, status] of refusals) assert.equal((await res).status, status, what);
    assert.equal(await rawStatus('POST', `${u.base}/box/a.bin`, [`X-Auth-Token: ${u.token}`, 'Content-Type: application/octet-stream', 'Content-Range: bytes */*']), 411, 'no Content-Length, not chunked');
    await assertObject(req, '/box/a.bin', data);
    assert.equal(await versions('/box/a.bin'), 1);

    const matching = await update('/box/a.bin', 'bytes */*', some, { 'if-match': md5(data) });
    assert.equal(matching.status, 204, 'If-Match the current ETag');
    // A metadata POST honours If-Match too.
    assert.equal((await req('/box/a.bin', { method: 'POST', headers: { 'if-match': md5(data), 'x-object-meta-a': '1' } })).status, 412);
  });

  it('another user may update an object only with write access to it', async () => {
    const data = randomObject(1000);
    const alice = await userWith({ 'shared.bin': data });
    const bob = await storeUser(t, 'bob');
    const more = Buffer.from('from bob');
    const bobUpdates = () => store(`${alice.u.base}/box/shared.bin?update`, { method: 'POST', token: bob.token, body: more, headers: { 'content-type': 'application/octet-stream', 'content-range': 'bytes */*' } });
    const share = (sharing: string) => alice.req('/box/shared.bin?update', { method: 'POST', headers: { 'x-object-sharing': sharing } });

    assert.equal((await bobUpdates()).status, 403, 'not shared');
    assert.equal((await share(`read=${bob.uuid}`)).status, 202);
    assert.equal((await bobUpdates()).status, 403, 'read access only');
    await assertObject(alice.req, '/box/shared.bin', data);

    assert.equal((await share(`write=${bob.uuid}`)).status, 202);
    const res = await bobUpdates();
    assert.equal(res.status, 204, res.text);
    await assertObject(alice.req, '/box/shared.bin', Buffer.concat([data, more]));
    assert.equal(header(await alice.req('/box/shared.bin', { method: 'HEAD' }), 'x-object-modified-by'), bob.uuid);
    assert.deepEqual(await diskspace(alice.u), { usage: data.length + more.length, pending: 0 }, "the owner's disk space is charged");
    assert.deepEqual(await diskspace(bob), { usage: 0, pending: 0 });
  });

  it('an update over quota is refused with 413: the object keeps its bytes and nothing is pending', async () => {
    const data = randomObject(LIMIT - 1000);
    const { u, req, update, versions } = await userWith({ 'big.bin': data });
    assert.deepEqual(await diskspace(u), { usage: data.length, pending: 0 });

    const refused = await update('/box/big.bin?update', 'bytes */*', randomObject(1001));
    assert.equal(refused.status, 413, refused.text);
    await assertObject(req, '/box/big.bin', data);
    assert.equal(await versions('/box/big.bin'), 1);
    assert.deepEqual(await diskspace(u), { usage: data.length, pending: 0 });

    // An overwrite inside the object costs nothing; growth up to the limit is charged; a cut gives back.
    assert.equal((await update('/box/big.bin?update', 'bytes 0-999/*', randomObject(1000))).status, 204);
    assert.deepEqual(await diskspace(u), { usage: data.length, pending: 0 });
    assert.equal((await update('/box/big.bin?update', 'bytes */*', randomObject(1000))).status, 204);
    assert.deepEqual(await diskspace(u), { usage: LIMIT, pending: 0 });
    assert.equal((await req('/box/big.bin?update', { method: 'POST', headers: { 'x-source-object': '/box/big.bin', 'content-range': 'bytes 0-0/*', 'x-object-bytes': '100' } })).status, 204);
    assert.deepEqual(await diskspace(u), { usage: 100, pending: 0 });
  });

  it('a container quota policy refuses an update that would exceed it, with 413', async () => {
    const { u, req, update } = await userWith({ 'a.bin': randomObject(90) }, { 'x-container-policy-quota': '100' });
    assert.equal((await update('/box/a.bin?update', 'bytes */*', randomObject(11))).status, 413);
    assert.equal(header(await req('/box/a.bin', { method: 'HEAD' }), 'content-length'), '90');
    assert.equal((await update('/box/a.bin?update', 'bytes */*', randomObject(10))).status, 204);
    assert.deepEqual(await diskspace(u), { usage: 100, pending: 0 });
  });

  it('under versioning none an update replaces the version; without ?update it replaces the metadata, as Pithos does', async () => {
    const { req, put, update, versions } = await userWith({}, { 'x-container-policy-versioning': 'none' });
    assert.equal((await put('/box/one.bin', Buffer.from('abc'), { 'x-object-meta-a': '1' })).status, 201);
    assert.equal((await update('/box/one.bin', 'bytes */*', Buffer.from('def'), { 'x-object-meta-b': '2' })).status, 204);
    assert.equal(await versions('/box/one.bin'), 1);
    const head = await req('/box/one.bin', { method: 'HEAD' });
    assert.equal(header(head, 'x-object-meta-a'), null);
    assert.equal(header(head, 'x-object-meta-b'), '2');
    await assertObject(req, '/box/one.bin', Buffer.from('abcdef'));
  });

  it('parallel appends (as kamaki sends a file block by block) are each applied once, none lost', async () => {
    const data = randomObject(100);
    const { req, update } = await userWith({ 'parallel.bin': data });
    const parts = Array.from({ length: 8 }, (_, i) => Buffer.alloc(BLOCK / 2, 65 + i));
    const answers = await Promise.all(parts.map((p) => update('/box/parallel.bin?update', 'bytes */*', p)));
    assert.deepEqual(answers.map((r) => r.status), parts.map(() => 204));
    const got = (await req('/box/parallel.bin')).bytes;
    assert.equal(got.length, data.length + parts.length * BLOCK / 2);
    assert.ok(got.subarray(0, data.length).equals(data));
    const appended = [];
    for (let at = data.length; at < got.length; at += BLOCK / 2) appended.push(got[at]!);
    assert.deepEqual(appended.sort(), parts.map((p) => p[0]!).sort(), 'every part once, whole');
  });
});
