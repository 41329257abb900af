import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockHash } from '../logic/hashmap.js';
import { BlockNotFound, type BlockStore } from './block-store.js';
import { LocalBlockStore } from './local-block-store.js';
import { S3BlockStore } from './s3-block-store.js';
import { required } from '../../test/harness.js';
import { fastioAvailable } from '../fastio.js';

/** The contract every block store keeps; each implementation runs it. */
function blockStoreContract(name: string, make: () => { store: BlockStore; cleanup: () => void }, large = false) {
  describe(`block store contract: ${name}`, () => {
    const { store, cleanup } = make();
    after(cleanup);
    /** A block of `text`, or with `large`, 300 KiB of it on shared memory (as uploads fill them). */
    const block = (text: string) => {
      let b: Buffer = Buffer.from(text);
      if (large) {
        const shared = Buffer.from(new SharedArrayBuffer(300 * 1024));
        shared.fill(text);
        b = shared;
      }
      return { b, h: blockHash(b, 'sha256') };
    };

    it('stores a block under its hash and gives it back', async () => {
      const { b, h } = block('first block');
      assert.deepEqual(await store.missing([h]), [h]);
      await store.put(h, b);
      assert.deepEqual(await store.missing([h]), []);
      assert.deepEqual(await store.get(h), b);
    });

    it('keeps each distinct block once: storing it again changes nothing', async () => {
      const { b, h } = block('twice');
      await store.put(h, b);
      await store.put(h, b);
      assert.deepEqual(await store.get(h), b);
      const all: string[] = [];
      for await (const x of store.list()) all.push(x.hash);
      assert.equal(all.filter((x) => x === h).length, 1);
    });

    it('answers which of many hashes are missing, in order', async () => {
      const a = block('a'); const b = block('b'); const c = block('c');
      await store.put(b.h, b.b);
      assert.deepEqual(await store.missing([a.h, b.h, c.h]), [a.h, c.h]);
    });

    it('reports an absent block as not found, and deletes', async () => {
      const { b, h } = block('gone soon');
      await assert.rejects(store.get(h), BlockNotFound);
      await store.put(h, b);
      await store.delete(h);
      await assert.rejects(store.get(h), BlockNotFound);
      await store.delete(h);
    });

    it('stores concurrent writers of one block safely', async () => {
      const { b, h } = block('contended');
      await Promise.all(Array.from({ length: 20 }, () => store.put(h, b)));
      assert.deepEqual(await store.get(h), b);
    });

    it('deletes an unused block only when it was stored before the cut-off', async () => {
      const { b, h } = block(`collectable ${Math.random()}`);
      await store.put(h, b);
      assert.equal(await store.deleteUnused(h, Date.now() - 3_600_000), false, 'stored after the cut-off: kept');
      assert.deepEqual(await store.get(h), b);
      assert.equal(await store.deleteUnused(h, Date.now() + 60_000), true, 'stored before the cut-off: deleted');
      assert.deepEqual(await store.missing([h]), [h]);
      assert.equal(await store.deleteUnused(h, Date.now() + 60_000), false, 'nothing left to delete');
    });

    it('refuses names that are not hashes', async () => {
      await assert.rejects(store.get('../../etc/passwd'), BlockNotFound);
    });
  });
}

blockStoreContract('local files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'snf-blocks-'));
  return { store: new LocalBlockStore(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
});

blockStoreContract('local files, large blocks written by the writing threads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'snf-blocks-'));
  const store = new LocalBlockStore(dir);
  return { store, cleanup: () => { void store.close(); rmSync(dir, { recursive: true, force: true }); } };
}, true);

// S3: runs against a real S3-compatible service named by the environment (never a fake).
const s3 = process.env['SNF_TEST_S3_ENDPOINT'];
if (s3) {
  blockStoreContract(`S3 at ${s3}`, () => ({
    store: new S3BlockStore({
      endpoint: s3, bucket: process.env['SNF_TEST_S3_BUCKET'] ?? 'pithos-test', region: process.env['SNF_TEST_S3_REGION'] ?? 'us-east-1',
      accessKey: process.env['SNF_TEST_S3_ACCESS_KEY'] ?? '', secretKey: process.env['SNF_TEST_S3_SECRET_KEY'] ?? '', prefix: `test-${Date.now()}/`,
    }),
    cleanup: () => undefined,
  }));
} else if (required('s3')) {
  throw new Error('SNF_TEST_REQUIRE asks for s3 but SNF_TEST_S3_ENDPOINT is not set');
}

