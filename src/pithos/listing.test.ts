import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { dbTargets, startTestNode, type TestNode } from '../test/harness.js';
import { store, storeUser, type StoreUser } from '../test/object-store.js';
import { objectListingJson, objectListingText, objectListingXml } from './api/listing.js';
import { isoMicro, xmlEscape } from './api/headers.js';
import type { ListingEntry } from './logic/objects.js';

// Names that make prefix/delimiter folding work: names ending in the delimiter, doubled delimiters,
// a two-character delimiter, multi-byte and astral characters, names that are prefixes of others.
const NAMES = [
  'a', 'a/', 'a//x', 'a/b', 'a/b/', 'a/b/c', 'a/b/d/e', 'a/c', 'a-b/c', 'ab', 'b/1', 'b/2', 'b/3/x', 'b/3/y', 'c.d', 'c.d.e', 'c.e',
  'dir::x', 'dir::y::z', 'dir::y::zz', 'dir:z', 'ü/x', 'ü/y/z', 'üb', '😀/a', '😀/b/c', '😀x', 'z',
];

/** UTF-8 byte order, as the databases sort names. */
const byBytes = (x: string, y: string) => Buffer.compare(Buffer.from(x), Buffer.from(y));

interface Query { prefix?: string; delimiter?: string; marker?: string; end_marker?: string; limit?: number; path?: string }

/** What a listing must answer, worked out naively from every name (Swift's folding, with Pithos' prefix and path rules). */
function expected(q: Query): string[] {
  let prefix = (q.path !== undefined ? q.path : q.prefix ?? '').replace(/^\/+/, '');
  const delimiter = q.path !== undefined ? '/' : q.delimiter;
  if (prefix && delimiter && !prefix.endsWith(delimiter)) prefix += delimiter;
  const out: string[] = [];
  let skip: string | undefined;
  for (const name of [...NAMES].sort(byBytes)) {
    if (!name.startsWith(prefix)) continue;
    if (q.marker !== undefined && byBytes(name, q.marker) <= 0) continue;
    if (skip !== undefined && name.startsWith(skip)) continue;
    if (q.end_marker && name >= q.end_marker) break;
    if (out.length >= (q.limit ?? 10000)) break;
    if (delimiter) {
      const cut = name.indexOf(delimiter, prefix.length);
      if (cut >= 0 && cut + delimiter.length < name.length) {
        skip = name.slice(0, cut + delimiter.length);
        if (q.path === undefined && (q.marker === undefined || skip > q.marker)) out.push(skip);
        continue;
      }
    }
    out.push(name);
  }
  return out;
}

