import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockHash } from '../logic/hashmap.js';
import { BlockNotFound, type BlockStore } from './block-store.js';
import { LocalBlockStore } from './local-block-store.js';
import { S3BlockStore } from './s3-block-store.js';
import { required } from '../../test/harness.js';

/** The contract every block store keeps; each implementation runs it. */
function blockStoreContract(name: string, make: () => { store: BlockStore; cleanup: () => void }) {
  describe(`block store contract: ${name}`, () => {
    const { store, cleanup } = make();
    after(cleanup);
    const block = (text: string) => { const b = Buffer.from(text); return { b, h: blockHash(b, 'sha256') }; };

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

    it('refuses names that are not hashes', async () => {
      await assert.rejects(store.get('../../etc/passwd'), BlockNotFound);
    });
  });
}

blockStoreContract('local files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'snf-blocks-'));
  return { store: new LocalBlockStore(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
});

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
  it('leaves no temporary files behind after writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snf-blocks-'));
    const store = new LocalBlockStore(dir);
    const b = Buffer.from('x'.repeat(1000));
    await store.put(blockHash(b, 'sha256'), b);
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
    rmSync(dir, { recursive: true, force: true });
  });
});
