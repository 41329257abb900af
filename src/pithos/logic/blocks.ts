import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BadRequest } from '../../common/errors.js';
import type { BlockStore } from '../backends/block-store.js';
import { copyInto } from '../fastio.js';
import { blockBuffer, releaseBlockBuffer, type HashPool } from './hash-pool.js';
import { blockHash, trimBlock, type BlockPolicy } from './hashmap.js';

/** How many blocks of one upload may be hashed and written at once while more bytes arrive. */
const IN_FLIGHT = 4;
/** Objects up to this size are hashed on the request thread: a hand-over to a hashing thread costs more. */
const INLINE_LIMIT = 64 * 1024;

/**
 * Splits a byte stream into blocks and stores them, returning the block hashes, the size and the
 * MD5 of the whole. Bytes are copied once, into a block buffer on shared memory; a full block is
 * hashed on a hashing thread and written to the block store while the next one fills, up to
 * `IN_FLIGHT` blocks at once (then the request is read no further until one is done), so memory
 * stays at a few blocks however large the upload. The MD5 runs on one hashing thread, fed block by
 * block in order. Nothing is committed here: on any failure the blocks written stay unreferenced.
 */
export async function storeStream(body: Readable, policy: BlockPolicy, blocks: BlockStore, maxSize: number, hashing: HashPool): Promise<{ hashes: string[]; size: number; md5: string }> {
  const { blockSize } = policy;
  const hashes: string[] = [];
  const md5 = hashing.stream('md5');
  const pending = new Set<Promise<void>>();
  let failure: unknown;
  let size = 0;
  let block: Buffer | undefined = blockBuffer(blockSize);
  let filled = 0;

  /** Hashes and stores a full (or the last) block; its buffer is released when both threads and the write are done with it. */
  const dispatch = (buf: Buffer, length: number) => {
    const index = hashes.push('') - 1;
    const data = buf.subarray(0, length);
    const summed = md5.update(data);
    const stored = hashing.hashBlock(data, policy.algorithm).then(({ hash, length: kept }) => {
      hashes[index] = hash;
      return blocks.put(hash, data.subarray(0, kept));
    });
    const p: Promise<void> = Promise.allSettled([summed, stored]).then((results) => {
      releaseBlockBuffer(buf);
      for (const r of results) if (r.status === 'rejected') failure ??= r.reason;
      pending.delete(p);
    });
    pending.add(p);
  };

  try {
    await consume(body, (chunk) => {
      if (failure) throw failure;
      size += chunk.length;
      if (size > maxSize) throw new BadRequest(`Object larger than ${maxSize} bytes`);
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(blockSize - filled, chunk.length - offset);
        copyInto(block!, filled, offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take));
        filled += take;
        offset += take;
        if (filled === blockSize) {
          dispatch(block!, filled);
          block = blockBuffer(blockSize);
          filled = 0;
        }
      }
      return pending.size >= IN_FLIGHT ? Promise.race(pending) : undefined;
    });
    if (!failure && hashes.length === 0 && filled <= INLINE_LIMIT) {
      // A small object, whole in one short block: hashing it here costs less than handing it over.
      md5.abort();
      const data = block!.subarray(0, filled);
      const only = filled > 0 ? blockHash(data, policy.algorithm) : undefined;
      if (only) await blocks.put(only, trimBlock(data));
      return { hashes: only ? [only] : [], size, md5: createHash('md5').update(data).digest('hex') };
    }
    if (!failure && filled > 0) {
      dispatch(block!, filled);
      block = undefined;
    }
    await Promise.all(pending);
    if (failure) throw failure;
    return { hashes, size, md5: await md5.digest() };
  } catch (err) {
    md5.abort();
    discardRest(body, DISCARD_LIMIT);
    // Threads and writes may still be reading block buffers: wait for them before anything reuses one.
    await Promise.all(pending);
    throw err;
  } finally {
    if (block) releaseBlockBuffer(block);
  }
}

/**
 * Gives a body's chunks to `take` as they arrive, from 'data' events: an async iterator costs a
 * promise or two per chunk, which shows at hundreds of MB/s. When `take` answers a promise,
 * reading pauses until it settles. Resolves at the body's end; rejects when the stream fails, the
 * body is cut short (the client went away), or `take` throws or its promise fails. On failure the
 * body is left paused, not destroyed: the client is still to get an answer.
 */
