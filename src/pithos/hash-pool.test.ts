import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { startTestNode, type TestNode } from '../test/harness.js';
import { randomObject, store, storeUser, type StoreUser } from '../test/object-store.js';
import { LocalBlockStore } from './backends/local-block-store.js';
import { consume, storeStream } from './logic/blocks.js';
import { blockBuffer, HashingFailed, HashPool, openHashPools, releaseBlockBuffer } from './logic/hash-pool.js';
import { blockHash, trimBlock, trimmedLength } from './logic/hashmap.js';
import { fastioAvailable, md5Streams, MULTI_MD5_MAX_STREAMS } from './fastio.js';

const BLOCK = 65536;
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** A body that yields `data` in pieces, pausing between them, and calls `at(i)` before piece i. */
function slowBody(data: Buffer, piece: number, at: (i: number) => Promise<void> | void = () => undefined): Readable {
  return Readable.from((async function* () {
    for (let i = 0, off = 0; off < data.length; i++, off += piece) {
      await at(i);
      await new Promise((r) => setImmediate(r));
      yield data.subarray(off, off + piece);
    }
  })());
}

describe('hashing threads', () => {
  it('trimmedLength finds where trailing NULs start, whatever the alignment and length', () => {
    for (const length of [0, 1, 3, 63, 64, 65, 200, 4096]) {
      for (const zeros of [0, 1, 5, 64, 100, length]) {
        for (const offset of [0, 1, 3]) {
          const backing = Buffer.alloc(length + offset + 8, 7);
          const b = backing.subarray(offset, offset + length);
          b.fill(0, Math.max(0, length - zeros));
          let end = length;
          while (end > 0 && b[end - 1] === 0) end--;
          assert.equal(trimmedLength(b), end, `length ${length}, ${zeros} zeros, offset ${offset}`);
        }
      }
    }
  });

  for (const threads of [0, 2]) {
    it(`${threads} threads: block hashes and MD5 streams match hashing here, for shared and plain buffers`, async () => {
      const pool = new HashPool(threads);
      try {
        const blocks = [randomBytes(1000), Buffer.concat([randomBytes(500), Buffer.alloc(300)]), Buffer.alloc(BLOCK), Buffer.alloc(0)];
        for (const b of blocks) {
          const shared = blockBuffer(b.length || 1).subarray(0, b.length);
          b.copy(shared);
          for (const input of [b, shared]) {
            const r = await pool.hashBlock(input, 'sha256');
            assert.equal(r.hash, blockHash(b, 'sha256'));
            assert.equal(r.length, trimBlock(b).length);
          }
        }
        const whole = randomBytes(3 * BLOCK + 17);
        const stream = pool.stream('md5');
        for (let off = 0; off < whole.length; off += 10000) await stream.update(whole.subarray(off, off + 10000));
        assert.equal(await stream.digest(), md5(whole));
        assert.equal(await pool.stream('md5').digest(), md5(Buffer.alloc(0)), 'an empty stream');
      } finally {
        await pool.close();
      }
    });
  }

  it('MD5 of many streams at once (native addon) matches node:crypto, whatever the pieces; bad calls throw', { skip: fastioAvailable ? false : 'native/fastio is not built' }, () => {
    const lanes = md5Streams()!;
    const sizes = [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 4096, 65536 + 3];
    for (const count of [1, 2, 3, 8, 9, 17, MULTI_MD5_MAX_STREAMS]) {
      const states = Array.from({ length: count }, () => lanes.start());
      const given: Buffer[][] = states.map(() => []);
      for (let round = 0; round < 6; round++) {
        // Each round gives every stream a piece of another size, some on shared memory.
        const data = states.map((_, i) => {
          const b = randomBytes(sizes[(i * 7 + round * 3) % sizes.length]!);
          given[i]!.push(b);
          if (i % 2 === 0) return b;
          const shared = Buffer.from(new SharedArrayBuffer(b.length + 5)).subarray(5);
          b.copy(shared);
          return shared;
        });
        lanes.update(states, data);
      }
      states.forEach((st, i) => assert.equal(lanes.digest(st), md5(Buffer.concat(given[i]!)), `${count} streams, stream ${i}`));
    }
    const a = lanes.start();
    assert.throws(() => lanes.update([a, a], [Buffer.alloc(1), Buffer.alloc(1)]), RangeError, 'the same stream twice');
    assert.throws(() => lanes.update([new Uint8Array(10)], [Buffer.alloc(1)]), TypeError, 'not a state');
    assert.throws(() => lanes.update([a], []), TypeError);
    const spent = lanes.start();
    assert.equal(lanes.digest(spent), md5(Buffer.alloc(0)), 'a stream given nothing');
    const native = createRequire(import.meta.url)('../../native/fastio/index.cjs');
    assert.throws(() => native.md5Init(new Uint8Array(10)), TypeError, 'a state of the wrong size');
    assert.throws(() => native.md5Final(lanes.start(), new Uint8Array(8)), TypeError, 'a digest of the wrong size');
    const many = Array.from({ length: MULTI_MD5_MAX_STREAMS + 1 }, () => lanes.start());
    assert.throws(() => lanes.update(many, many.map(() => Buffer.alloc(1))), RangeError);
  });

  it('MD5 streams on the threads, many at once: updates not awaited, a digest asked before they are done, one stream dropped midway', async () => {
    const pool = new HashPool(2);
    try {
      const count = 12;
      const wholes = Array.from({ length: count }, (_, i) => randomBytes(3 * BLOCK + i * 1000 + 7));
      const streams = wholes.map(() => pool.stream('md5'));
      const pending: Promise<void>[] = [];
      for (let off = 0; off < 4 * BLOCK; off += 20000) {
        wholes.forEach((w, i) => {
          if (off >= w.length || (i === 5 && off > 2 * 20000)) return;
          const piece = w.subarray(off, off + 20000);
          // Some on shared memory (read in place), some copied over.
          let input: Buffer = piece;
          if (i % 3 === 0) { input = Buffer.from(new SharedArrayBuffer(piece.length)); piece.copy(input); }
          pending.push(streams[i]!.update(input).catch(() => undefined));
        });
        if (off === 2 * 20000) streams[5]!.abort();
      }
      const digests = await Promise.all(streams.map((s, i) => (i === 5 ? Promise.resolve('dropped') : s.digest())));
      await Promise.all(pending);
      digests.forEach((d, i) => { if (i !== 5) assert.equal(d, md5(wholes[i]!), `stream ${i}`); });
      assert.equal(await pool.stream('md5').digest(), md5(Buffer.alloc(0)));
    } finally {
      await pool.close();
    }
  });

  it('storeStream: blocks, hashes, size and MD5 of an upload, bytes shared with the threads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snf-hash-'));
    const pool = new HashPool(2);
    try {
      const blocks = new LocalBlockStore(dir);
      const data = Buffer.concat([randomBytes(2 * BLOCK), Buffer.alloc(BLOCK), randomBytes(BLOCK - 10), Buffer.alloc(10), randomBytes(123)]);
      const r = await storeStream(slowBody(data, 7777), { blockSize: BLOCK, algorithm: 'sha256' }, blocks, 1e9, pool);
      const expected: string[] = [];
      for (let off = 0; off < data.length; off += BLOCK) expected.push(blockHash(data.subarray(off, off + BLOCK), 'sha256'));
      assert.deepEqual(r.hashes, expected);
      assert.equal(r.size, data.length);
      assert.equal(r.md5, md5(data));
      for (let i = 0; i < expected.length; i++) assert.deepEqual(await blocks.get(expected[i]!), trimBlock(data.subarray(i * BLOCK, (i + 1) * BLOCK)));
      assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
      // Small objects are hashed on the calling thread, empty ones have no block at all.
      const small = Buffer.concat([randomBytes(1000), Buffer.alloc(24)]);
      const one = await storeStream(slowBody(small, 100), { blockSize: BLOCK, algorithm: 'sha256' }, blocks, 1e9, pool);
      assert.deepEqual(one, { hashes: [blockHash(small, 'sha256')], size: small.length, md5: md5(small) });
      assert.deepEqual(await blocks.get(one.hashes[0]!), small.subarray(0, 1000));
      const none = await storeStream(Readable.from([]), { blockSize: BLOCK, algorithm: 'sha256' }, blocks, 1e9, pool);
      assert.deepEqual(none, { hashes: [], size: 0, md5: md5(Buffer.alloc(0)) });
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('storeStream: a thread that dies mid-upload fails it with 503; the next upload gets new threads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snf-hash-'));
    const pool = new HashPool(2);
    try {
      const blocks = new LocalBlockStore(dir);
      const policy = { blockSize: BLOCK, algorithm: 'sha256' };
      const data = randomBytes(20 * BLOCK);
      // Pieces of a quarter block: the threads are stopped after two blocks were handed over.
      const failed = storeStream(slowBody(data, BLOCK / 4, (i) => (i === 9 ? pool.stopThreads() : undefined)), policy, blocks, 1e9, pool);
      await assert.rejects(failed, (err: unknown) => err instanceof HashingFailed && err.status === 503);
      const r = await storeStream(slowBody(data, BLOCK), policy, blocks, 1e9, pool);
      assert.equal(r.md5, md5(data));
      assert.equal(r.hashes.length, 20);
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('block buffers are shared memory and are reused once released', () => {
    const a = blockBuffer(12345);
    assert.ok(a.buffer instanceof SharedArrayBuffer);
    releaseBlockBuffer(a);
    assert.equal(blockBuffer(12345), a);
  });
});

