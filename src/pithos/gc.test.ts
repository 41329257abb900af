import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { dbTargets, startTestNode, type TestNode } from '../test/harness.js';
import { adminTool } from '../test/compute.js';
import { randomObject, store, storeUser } from '../test/object-store.js';
import { LocalBlockStore } from './backends/local-block-store.js';
import { blockHash } from './logic/hashmap.js';

const BLOCK = 65536;
const HOUR = 3_600_000;

/** Every block file under a blocks directory, by hash. */
function blockFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of readdirSync(dir)) {
    if (a.length !== 2) continue;
    for (const b of readdirSync(join(dir, a))) for (const h of readdirSync(join(dir, a, b))) out.set(h, join(dir, a, b, h));
  }
  return out;
}

/** Makes every stored block look written `ms` ago. */
function age(dir: string, ms: number): void {
  const then = new Date(Date.now() - ms);
  for (const path of blockFiles(dir).values()) utimesSync(path, then, then);
}

for (const db of dbTargets()) describe(`blocks-gc on ${db.name}`, () => {
  let t: TestNode;
  const admin = adminTool(() => t);
  before(async () => { t = await startTestNode({ db, settings: { 'pithos.block_size': BLOCK } }); });
  after(async () => { await t?.close(); });

  it('deletes blocks no version references once older than the grace; spares referenced blocks, young ones, and old ones an upload has just reused', async () => {
    const blocksDir = join(t.dataDir, 'blocks');
    const u = await storeUser(t);
    const req = (path: string, init: Parameters<typeof store>[1] = {}) => store(`${u.base}${path}`, { token: u.token, ...init });
    assert.equal((await req('/box', { method: 'PUT', headers: { 'x-container-policy-versioning': 'none' } })).status, 201);
    const keep = randomObject(2 * BLOCK);
    const gone = randomObject(2 * BLOCK);
    const reused = randomObject(BLOCK);
    for (const [name, data] of [['keep', keep], ['gone', gone], ['reused', reused]] as const) {
      assert.equal((await req(`/box/${name}`, { method: 'PUT', body: data })).status, 201);
    }
    for (const name of ['gone', 'reused']) assert.equal((await req(`/box/${name}`, { method: 'DELETE' })).status, 204);
    const hashes = (data: Buffer) => [0, BLOCK].filter((o) => o < data.length).map((o) => blockHash(data.subarray(o, o + BLOCK), 'sha256'));

    // Unreferenced but young: an upload may still be about to commit them.
    assert.match(await admin.ok('blocks-gc', '--grace', '3600'), /0 deleted/);
    age(blocksDir, 2 * HOUR);
    // An upload by hashmap finds `reused` stored (and so skips sending it) just before the collector runs.
    const store2 = new LocalBlockStore(blocksDir);
    assert.deepEqual(await store2.missing(hashes(reused)), []);
    assert.match(await admin.ok('blocks-gc', '--grace', '3600', '--dry-run'), /2 unreferenced and older than the grace, 0 deleted/);
    assert.match(await admin.ok('blocks-gc', '--grace', '3600'), /2 unreferenced and older than the grace, 2 deleted/);
    const left = blockFiles(blocksDir);
    for (const h of hashes(gone)) assert.ok(!left.has(h), 'the deleted object\'s blocks are gone');
    for (const h of [...hashes(keep), ...hashes(reused)]) assert.ok(left.has(h), 'referenced and reused blocks stay');
    assert.deepEqual((await req('/box/keep')).bytes, keep, 'the kept object reads back whole');
    await admin.refused(/--grace takes a number of seconds/, 'blocks-gc', '--grace', 'soon');
  });

  it('a copy counts its source\'s blocks as used, so deleting the source meanwhile cannot let the collector take them; a source whose blocks are gone is refused', async () => {
    const blocksDir = join(t.dataDir, 'blocks');
    const u = await storeUser(t);
    const req = (path: string, init: Parameters<typeof store>[1] = {}) => store(`${u.base}${path}`, { token: u.token, ...init });
    assert.equal((await req('/race', { method: 'PUT', headers: { 'x-container-policy-versioning': 'none' } })).status, 201);
    const data = randomObject(2 * BLOCK + 100);
    assert.equal((await req('/race/src', { method: 'PUT', body: data })).status, 201);
    const files = () => [0, BLOCK, 2 * BLOCK].map((o) => blockFiles(blocksDir).get(blockHash(data.subarray(o, o + BLOCK), 'sha256'))!);
    const cutoff = Date.now() - HOUR;
    for (const path of files()) utimesSync(path, new Date(Date.now() - 2 * HOUR), new Date(Date.now() - 2 * HOUR));

    // The copy commits; a collector that read the references before it, and after the source was
    // deleted, would find the blocks unreferenced: they were used after its cut-off, so they stay.
    assert.equal((await req('/race/copy', { method: 'PUT', headers: { 'x-copy-from': '/race/src' } })).status, 201);
    for (const path of files()) assert.ok(statSync(path).mtimeMs > cutoff, 'the copy marked the block used');
    assert.equal((await req('/race/src', { method: 'DELETE' })).status, 204);
    const blocks = new LocalBlockStore(blocksDir);
    for (const path of files()) assert.equal(await blocks.deleteUnused(path.split('/').at(-1)!, cutoff), false);
    assert.deepEqual((await req('/race/copy')).bytes, data);

    // A range update taking bytes from another object marks them the same way.
    for (const path of files()) utimesSync(path, new Date(Date.now() - 2 * HOUR), new Date(Date.now() - 2 * HOUR));
    assert.equal((await req('/race/target', { method: 'PUT', body: Buffer.alloc(0) })).status, 201);
    const update = await req('/race/target?update', { method: 'POST', headers: { 'x-source-object': '/race/copy', 'content-range': 'bytes 0-/*' } });
    assert.equal(update.status, 204, update.text);
    assert.deepEqual((await req('/race/target')).bytes, data);
    for (const path of files()) assert.ok(statSync(path).mtimeMs > cutoff, 'the update marked the source\'s blocks used');

    // The collector went first: the source's blocks are gone, and the copy is refused, not committed
    // with a hole in it.
    const gone = files()[1]!;
    assert.equal(await blocks.deleteUnused(gone.split('/').at(-1)!, Date.now() + 1000), true);
    const refused = await req('/race/again', { method: 'PUT', headers: { 'x-copy-from': '/race/copy' } });
    assert.equal(refused.status, 409, refused.text);
    assert.equal((await req('/race/again', { method: 'HEAD' })).status, 404);
  });
});