describe('local block store on disk', () => {
  it('a writing thread that fails reports the file system error and leaves no file; the next write succeeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snf-blocks-'));
    const store = new LocalBlockStore(dir, 2);
    try {
      const b = Buffer.from(new SharedArrayBuffer(512 * 1024));
      b.fill('thread');
      const h = blockHash(b, 'sha256');
      rmSync(join(dir, 'tmp'), { recursive: true });
      await assert.rejects(store.put(h, b), (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && /block write failed/.test(err.message));
      assert.deepEqual(await store.missing([h]), [h], 'nothing under the real name');
      mkdirSync(join(dir, 'tmp'));
      await store.put(h, b);
      assert.deepEqual(await store.get(h), b);
      assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a writing thread stopped mid-write fails its writes; new threads take the next ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snf-blocks-'));
    const store = new LocalBlockStore(dir, 2);
    try {
      const blocks = Array.from({ length: 6 }, (_, i) => {
        const b = Buffer.from(new SharedArrayBuffer(1024 * 1024));
        b.fill(`stopped ${i} ${Math.random()}`);
        return { b, h: blockHash(b, 'sha256') };
      });
      const writes = blocks.map(({ b, h }) => store.put(h, b).then(() => 'ok', (err: Error) => err.message));
      await store.stopThreads();
      const results = await Promise.all(writes);
      for (const r of results) assert.ok(r === 'ok' || /block write failed: thread stopped/.test(r), r);
      // Whatever failed left no block under its name: every block is whole or absent.
      for (const { b, h } of blocks) {
        if ((await store.missing([h])).length === 0) assert.deepEqual(await store.get(h), b);
      }
      // The failed ones are written by new threads when asked again.
      for (const { b, h } of blocks) await store.put(h, b);
      for (const { b, h } of blocks) assert.deepEqual(await store.get(h), b);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('needs a writing thread', () => {
    assert.throws(() => new LocalBlockStore(tmpdir(), 0), RangeError);
  });

  it('leaves no temporary files behind after writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snf-blocks-'));
    const store = new LocalBlockStore(dir);
    const b = Buffer.from('x'.repeat(1000));
    await store.put(blockHash(b, 'sha256'), b);
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
    rmSync(dir, { recursive: true, force: true });
  });
});

/** Bytes of a file in the page cache, by util-linux's fincore; undefined where there is no fincore. */
function cachedBytes(path: string): number | undefined {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES', path], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

if (!fastioAvailable && required('fastio')) throw new Error('SNF_TEST_REQUIRE asks for fastio but native/fastio is not built (scripts/deps.sh)');

describe('local block store and the page cache', { skip: fastioAvailable ? false : 'native/fastio is not built' }, () => {
  it('drops a large block from the page cache once it is durable (given on shared memory or not), and keeps a small one', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'snf-blocks-'));
    const store = new LocalBlockStore(dir);
    t.after(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
    const large = Buffer.alloc(4 * 1024 * 1024, 7);
    large.write(`large ${Date.now()} ${Math.random()}`);
    // On shared memory, as uploads fill blocks (the other is copied there first).
    const shared = Buffer.from(new SharedArrayBuffer(4 * 1024 * 1024));
    shared.fill(`shared ${Date.now()} ${Math.random()}`);
    const small = Buffer.from(`small ${Date.now()} ${Math.random()}`.repeat(100));
    const [hl, hx, hs] = [blockHash(large, 'sha256'), blockHash(shared, 'sha256'), blockHash(small, 'sha256')];
    await Promise.all([store.put(hl, large), store.put(hx, shared), store.put(hs, small)]);
    const at = (h: string) => join(dir, h.slice(0, 2), h.slice(2, 4), h);
    const [cl, cx, cs] = [cachedBytes(at(hl)), cachedBytes(at(hx)), cachedBytes(at(hs))];
    if (cl === undefined || cx === undefined || cs === undefined) { t.skip('no fincore (util-linux) to read the page cache with'); return; }
    assert.equal(cl, 0, 'the 4 MiB block left the page cache');
    assert.equal(cx, 0, 'the 4 MiB block on shared memory left the page cache');
    assert.ok(cs > 0, 'the small block stayed cached');
    assert.deepEqual(await store.get(hl), large, 'and reads back whole from disk');
    assert.deepEqual(await store.get(hx), shared);
  });
});