for (const db of dbTargets()) describe(`object listings on ${db.name}`, () => {
  let t: TestNode;
  let u: StoreUser;
  const req = (path: string, init: Parameters<typeof store>[1] = {}) => store(`${u.base}${path}`, { token: u.token, ...init });
  before(async () => {
    t = await startTestNode({ db, settings: { 'pithos.block_size': 65536 } });
    u = await storeUser(t);
    assert.equal((await req('/box', { method: 'PUT' })).status, 201);
    for (const name of NAMES) {
      const put = await req(`/box/${name.split('/').map(encodeURIComponent).join('/')}`, { method: 'PUT', body: `bytes of ${name}`, headers: { 'content-type': 'text/x-test' } });
      assert.equal(put.status, 201, `${name}: ${put.text}`);
    }
  });
  after(async () => { await t?.close(); });

  const queries: Query[] = [];
  for (const delimiter of [undefined, '/', '::', '.', ':']) {
    for (const prefix of [undefined, 'a', 'a/', 'a/b/', 'b', 'dir::', 'dir', 'ü', '😀', '😀/', 'none']) {
      for (const marker of [undefined, 'a/', 'a/b', 'b/', 'dir::y::z', '😀/']) queries.push({ delimiter, prefix, marker });
      queries.push({ delimiter, prefix, end_marker: 'b/3' }, { delimiter, prefix, limit: 1 }, { delimiter, prefix, limit: 3 });
    }
  }
  for (const path of ['', 'a', 'a/b', 'b/3', '😀']) queries.push({ path }, { path, marker: 'a/b/' }, { path, limit: 1 });

  const qs = (q: Query) => Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join('&');

  it('every prefix, delimiter, marker, end_marker, limit and path answers what a naive walk over all names does, in text and JSON', async () => {
    for (const q of queries) {
      const want = expected(q);
      const text = await req(`/box?${qs(q)}`);
      assert.equal(text.status, want.length ? 200 : 204, `${qs(q)}: ${text.status}`);
      assert.deepEqual(text.text.split('\n').filter(Boolean), want, `text ${qs(q)}`);
      const json = await req(`/box?${qs(q)}&format=json`);
      assert.equal(json.status, 200);
      assert.deepEqual(json.json.map((e: { subdir?: string; name?: string }) => e.subdir ?? e.name), want, `json ${qs(q)}`);
      for (const e of json.json as { name?: string; bytes?: number; hash?: string; content_type?: string }[]) {
        if (e.name === undefined) continue;
        assert.equal(e.bytes, Buffer.byteLength(`bytes of ${e.name}`), e.name);
        assert.equal(e.hash, createHash('md5').update(`bytes of ${e.name}`).digest('hex'), e.name);
        assert.equal(e.content_type, 'text/x-test');
      }
    }
  });

  it('paging by marker through a delimiter listing with limit 1 visits every entry once', async () => {
    // The object `a/` and the subdir `a/` are one marker: resuming after the object skips the subdir.
    const all = expected({ delimiter: '/' }).filter((e, i, list) => e !== list[i - 1]);
    const seen: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await req(`/box?${qs({ delimiter: '/', limit: 1, marker })}&format=json`);
      if (page.json.length === 0) break;
      const e = page.json[0] as { subdir?: string; name?: string };
      marker = e.subdir ?? e.name!;
      seen.push(marker);
    }
    assert.deepEqual(seen, all);
  });
});

describe('listing bodies', () => {
  const version = (name: string, mtime: number) => ({
    name, size: 12, content_type: 'a/b"<&>', checksum: 'c'.repeat(32), mtime, hash: 'h'.repeat(64), uuid: 'u-u', serial: 7, muser: 'm&m',
  });
  const entries: ListingEntry[] = [
    { kind: 'object', name: 'x "quoted"\n', version: version('x "quoted"\n', 1) },
    { kind: 'subdir', name: 'd<&>/' },
    ...[0, 999, 1000, 59_999, 86_399_999, 1_700_000_000_007, 1_764_111_901_123, 1_764_111_901_123, 4_102_444_799_999].map((ms, i): ListingEntry => ({ kind: 'object', name: `o${i}`, version: version(`o${i}`, ms) })),
  ];

  it('JSON holds what a generic serialization of the same fields gives, times as isoMicro and seconds.micro', () => {
    const generic = entries.map((e) => (e.kind === 'subdir' ? { subdir: e.name } : {
      name: e.version!.name, bytes: e.version!.size, content_type: e.version!.content_type, hash: e.version!.checksum, last_modified: isoMicro(e.version!.mtime),
      x_object_hash: e.version!.hash, x_object_uuid: e.version!.uuid, x_object_version: e.version!.serial,
      x_object_version_timestamp: (e.version!.mtime / 1000).toFixed(6), x_object_modified_by: e.version!.muser,
    }));
    assert.equal(objectListingJson(entries), JSON.stringify(generic));
  });

  it('XML escapes names and values; plain text is a name a line', () => {
    const xml = objectListingXml(entries);
    assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<container><object><name>x &quot;quoted&quot;\n</name><bytes>12</bytes><content_type>a/b&quot;&lt;&amp;&gt;</content_type>'));
    assert.ok(xml.includes(`<subdir name="${xmlEscape('d<&>/')}"><name>d&lt;&amp;&gt;/</name></subdir>`));
    assert.ok(xml.includes('<last_modified>1970-01-01T00:00:00.999000+00:00</last_modified><x_object_hash>'));
    assert.ok(xml.includes('<x_object_version_timestamp>0.999000</x_object_version_timestamp><x_object_modified_by>m&amp;m</x_object_modified_by></object>'));
    assert.ok(xml.endsWith('</object></container>'));
    assert.equal(objectListingText(entries), `${entries.map((e) => e.name).join('\n')}\n`);
  });
});