describe('local block store: deleting unused blocks', () => {
  it('deletes only a block not stored or used since the cut-off; a collector stopped half-way loses nothing', async (t) => {
    const { mkdtempSync, rmSync, renameSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'snf-gc-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const store = new LocalBlockStore(dir);
    const block = () => { const b = randomObject(1000); return { b, h: blockHash(b, 'sha256') }; };
    const path = (h: string) => join(dir, h.slice(0, 2), h.slice(2, 4), h);
    const setAge = (h: string, ms: number) => { const then = new Date(Date.now() - ms); utimesSync(path(h), then, then); };
    const cutoff = () => Date.now() - HOUR;

    const a = block();
    await store.put(a.h, a.b);
    assert.equal(await store.deleteUnused(a.h, cutoff()), false, 'a young block stays');
    setAge(a.h, 2 * HOUR);
    assert.equal(await store.deleteUnused(a.h, cutoff()), true, 'an old one goes');
    assert.deepEqual(await store.missing([a.h]), [a.h]);
    assert.equal(await store.deleteUnused(a.h, cutoff()), false, 'a missing one is no deletion');

    const b = block();
    await store.put(b.h, b.b);
    setAge(b.h, 2 * HOUR);
    await store.put(b.h, b.b);
    assert.ok(statSync(path(b.h)).mtimeMs > cutoff(), 'storing a block that exists marks it used');
    assert.equal(await store.deleteUnused(b.h, cutoff()), false);
    assert.deepEqual(await store.get(b.h), b.b, 'and it is back under its name, whole');
    assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'nothing left aside');

    // A collector that moved a block aside and stopped: the next start puts it back.
    const c = block();
    await store.put(c.h, c.b);
    renameSync(path(c.h), join(dir, 'tmp', `${c.h}.gc.123456`));
    assert.deepEqual(await store.missing([c.h]), [c.h]);
    const restarted = new LocalBlockStore(dir);
    assert.deepEqual(await restarted.get(c.h), c.b);
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
  });
});
