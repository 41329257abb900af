import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BadRequest } from '../../common/errors.js';
import type { BlockStore } from '../backends/block-store.js';
import { blockHash, trimBlock, type BlockPolicy } from './hashmap.js';

/** How many blocks may be hashed and written at once while more bytes arrive. */
const IN_FLIGHT = 4;

/**
 * Splits a byte stream into blocks, hashing and storing each as it fills (a few at a time), so
 * memory stays at a few blocks however large the upload. Returns the block hashes and the size.
 */
export async function storeStream(body: Readable, policy: BlockPolicy, blocks: BlockStore, maxSize: number): Promise<{ hashes: string[]; size: number; md5: string }> {
  const hashes: string[] = [];
  const md5 = createHash('md5');
  const pending = new Set<Promise<void>>();
  let failure: unknown;
  let size = 0;
  let current: Buffer[] = [];
  let filled = 0;

  const flush = async (data: Buffer) => {
    const hash = blockHash(data, policy.algorithm);
    hashes.push(hash);
    const p: Promise<void> = blocks.put(hash, trimBlock(data)).catch((err) => { failure ??= err; }).finally(() => pending.delete(p));
    pending.add(p);
    if (pending.size >= IN_FLIGHT) await Promise.race(pending);
  };

  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (failure) break;
    size += chunk.length;
    md5.update(chunk);
    if (size > maxSize) throw new BadRequest(`Object larger than ${maxSize} bytes`);
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(policy.blockSize - filled, chunk.length - offset);
      current.push(chunk.subarray(offset, offset + take));
      filled += take;
      offset += take;
      if (filled === policy.blockSize) {
        await flush(Buffer.concat(current, filled));
        current = [];
        filled = 0;
      }
    }
  }
  if (filled > 0) await flush(Buffer.concat(current, filled));
  await Promise.all(pending);
  if (failure) throw failure;
  return { hashes, size, md5: md5.digest('hex') };
}

/** The MD5 of an object's bytes, read back from its blocks (for objects written by hashmap). */
export async function md5Of(hashes: string[], size: number, blockSize: number, blocks: BlockStore): Promise<string> {
  const md5 = createHash('md5');
  for await (const part of readRange(hashes, size, 0, size - 1, blockSize, blocks)) md5.update(part);
  return md5.digest('hex');
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