describe('an upload whose hashing thread dies', () => {
  let t: TestNode;
  let u: StoreUser;
  const req = (path: string, init: Parameters<typeof store>[1] = {}) => store(`${u.base}${path}`, { token: u.token, ...init });
  before(async () => {
    t = await startTestNode({ settings: { 'pithos.block_size': BLOCK, 'pithos.hash_threads': 2 } });
    u = await storeUser(t);
    assert.equal((await req('/box', { method: 'PUT' })).status, 201);
  });
  after(async () => { await t?.close(); });

  /** A PUT sent in pieces; `during` runs once part of the body is out. Resolves with the status (or -1 if the connection broke). */
  function slowPut(path: string, data: Buffer, during: () => Promise<void>): Promise<{ status: number; body: string }> {
    return new Promise((resolve) => {
      const request = http.request(`${u.base}${path}`, { method: 'PUT', headers: { 'x-auth-token': u.token, 'content-type': 'application/octet-stream', 'content-length': data.length } }, (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      request.on('error', () => resolve({ status: -1, body: '' }));
      void (async () => {
        for (let off = 0, i = 0; off < data.length; off += 16384, i++) {
          if (i === 12) await during();
          if (request.destroyed) return;
          request.write(data.subarray(off, off + 16384));
          await new Promise((r) => setTimeout(r, 2));
        }
        request.end();
      })();
    });
  }

  it('fails with 5xx, leaves nothing visible or charged, and the next upload succeeds', async () => {
    const data = randomObject(30 * BLOCK);
    const pools = openHashPools();
    assert.ok(pools.length > 0, 'the node hashes on threads');
    const res = await slowPut('/box/broken.bin', data, async () => { await Promise.all(pools.map((p) => p.stopThreads())); });
    assert.ok(res.status >= 500 && res.status < 600, `status ${res.status} ${res.body}`);
    assert.equal((await req('/box/broken.bin', { method: 'HEAD' })).status, 404);
    assert.equal((await req('/box')).status, 204, 'nothing listed');
    const head = await req('/box', { method: 'HEAD' });
    assert.equal(head.headers.get('x-container-object-count'), '0');
    assert.equal(head.headers.get('x-container-bytes-used'), '0');

    const ok = await req('/box/fine.bin', { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.headers.get('etag'), md5(data));
    assert.deepEqual((await req('/box/fine.bin')).bytes, data);
  });
});

describe('consume: reading a request body by events', () => {
  it('gives every chunk in order, pausing while a returned promise runs; resolves at the end', async () => {
    const parts = Array.from({ length: 20 }, (_, i) => Buffer.from(`part ${i};`));
    const got: string[] = [];
    let waiting = false;
    await consume(Readable.from(parts), (c) => {
      assert.equal(waiting, false, 'no chunk while paused');
      got.push(c.toString());
      if (got.length % 5 !== 0) return undefined;
      waiting = true;
      return new Promise((r) => setTimeout(() => { waiting = false; r(undefined); }, 10));
    });
    assert.equal(got.join(''), parts.map(String).join(''));
  });

  it('rejects when the client goes away mid-body, also while paused, and when take fails; the body is left paused, not destroyed', async () => {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const outcome = new Promise<{ err: NodeJS.ErrnoException; n: number }>((resolve) => {
        server.once('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
          let n = 0;
          consume(req, (c) => { n += c.length; return n > 100_000 ? new Promise((r) => setTimeout(r, 50)) : undefined; })
            .then(() => resolve({ err: new Error('resolved'), n }), (err: NodeJS.ErrnoException) => { res.end(); resolve({ err, n }); });
        });
      });
      const client = http.request({ host: '127.0.0.1', port, method: 'PUT', headers: { 'content-length': '1000000' } });
      client.on('error', () => undefined);
      client.write(Buffer.alloc(300_000), () => setTimeout(() => client.destroy(), 100));
      const { err, n } = await outcome;
      assert.ok(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE'].includes(err.code ?? ''), String(err));
      assert.ok(n > 100_000 && n < 1_000_000);

      const body = Readable.from([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]);
      await assert.rejects(consume(body, (c) => { if (c.toString() === 'b') throw new Error('too large'); return undefined; }), /too large/);
      assert.equal(body.destroyed, false);
      assert.equal(body.isPaused(), true);
    } finally {
      server.close();
    }
  });
});