export function consume(body: Readable, take: (chunk: Buffer) => Promise<unknown> | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      body.off('data', onData).off('end', onEnd).off('error', finish).off('close', onClose);
      if (err === undefined) { resolve(); return; }
      body.pause();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      let wait: Promise<unknown> | undefined;
      try { wait = take(chunk); } catch (err) { finish(err); return; }
      if (!wait) return;
      body.pause();
      wait.then(() => { if (!settled) body.resume(); }, finish);
    };
    const onEnd = () => finish();
    const onClose = () => finish(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    if (body.readableEnded) { resolve(); return; }
    body.on('data', onData).once('end', onEnd).once('error', finish).once('close', onClose);
  });
}

/** How much of a failed upload's remaining body is read and dropped (so that its client reads the answer) before hanging up. */
const DISCARD_LIMIT = 64 * 1024 * 1024;

/** Reads and drops the rest of a request body after a failure, up to `limit` bytes; beyond that, hangs up. */
export function discardRest(body: Readable, limit = DISCARD_LIMIT): void {
  if (body.destroyed || body.readableEnded) return;
  let dropped = 0;
  body.on('error', () => undefined);
  body.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > limit) body.destroy();
  });
  body.resume();
}

/** The MD5 of an object's bytes, read back from its blocks (for objects written by hashmap), hashed off this thread. */
export async function md5Of(hashes: string[], size: number, blockSize: number, blocks: BlockStore, hashing: HashPool): Promise<string> {
  const md5 = hashing.stream('md5');
  try {
    for await (const part of readRange(hashes, size, 0, size - 1, blockSize, blocks)) await md5.update(part);
    return await md5.digest();
  } catch (err) {
    md5.abort();
    throw err;
  }
}

/** Splits a buffer already in memory into blocks and stores them; returns their hashes in order. */
export async function storeBuffer(data: Buffer, policy: BlockPolicy, blocks: BlockStore): Promise<string[]> {
  const hashes: string[] = [];
  for (let offset = 0; offset < data.length; offset += policy.blockSize) {
    const block = data.subarray(offset, offset + policy.blockSize);
    const hash = blockHash(block, policy.algorithm);
    await blocks.put(hash, trimBlock(block));
    hashes.push(hash);
  }
  return hashes;
}

/**
 * The bytes `[start, end]` (inclusive) of an object made of `hashes`, block by block: each block
 * read back zero-padded to the block size, the last cut at the object's size. One block is read ahead.
 */
export async function* readRange(hashes: string[], size: number, start: number, end: number, blockSize: number, blocks: BlockStore): AsyncGenerator<Buffer> {
  if (size === 0 || end < start) return;
  const first = Math.floor(start / blockSize);
  const last = Math.floor(end / blockSize);
  const fetchBlock = async (i: number): Promise<Buffer> => {
    const stored = await blocks.get(hashes[i]!);
    const length = Math.min(blockSize, size - i * blockSize);
    if (stored.length >= length) return stored.subarray(0, length);
    return Buffer.concat([stored, Buffer.alloc(length - stored.length)]);
  };
  // A read-ahead the consumer may never wait for (it can stop early) must not become an unhandled rejection.
  const ahead = (i: number) => { const p = fetchBlock(i); p.catch(() => undefined); return p; };
  let next = ahead(first);
  for (let i = first; i <= last; i++) {
    const block = await next;
    if (i < last) next = ahead(i + 1);
    const from = i === first ? start - i * blockSize : 0;
    const to = i === last ? end - i * blockSize + 1 : block.length;
    yield block.subarray(from, to);
  }
}

/** A run of blocks making up some bytes: one object, or one part of a large object. */
export interface Extent { hashes: string[]; size: number }

/** The bytes `[start, end]` of extents laid end to end (a large object's parts), read part by part. */
export async function* readExtents(extents: Extent[], start: number, end: number, blockSize: number, blocks: BlockStore): AsyncGenerator<Buffer> {
  let offset = 0;
  for (const e of extents) {
    const from = Math.max(start, offset);
    const to = Math.min(end, offset + e.size - 1);
    if (from <= to) yield* readRange(e.hashes, e.size, from - offset, to - offset, blockSize, blocks);
    offset += e.size;
    if (offset > end) return;
  }
}
