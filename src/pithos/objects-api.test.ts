import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { call, dbTargets, startTestNode, type TestNode } from '../test/harness.js';
import { randomObject, store, storeUser, type StoreReply, type StoreUser, rawStatus } from '../test/object-store.js';
import { blockHash, merkleRoot } from './logic/hashmap.js';

const BLOCK = 65536;
const GIB = 1024 ** 3;

const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');
const header = (res: StoreReply, name: string) => res.headers.get(name);


/** The parts of a multipart/byteranges body: each part's Content-Range and bytes. */
function byteranges(body: Buffer, boundary: string): { range: string; data: Buffer }[] {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const parts: { range: string; data: Buffer }[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headersEnd = body.indexOf('\r\n\r\n', start);
    const head = body.subarray(start, headersEnd).toString();
    const next = body.indexOf(delimiter, headersEnd + 4);
    parts.push({ range: /content-range: *(.*)/i.exec(head)?.[1]?.trim() ?? '', data: body.subarray(headersEnd + 4, next) });
    at = next;
  }
  return parts;
}

for (const db of dbTargets()) describe(`the object API on ${db.name}`, () => {
  let t: TestNode;
  before(async () => { t = await startTestNode({ db, settings: { 'pithos.block_size': BLOCK } }); });
  after(async () => { await t?.close(); });

  const as = (u: StoreUser) => ({
    req: (path: string, init: Parameters<typeof store>[1] = {}) => store(`${u.base}${path}`, { token: u.token, ...init }),
    put: (path: string, body: string | Buffer, headers: Record<string, string> = {}) => store(`${u.base}${path}`, { method: 'PUT', token: u.token, body, headers: { 'content-type': 'application/octet-stream', ...headers } }),
  });

  /** A user with a container `box` holding the given objects. */
  async function userWith(objects: Record<string, string | Buffer> = {}) {
    const u = await storeUser(t);
    const api = as(u);
    assert.equal((await api.req('/box', { method: 'PUT' })).status, 201);
    for (const [name, body] of Object.entries(objects)) {
      const res = await api.put(`/box/${name}`, body);
      assert.equal(res.status, 201, res.text);
    }
    return { u, ...api };
  }

  describe('accounts', () => {
    it('a new account has no containers: HEAD shows zero counts and the quota, an empty plain listing is 204', async () => {
      const u = await storeUser(t);
      const { req } = as(u);
      const head = await req('', { method: 'HEAD' });
      assert.equal(head.status, 204);
      assert.equal(header(head, 'x-account-container-count'), '0');
      assert.equal(header(head, 'x-account-bytes-used'), '0');
      assert.equal(header(head, 'x-account-policy-quota'), String(40 * GIB));
      assert.ok(header(head, 'last-modified'));
      const plain = await req('');
      assert.equal(plain.status, 204);
      assert.equal(plain.text, '');
      const json = await req('?format=json');
      assert.equal(json.status, 200);
      assert.deepEqual(json.json, []);
    });

    it('an account lists its containers as text, JSON and XML, with their counts and bytes', async () => {
      const { u, req, put } = await userWith({ 'a.txt': 'hello', 'b.txt': 'world!' });
      assert.equal((await req('/attic', { method: 'PUT' })).status, 201);
      const head = await req('', { method: 'HEAD' });
      assert.equal(header(head, 'x-account-container-count'), '2');
      assert.equal(header(head, 'x-account-bytes-used'), '11');

      const plain = await req('');
      assert.equal(plain.status, 200);
      assert.match(header(plain, 'content-type') ?? '', /^text\/plain/);
      assert.equal(plain.text, 'attic\nbox\n');

      const json = await req('?format=json');
      assert.equal(json.status, 200);
      assert.deepEqual(json.json.map((c: any) => [c.name, c.count, c.bytes]), [['attic', 0, 0], ['box', 2, 11]]);
      const box = json.json[1];
      assert.match(box.last_modified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
      assert.deepEqual(box.x_container_policy, { quota: '0', versioning: 'auto', project: u.uuid });
      assert.deepEqual((await req('', { headers: { accept: 'application/json' } })).json, json.json, 'Accept chooses JSON too');

      const xml = await req('?format=xml');
      assert.equal(xml.status, 200);
      assert.match(header(xml, 'content-type') ?? '', /^application\/xml/);
      assert.match(xml.text, /^<\?xml version="1.0" encoding="UTF-8"\?>/);
      assert.match(xml.text, /<container><name>attic<\/name><count>0<\/count><bytes>0<\/bytes>/);
      assert.match(xml.text, /<container><name>box<\/name><count>2<\/count><bytes>11<\/bytes>/);

      assert.equal((await req('?limit=1')).text, 'attic\n');
      assert.equal((await req('?marker=attic')).text, 'box\n');
      assert.equal((await put('/box/c.txt', 'abc')).status, 201);
      assert.equal(header(await req('', { method: 'HEAD' }), 'x-account-bytes-used'), '14', 'the account counts every write');
    });

    it('account metadata is replaced by a POST and merged by a POST ?update', async () => {
      const u = await storeUser(t);
      const { req } = as(u);
      const meta = async () => {
        const head = await req('', { method: 'HEAD' });
        return Object.fromEntries([...head.headers].filter(([k]) => k.startsWith('x-account-meta-')));
      };
      assert.equal((await req('', { method: 'POST', headers: { 'x-account-meta-color': 'blue', 'x-account-meta-size': 'big' } })).status, 202);
      assert.deepEqual(await meta(), { 'x-account-meta-color': 'blue', 'x-account-meta-size': 'big' });
      assert.equal((await req('?update', { method: 'POST', headers: { 'x-account-meta-color': 'red', 'x-account-meta-size': '' } })).status, 202);
      assert.deepEqual(await meta(), { 'x-account-meta-color': 'red' }, 'update merges, an empty value removes a key');
      assert.equal((await req('?update', { method: 'POST', headers: { 'x-account-meta-shape': 'round' } })).status, 202);
      assert.deepEqual(await meta(), { 'x-account-meta-color': 'red', 'x-account-meta-shape': 'round' });
      assert.equal((await req('', { method: 'POST', headers: { 'x-account-meta-weight': 'light' } })).status, 202);
      assert.deepEqual(await meta(), { 'x-account-meta-weight': 'light' }, 'without update the given keys replace all');
      assert.equal((await req('', { method: 'POST' })).status, 202);
      assert.deepEqual(await meta(), {}, 'a POST without metadata clears it');
    });
  });

  describe('containers', () => {
    it('a container is created with 201, touched again with 202, and HEAD describes it and its policy', async () => {
      const u = await storeUser(t);
      const { req, put } = as(u);
      assert.equal((await req('/box', { method: 'PUT', headers: { 'x-container-meta-owner': 'me' } })).status, 201);
      assert.equal((await req('/box', { method: 'PUT', headers: { 'x-container-policy-versioning': 'none' } })).status, 202);
      let head = await req('/box', { method: 'HEAD' });
      assert.equal(head.status, 204);
      assert.equal(header(head, 'x-container-object-count'), '0');
      assert.equal(header(head, 'x-container-bytes-used'), '0');
      assert.equal(header(head, 'x-container-block-size'), String(BLOCK));
      assert.equal(header(head, 'x-container-block-hash'), 'sha256');
      assert.equal(header(head, 'x-container-policy-quota'), '0');
      assert.equal(header(head, 'x-container-policy-versioning'), 'none', 'a second PUT updates the policy');
      assert.equal(header(head, 'x-container-policy-project'), u.uuid);
      assert.equal(header(head, 'x-container-meta-owner'), 'me', 'and keeps the metadata');
      assert.ok(header(head, 'last-modified'));

      assert.equal((await put('/box/one', 'abc')).status, 201);
      assert.equal((await put('/box/two', Buffer.alloc(BLOCK + 10, 7))).status, 201);
      head = await req('/box', { method: 'HEAD' });
      assert.equal(header(head, 'x-container-object-count'), '2');
      assert.equal(header(head, 'x-container-bytes-used'), String(3 + BLOCK + 10));

      assert.equal((await req('/missing', { method: 'HEAD' })).status, 404);
      assert.equal((await req('/bad', { method: 'PUT', headers: { 'x-container-policy-versioning': 'sometimes' } })).status, 400);
      assert.equal((await req('/bad', { method: 'PUT', headers: { 'x-container-policy-quota': '-1' } })).status, 400);
    });

    it('a container lists its objects with prefix, delimiter, path, marker, end_marker and limit', async () => {
      const names = ['photos/animals/cat.jpg', 'photos/animals/dog.jpg', 'photos/me.jpg', 'photos/plants/rose.jpg', 'readme.txt', 'zeta'];
      const { req } = await userWith(Object.fromEntries(names.map((n) => [n, n])));
      const list = async (query: string) => {
        const res = await req(`/box${query}`);
        assert.ok(res.status === 200 || res.status === 204, `${query}: ${res.status} ${res.text}`);
        return res.text.split('\n').filter(Boolean);
      };
      assert.deepEqual(await list(''), names);
      assert.deepEqual(await list('?prefix=photos/'), names.slice(0, 4));
      assert.deepEqual(await list('?prefix=photos&delimiter=/'), ['photos/animals/', 'photos/me.jpg', 'photos/plants/'], 'the delimiter is appended to the prefix');
      assert.deepEqual(await list('?delimiter=/'), ['photos/', 'readme.txt', 'zeta']);
      assert.deepEqual(await list('?path=photos'), ['photos/me.jpg'], 'path lists direct children only, without subdirs');
      assert.deepEqual(await list('?path=photos/animals'), ['photos/animals/cat.jpg', 'photos/animals/dog.jpg']);
      assert.deepEqual(await list('?marker=photos/me.jpg'), names.slice(3));
      assert.deepEqual(await list('?end_marker=readme.txt'), names.slice(0, 4));
      assert.deepEqual(await list('?marker=photos/animals/dog.jpg&end_marker=zeta'), names.slice(2, 5));
      assert.deepEqual(await list('?limit=2'), names.slice(0, 2));
      assert.deepEqual(await list('?marker=photos/plants/rose.jpg&limit=1'), ['readme.txt']);
      assert.deepEqual(await list('?prefix=nothing'), []);
      assert.equal((await req('/box?prefix=nothing')).status, 204, 'an empty plain listing is 204');
      assert.deepEqual((await req('/box?prefix=nothing&format=json')).json, []);

      const json = await req('/box?prefix=photos/&delimiter=/&format=json');
      assert.equal(json.status, 200);
      assert.deepEqual(json.json.map((e: any) => e.subdir ?? e.name), ['photos/animals/', 'photos/me.jpg', 'photos/plants/']);
      assert.deepEqual(json.json[0], { subdir: 'photos/animals/' });
      assert.equal(json.json[1].bytes, 'photos/me.jpg'.length);
      const xml = await req('/box?delimiter=/&format=xml');
      assert.match(xml.text, /<subdir name="photos\/"><name>photos\/<\/name><\/subdir>/);
      assert.match(xml.text, /<object><name>readme.txt<\/name>/);
    });

    it('a listing resumed at a subdir marker does not repeat that subdir', async () => {
      const { req } = await userWith({ 'docs/readme.txt': 'r', 'big.bin': 'b' });
      assert.deepEqual((await req('/box?delimiter=/&format=json')).json.map((e: any) => e.subdir ?? e.name), ['big.bin', 'docs/']);
      const next = await req('/box?delimiter=/&marker=docs/&format=json');
      assert.deepEqual(next.json, [], 'Swift leaves out the subdir the marker names');
    });

    it('a container name of up to 256 characters is accepted', async () => {
      const { req } = await userWith();
      const name = 'c'.repeat(256);
      assert.equal((await req(`/${name}`, { method: 'PUT' })).status, 201);
      assert.equal((await req(`/${name}`, { method: 'HEAD' })).status, 204);
      assert.equal((await req(`/${'c'.repeat(257)}`, { method: 'PUT' })).status, 400);
    });

    it('a JSON listing describes each object: bytes, MD5 hash, type, times, Merkle hash, UUID, version and author', async () => {
      const data = randomObject(BLOCK + 1000);
      const { u, req, put } = await userWith();
      const before = Date.now();
      assert.equal((await put('/box/data.bin', data, { 'content-type': 'application/x-thing' })).status, 201);
      const head = await req('/box/data.bin', { method: 'HEAD' });
      const res = await req('/box?format=json');
      assert.equal(res.status, 200);
      assert.equal(res.json.length, 1);
      const e = res.json[0];
      assert.deepEqual(Object.keys(e).sort(), ['bytes', 'content_type', 'hash', 'last_modified', 'name', 'x_object_hash', 'x_object_modified_by', 'x_object_uuid', 'x_object_version', 'x_object_version_timestamp']);
      assert.equal(e.name, 'data.bin');
      assert.equal(e.bytes, data.length);
      assert.equal(e.hash, md5(data));
      assert.equal(e.content_type, 'application/x-thing');
      assert.equal(e.x_object_hash, header(head, 'x-object-hash'));
      assert.equal(e.x_object_uuid, header(head, 'x-object-uuid'));
      assert.equal(e.x_object_version, Number(header(head, 'x-object-version')));
      assert.equal(e.x_object_modified_by, u.uuid);
      assert.match(e.x_object_version_timestamp, /^\d+\.\d{6}$/);
      const stamp = Number(e.x_object_version_timestamp) * 1000;
      assert.ok(stamp >= before - 1000 && stamp <= Date.now() + 1000, 'the version timestamp is the write time in seconds');
      assert.match(e.last_modified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
      assert.ok(Math.abs(Date.parse(e.last_modified) - stamp) < 1000);
    });

    it('container metadata is replaced by a POST and merged by a POST ?update', async () => {
      const { req } = await userWith();
      const meta = async () => Object.fromEntries([...(await req('/box', { method: 'HEAD' })).headers].filter(([k]) => k.startsWith('x-container-meta-')));
      assert.equal((await req('/box', { method: 'POST', headers: { 'x-container-meta-color': 'blue', 'x-container-meta-size': 'big' } })).status, 202);
      assert.deepEqual(await meta(), { 'x-container-meta-color': 'blue', 'x-container-meta-size': 'big' });
      assert.equal((await req('/box?update', { method: 'POST', headers: { 'x-container-meta-size': '', 'x-container-meta-shape': 'round' } })).status, 202);
      assert.deepEqual(await meta(), { 'x-container-meta-color': 'blue', 'x-container-meta-shape': 'round' });
      assert.equal((await req('/box', { method: 'POST', headers: { 'x-container-meta-weight': 'light' } })).status, 202);
      assert.deepEqual(await meta(), { 'x-container-meta-weight': 'light' });
      assert.equal((await req('/box', { method: 'POST', headers: { 'x-container-policy-quota': '1000' } })).status, 202);
      assert.equal(header(await req('/box', { method: 'HEAD' }), 'x-container-policy-quota'), '1000', 'a POST sets the policy');
      assert.equal((await req('/nothere', { method: 'POST', headers: { 'x-container-meta-a': 'b' } })).status, 404);
    });

    it('a container with objects cannot be deleted (409); once emptied it can (204) and is gone', async () => {
      const { req } = await userWith({ 'only.txt': 'x' });
      const refused = await req('/box', { method: 'DELETE' });
      assert.equal(refused.status, 409);
      assert.ok(refused.json?.conflict, refused.text);
      assert.equal((await req('/box', { method: 'HEAD' })).status, 204);
      assert.equal((await req('/box/only.txt', { method: 'DELETE' })).status, 204);
      assert.equal((await req('/box', { method: 'DELETE' })).status, 204);
      assert.equal((await req('/box', { method: 'HEAD' })).status, 404);
      assert.equal((await req('/box', { method: 'DELETE' })).status, 404);
      assert.equal((await req('')).status, 204, 'the account lists nothing');
    });
  });

  describe('objects', () => {
    it('an upload answers 201 with the MD5 as ETag; GET reads it back whole and HEAD describes it', async () => {
      const { u, req, put } = await userWith();
      const data = Buffer.from('The quick brown fox jumps over the lazy dog');
      const created = await put('/box/docs/fox.txt', data, { 'content-type': 'text/plain; charset=utf-8', 'x-object-meta-animal': 'fox', 'content-disposition': 'attachment' });
      assert.equal(created.status, 201, created.text);
      assert.equal(header(created, 'etag'), md5(data));
      assert.ok(header(created, 'x-object-version'));

      const got = await req('/box/docs/fox.txt');
      assert.equal(got.status, 200);
      assert.deepEqual(got.bytes, data);
      assert.equal(header(got, 'content-type'), 'text/plain; charset=utf-8');
      assert.equal(header(got, 'content-length'), String(data.length));
      assert.equal(header(got, 'etag'), md5(data));
      assert.equal(header(got, 'x-object-meta-animal'), 'fox');

      const head = await req('/box/docs/fox.txt', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.bytes.length, 0);
      assert.equal(header(head, 'content-length'), String(data.length));
      assert.equal(header(head, 'etag'), md5(data));
      assert.equal(header(head, 'x-object-hash'), blockHash(data, 'sha256'), 'one block: the hash is the block\'s');
      assert.match(header(head, 'x-object-uuid') ?? '', /^[0-9a-f-]{36}$/);
      assert.equal(header(head, 'x-object-version'), header(created, 'x-object-version'));
      assert.equal(header(head, 'x-object-modified-by'), u.uuid);
      assert.equal(header(head, 'content-disposition'), 'attachment');
      assert.ok(!Number.isNaN(Date.parse(header(head, 'x-object-version-timestamp') ?? '')));
      assert.ok(!Number.isNaN(Date.parse(header(head, 'last-modified') ?? '')));

      assert.equal((await req('/box/docs/missing.txt')).status, 404);
      assert.equal((await req('/nobox/fox.txt', { method: 'PUT', body: 'x' })).status, 404, 'no container, no object');
    });

    it('an upload whose ETag does not match its bytes is refused with 422 and nothing is stored', async () => {
      const { req, put } = await userWith();
      const refused = await put('/box/bad.txt', 'some bytes', { etag: md5('other bytes') });
      assert.equal(refused.status, 422, refused.text);
      assert.equal((await req('/box/bad.txt', { method: 'HEAD' })).status, 404);
      assert.equal(header(await req('/box', { method: 'HEAD' }), 'x-container-object-count'), '0');
      const accepted = await put('/box/good.txt', 'some bytes', { etag: `"${md5('some bytes')}"` });
      assert.equal(accepted.status, 201, 'a quoted matching ETag is accepted');
    });

    it('an upload without Content-Length is refused with 411 unless it is chunked', async () => {
      const { u, req } = await userWith();
      const url = `${u.base}/box/stream.bin`;
      assert.equal(await rawStatus('PUT', url, [`X-Auth-Token: ${u.token}`, 'Content-Type: application/octet-stream']), 411);
      assert.equal((await req('/box/stream.bin', { method: 'HEAD' })).status, 404);

      const data = randomObject(BLOCK * 2 + 5);
      const body = new ReadableStream<Uint8Array>({
        start(controller) { for (let i = 0; i < data.length; i += 10000) controller.enqueue(data.subarray(i, i + 10000)); controller.close(); },
      });
      const res = await fetch(url, { method: 'PUT', headers: { 'x-auth-token': u.token, 'content-type': 'application/octet-stream' }, body, duplex: 'half' } as RequestInit);
      assert.equal(res.status, 201, await res.text());
      assert.deepEqual((await req('/box/stream.bin')).bytes, data);
    });

    it('ranges: one range is 206 with Content-Range, a suffix counts from the end, several make multipart/byteranges, beyond the end is 416', async () => {
      const data = randomObject(BLOCK * 2 + 1000);
      const { req, put } = await userWith();
      assert.equal((await put('/box/r.bin', data, { 'content-type': 'application/x-r' })).status, 201);
      const range = (spec: string) => req('/box/r.bin', { headers: { range: `bytes=${spec}` } });

      const across = await range(`${BLOCK - 10}-${BLOCK + 9}`);
      assert.equal(across.status, 206);
      assert.equal(header(across, 'content-range'), `bytes ${BLOCK - 10}-${BLOCK + 9}/${data.length}`);
      assert.equal(header(across, 'content-length'), '20');
      assert.deepEqual(across.bytes, data.subarray(BLOCK - 10, BLOCK + 10), 'a range across a block boundary');

      const open = await range(`${BLOCK * 2}-`);
      assert.equal(open.status, 206);
      assert.deepEqual(open.bytes, data.subarray(BLOCK * 2));

      const suffix = await range('-500');
      assert.equal(suffix.status, 206);
      assert.equal(header(suffix, 'content-range'), `bytes ${data.length - 500}-${data.length - 1}/${data.length}`);
      assert.deepEqual(suffix.bytes, data.subarray(data.length - 500));

      const multi = await range(`0-9,${BLOCK}-${BLOCK + 4},-3`);
      assert.equal(multi.status, 206);
      const m = /^multipart\/byteranges; *boundary=(\S+)$/.exec(header(multi, 'content-type') ?? '');
      assert.ok(m, `content-type ${header(multi, 'content-type')}`);
      const parts = byteranges(multi.bytes, m[1]!);
      assert.deepEqual(parts.map((p) => p.range), [`bytes 0-9/${data.length}`, `bytes ${BLOCK}-${BLOCK + 4}/${data.length}`, `bytes ${data.length - 3}-${data.length - 1}/${data.length}`]);
      assert.deepEqual(parts.map((p) => p.data), [data.subarray(0, 10), data.subarray(BLOCK, BLOCK + 5), data.subarray(data.length - 3)]);

      for (const bad of [`${data.length}-`, `0-${data.length}`, `-${data.length + 1}`]) {
        const res = await range(bad);
        assert.equal(res.status, 416, `bytes=${bad}`);
        assert.equal(header(res, 'content-range'), `bytes */${data.length}`);
      }
      const ignored = await req('/box/r.bin', { headers: { range: 'lines=1-2' } });
      assert.equal(ignored.status, 200, 'a range of another unit is ignored');
      assert.equal(ignored.bytes.length, data.length);
    });

    it('conditional reads: a matching If-None-Match or an old-enough If-Modified-Since is 304, a wrong If-Match is 412', async () => {
      const { req, put } = await userWith({ 'c.txt': 'conditional' });
      const etag = md5('conditional');
      const head = await req('/box/c.txt', { method: 'HEAD' });
      const modified = header(head, 'last-modified')!;

      const notModified = await req('/box/c.txt', { headers: { 'if-none-match': `"${etag}"` } });
      assert.equal(notModified.status, 304);
      assert.equal(header(notModified, 'etag'), etag);
      assert.equal((await req('/box/c.txt', { headers: { 'if-none-match': '*' } })).status, 304);
      assert.equal((await req('/box/c.txt', { headers: { 'if-none-match': `"${md5('else')}"` } })).status, 200);

      assert.equal((await req('/box/c.txt', { headers: { 'if-match': `"${md5('else')}"` } })).status, 412);
      assert.equal((await req('/box/c.txt', { headers: { 'if-match': `"${etag}"` } })).status, 200);
      assert.equal((await req('/box/c.txt', { method: 'HEAD', headers: { 'if-match': `"${md5('else')}"` } })).status, 412);

      assert.equal((await req('/box/c.txt', { headers: { 'if-modified-since': modified } })).status, 304);
      assert.equal((await req('/box/c.txt', { headers: { 'if-modified-since': new Date(Date.parse(modified) - 3600_000).toUTCString() } })).status, 200);
      assert.equal((await req('/box/c.txt', { headers: { 'if-unmodified-since': new Date(Date.parse(modified) - 3600_000).toUTCString() } })).status, 412);
      assert.equal((await put('/box/c.txt', 'changed')).status, 201);
      assert.equal((await req('/box/c.txt', { headers: { 'if-none-match': `"${etag}"` } })).status, 200, 'the old ETag no longer matches');
    });

    it("X-Object-Hash is the Merkle root of the object's block hashes, a zero block hashing as nothing", async () => {
      const first = randomObject(BLOCK);
      const zeros = Buffer.alloc(BLOCK);
      const last = randomObject(1234);
      const data = Buffer.concat([first, zeros, last]);
      const { req, put } = await userWith();
      assert.equal((await put('/box/merkle.bin', data)).status, 201);
      const hashes = [first, zeros, last].map((b) => blockHash(b, 'sha256'));
      assert.equal(hashes[1], createHash('sha256').digest('hex'));
      const head = await req('/box/merkle.bin', { method: 'HEAD' });
      assert.equal(header(head, 'x-object-hash'), merkleRoot(hashes, 'sha256'));
      assert.deepEqual((await req('/box/merkle.bin')).bytes, data, 'the zero block reads back as zeros');

      assert.equal((await put('/box/empty', '')).status, 201);
      const empty = await req('/box/empty', { method: 'HEAD' });
      assert.equal(header(empty, 'x-object-hash'), createHash('sha256').digest('hex'));
      assert.equal(header(empty, 'content-length'), '0');
      assert.equal(header(empty, 'etag'), md5(''));
      assert.equal((await req('/box/empty', { headers: { range: 'bytes=0-0' } })).status, 416, 'any range of an empty object');
    });

    it('a metadata POST makes a new version keeping the UUID: plain POST replaces, ?update merges', async () => {
      const { req, put } = await userWith();
      assert.equal((await put('/box/m.txt', 'meta', { 'content-type': 'text/plain', 'x-object-meta-a': '1', 'x-object-meta-b': '2' })).status, 201);
      const first = await req('/box/m.txt', { method: 'HEAD' });
      const meta = (res: StoreReply) => Object.fromEntries([...res.headers].filter(([k]) => k.startsWith('x-object-meta-')));

      const merged = await req('/box/m.txt?update', { method: 'POST', headers: { 'x-object-meta-b': '', 'x-object-meta-c': '3' } });
      assert.equal(merged.status, 202);
      const second = await req('/box/m.txt', { method: 'HEAD' });
      assert.deepEqual(meta(second), { 'x-object-meta-a': '1', 'x-object-meta-c': '3' });
      assert.equal(header(second, 'x-object-version'), header(merged, 'x-object-version'));
      assert.ok(Number(header(second, 'x-object-version')) > Number(header(first, 'x-object-version')));
      assert.equal(header(second, 'x-object-uuid'), header(first, 'x-object-uuid'));
      assert.equal(header(second, 'etag'), header(first, 'etag'));
      assert.equal(header(second, 'content-type'), 'text/plain', 'the type stays');

      const replaced = await req('/box/m.txt', { method: 'POST', headers: { 'x-object-meta-d': '4' } });
      assert.equal(replaced.status, 202);
      const third = await req('/box/m.txt', { method: 'HEAD' });
      assert.deepEqual(meta(third), { 'x-object-meta-d': '4' });
      assert.equal(header(third, 'x-object-uuid'), header(first, 'x-object-uuid'));
      assert.equal((await req('/box/m.txt')).text, 'meta', 'the bytes stay');

      const list = await req('/box/m.txt?version=list');
      assert.equal(list.status, 200);
      assert.deepEqual(list.json.versions.map((v: [number, string]) => v[0]), [first, second, third].map((h) => Number(header(h, 'x-object-version'))));
      assert.ok(list.json.versions.every((v: [number, string]) => /^\d+\.\d{6}$/.test(v[1])));
      const old = await req(`/box/m.txt?version=${header(first, 'x-object-version')}`, { method: 'HEAD' });
      assert.equal(old.status, 200);
      assert.deepEqual(meta(old), { 'x-object-meta-a': '1', 'x-object-meta-b': '2' }, 'an old version keeps its metadata');
      assert.equal((await req('/box/nothing.txt', { method: 'POST', headers: { 'x-object-meta-a': '1' } })).status, 404);
    });

    it('an overwritten object keeps its UUID and its earlier bytes stay readable by version', async () => {
      const { req, put } = await userWith();
      const v1 = await put('/box/doc', 'first draft');
      const h1 = await req('/box/doc', { method: 'HEAD' });
      const v2 = await put('/box/doc', 'second, longer draft');
      assert.equal(v2.status, 201);
      const h2 = await req('/box/doc', { method: 'HEAD' });
      assert.equal(header(h2, 'x-object-uuid'), header(h1, 'x-object-uuid'));
      assert.equal((await req('/box/doc')).text, 'second, longer draft');
      const versions = (await req('/box/doc?version=list')).json.versions.map((v: [number, string]) => v[0]);
      assert.deepEqual(versions, [Number(header(v1, 'x-object-version')), Number(header(v2, 'x-object-version'))]);
      const old = await req(`/box/doc?version=${versions[0]}`);
      assert.equal(old.status, 200);
      assert.equal(old.text, 'first draft');
      assert.equal(header(old, 'etag'), md5('first draft'));
      assert.equal((await req('/box/doc?version=999999')).status, 404);
      assert.equal((await req('/box/doc?version=abc')).status, 404);
      assert.equal(header(await req('/box', { method: 'HEAD' }), 'x-container-bytes-used'), String('second, longer draft'.length), 'only the current version counts');
    });

    it('a deleted object is gone: DELETE answers 204, then GET, HEAD and DELETE answer 404', async () => {
      const { req } = await userWith({ 'gone.txt': 'bye' });
      assert.equal((await req('/box/gone.txt', { method: 'DELETE' })).status, 204);
      assert.equal((await req('/box/gone.txt')).status, 404);
      assert.equal((await req('/box/gone.txt', { method: 'HEAD' })).status, 404);
      assert.equal((await req('/box/gone.txt', { method: 'DELETE' })).status, 404);
      assert.equal((await req('/box')).status, 204, 'the listing is empty');
      const head = await req('/box', { method: 'HEAD' });
      assert.equal(header(head, 'x-container-object-count'), '0');
      assert.equal(header(head, 'x-container-bytes-used'), '0');
    });

    it('a copy (X-Copy-From, or the COPY method) is a new object with its own UUID; the source stays', async () => {
      const data = randomObject(BLOCK + 77);
      const { req, put } = await userWith();
      assert.equal((await req('/other', { method: 'PUT' })).status, 201);
      assert.equal((await put('/box/src.bin', data, { 'content-type': 'application/x-src', 'x-object-meta-kind': 'source' })).status, 201);
      const src = await req('/box/src.bin', { method: 'HEAD' });

      const copied = await req('/other/copy.bin', { method: 'PUT', headers: { 'x-copy-from': '/box/src.bin', 'content-length': '0', 'x-object-meta-extra': 'yes' } });
      assert.equal(copied.status, 201, copied.text);
      const copy = await req('/other/copy.bin');
      assert.deepEqual(copy.bytes, data);
      assert.equal(header(copy, 'content-type'), 'application/x-src');
      assert.equal(header(copy, 'x-object-hash'), header(src, 'x-object-hash'));
      assert.equal(header(copy, 'x-object-meta-kind'), 'source');
      assert.equal(header(copy, 'x-object-meta-extra'), 'yes', 'given metadata is merged onto the source\'s');
      assert.notEqual(header(copy, 'x-object-uuid'), header(src, 'x-object-uuid'));

      const verb = await req('/box/src.bin', { method: 'COPY', headers: { destination: '/box/again.bin' } });
      assert.equal(verb.status, 201, verb.text);
      const again = await req('/box/again.bin');
      assert.deepEqual(again.bytes, data);
      assert.notEqual(header(again, 'x-object-uuid'), header(src, 'x-object-uuid'));
      assert.notEqual(header(again, 'x-object-uuid'), header(copy, 'x-object-uuid'));

      const source = await req('/box/src.bin');
      assert.deepEqual(source.bytes, data);
      assert.equal(header(source, 'x-object-uuid'), header(src, 'x-object-uuid'));
      assert.equal((await req('/box/nothing', { method: 'COPY', headers: { destination: '/box/x' } })).status, 404);
      assert.equal((await req('/box/src.bin', { method: 'COPY' })).status, 400, 'COPY needs a Destination');
    });

    it('a copy onto an existing object gives it a new UUID, and the reply carries the ETag the copy then shows', async () => {
      const { req } = await userWith({ 'src.txt': 'source', 'dst.txt': 'old destination' });
      const before = await req('/box/dst.txt', { method: 'HEAD' });
      const copied = await req('/box/dst.txt', { method: 'PUT', headers: { 'x-copy-from': '/box/src.txt', 'content-length': '0' } });
      assert.equal(copied.status, 201);
      const after = await req('/box/dst.txt', { method: 'HEAD' });
      assert.equal(header(copied, 'etag'), header(after, 'etag'));
      assert.notEqual(header(after, 'x-object-uuid'), header(before, 'x-object-uuid'), 'as Synnefo: a copy is a new object');
    });

    it('a conditional upload is refused with 412: If-None-Match * over an existing object, If-Match over a missing one', async () => {
      const { req, put } = await userWith({ 'here.txt': 'here' });
      assert.equal((await put('/box/here.txt', 'again', { 'if-none-match': '*' })).status, 412);
      assert.equal((await req('/box/here.txt')).text, 'here');
      assert.equal((await put('/box/here.txt', 'again', { 'if-match': `"${md5('other')}"` })).status, 412);
      assert.equal((await put('/box/absent.txt', 'new', { 'if-match': '*' })).status, 412);
      assert.equal((await req('/box/absent.txt', { method: 'HEAD' })).status, 404);
      assert.equal((await put('/box/here.txt', 'again', { 'if-match': `"${md5('here')}"` })).status, 201);
    });

    it('a move (X-Move-From) keeps the UUID and the source is gone', async () => {
      const { req } = await userWith({ 'old-name.txt': 'moving' });
      const before = await req('/box/old-name.txt', { method: 'HEAD' });
      const moved = await req('/box/new-name.txt', { method: 'PUT', headers: { 'x-move-from': '/box/old-name.txt', 'content-length': '0' } });
      assert.equal(moved.status, 201, moved.text);
      const after = await req('/box/new-name.txt');
      assert.equal(after.text, 'moving');
      assert.equal(header(after, 'x-object-uuid'), header(before, 'x-object-uuid'));
      assert.equal((await req('/box/old-name.txt')).status, 404);
      assert.equal((await req('/box')).text, 'new-name.txt\n');
      const head = await req('/box', { method: 'HEAD' });
      assert.equal(header(head, 'x-container-object-count'), '1');
      assert.equal(header(head, 'x-container-bytes-used'), '6');
    });
  });

  describe('access', () => {
    it("another user's token is refused on my account with 403, and no token with 401", async () => {
      const { u } = await userWith({ 'secret.txt': 'mine' });
      const other = await storeUser(t, 'other');
      const as_other = (path: string, init: Parameters<typeof store>[1] = {}) => store(`${u.base}${path}`, { token: other.token, ...init });
      for (const [path, method] of [['', 'HEAD'], ['', 'GET'], ['', 'POST'], ['/box', 'HEAD'], ['/box', 'GET'], ['/box', 'PUT'], ['/box', 'DELETE'], ['/box/secret.txt', 'GET'], ['/box/secret.txt', 'HEAD'], ['/box/secret.txt', 'DELETE'], ['/box/secret.txt', 'POST']] as const) {
        const res = await as_other(path, { method });
        assert.equal(res.status, 403, `${method} ${path || '/'}`);
      }
      assert.equal((await as_other('/box/theirs.txt', { method: 'PUT', body: 'x' })).status, 403);
      const copyOut = await store(`${other.base}/mine`, { method: 'PUT', token: other.token });
      assert.equal(copyOut.status, 201);
      assert.equal((await store(`${other.base}/mine/stolen`, { method: 'PUT', token: other.token, headers: { 'x-copy-from': '/box/secret.txt', 'x-source-account': u.uuid, 'content-length': '0' } })).status, 403, 'nor may they copy from it');

      const anonymous = await call(`${u.base}/box/secret.txt`);
      assert.equal(anonymous.status, 401);
      assert.equal((await store(u.base, { method: 'HEAD' })).status, 401);
      assert.equal((await store(`${u.base}/box/secret.txt`, { token: 'not-a-token' })).status, 401);
      assert.equal((await store(`${u.base}/box/secret.txt`, { token: u.token })).text, 'mine', 'the owner still reads it');
    });
  });
});
