import type { Readable } from 'node:stream';
import { BadRequest } from '../../common/errors.js';
import type { BlockStore } from '../backends/block-store.js';
import { discardRest, readRange } from './blocks.js';
import { copyInto } from '../fastio.js';
import { blockBuffer, releaseBlockBuffer, type HashPool } from './hash-pool.js';
import type { BlockPolicy } from './hashmap.js';

/** An object's bytes as its block list. */
export interface BlockList { hashes: string[]; size: number }

/** Bytes to write, in order: a run of bytes, or a whole block known by its hash (given only at a block boundary). */
export type Piece = { bytes: Buffer } | { block: string };

/** How many rewritten blocks may be hashed and stored at once while more bytes arrive. */
const IN_FLIGHT = 4;

/**
 * Writes bytes into a block list from `offset` on (at most its size: an object never gets a hole)
 * and returns the new list. Only the blocks the bytes reach change: one partly written is read
 * back and patched, each changed block is hashed and stored; blocks before and after are kept as
 * they are, and whole blocks given by hash are taken without reading them. A few blocks are in
 * memory at most, however many bytes come. Nothing is committed here.
 */
export async function writeRange(base: BlockList, offset: number, pieces: AsyncIterable<Piece>, policy: BlockPolicy, blocks: BlockStore, hashing: HashPool, maxSize: number): Promise<BlockList & { written: number }> {
  const { blockSize } = policy;
  const hashes = [...base.hashes];
  const pending = new Set<Promise<void>>();
  let failure: unknown;
  let pos = offset;
  /** The block being written: its index, buffer, and the part of it written so far. */
  let current: { index: number; buf: Buffer; from: number; to: number } | undefined;
  const kept = (index: number) => Math.max(0, Math.min(blockSize, base.size - index * blockSize));

  /** Completes the current block around its written part (old bytes, else zeros), then hashes and stores it. */
  const flush = async () => {
    const { index, buf, from, to } = current!;
    current = undefined;
    const old = kept(index);
    const stored = (from > 0 || to < old) && old > 0 ? await blocks.get(base.hashes[index]!) : undefined;
    const copyOld = (start: number, end: number) => {
      const available = Math.max(start, Math.min(end, stored?.length ?? 0));
      if (stored && available > start) stored.copy(buf, start, start, available);
      buf.fill(0, available, end);
    };
    copyOld(0, from);
    if (to < old) copyOld(to, old);
    const data = buf.subarray(0, Math.max(to, old));
    if (index === hashes.length) hashes.push('');
    const p: Promise<void> = hashing.hashBlock(data, policy.algorithm)
      .then(({ hash, length }) => { hashes[index] = hash; return blocks.put(hash, data.subarray(0, length)); })
      .catch((err: unknown) => { failure ??= err; })
      .finally(() => { releaseBlockBuffer(buf); pending.delete(p); });
    pending.add(p);
  };

  try {
    for await (const piece of pieces) {
      if (failure) break;
      if ('block' in piece) {
        if (current || pos % blockSize !== 0) throw new Error('a whole block given off a block boundary');
        const index = pos / blockSize;
        if (index === hashes.length) hashes.push(piece.block); else hashes[index] = piece.block;
        pos += blockSize;
        if (pos > maxSize) throw new BadRequest(`Object larger than ${maxSize} bytes`);
        continue;
      }
      const chunk = piece.bytes;
      let at = 0;
      while (at < chunk.length) {
        if (!current) {
          const index = Math.floor(pos / blockSize);
          const from = pos - index * blockSize;
          current = { index, buf: blockBuffer(blockSize), from, to: from };
        }
        const n = Math.min(blockSize - current.to, chunk.length - at);
        copyInto(current.buf, current.to, at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n));
        current.to += n;
        at += n;
        pos += n;
        if (pos > maxSize) throw new BadRequest(`Object larger than ${maxSize} bytes`);
        if (current.to === blockSize) {
          await flush();
          if (pending.size >= IN_FLIGHT) await Promise.race(pending);
        }
      }
    }
    if (current && !failure) await flush();
    await Promise.all(pending);
    if (failure) throw failure;
    return { hashes, size: Math.max(base.size, pos), written: pos - offset };
  } catch (err) {
    // Threads and writes may still be reading block buffers: wait for them before anything reuses one.
    await Promise.all(pending);
    throw err;
  } finally {
    if (current) releaseBlockBuffer(current.buf);
  }
}

/**
 * A block list cut to `size` bytes (never grown). A last block cut inside is stored again with only
 * the bytes kept, so that its hash names exactly the object's bytes.
 */
export async function truncateBlocks(list: BlockList, size: number, policy: BlockPolicy, blocks: BlockStore, hashing: HashPool): Promise<BlockList> {
  if (size >= list.size) return list;
  const count = Math.ceil(size / policy.blockSize);
  const hashes = list.hashes.slice(0, count);
  const tail = size - (count - 1) * policy.blockSize;
  if (count > 0 && tail < policy.blockSize) {
    const last = await blocks.get(hashes[count - 1]!);
    if (last.length > tail) {
      const data = last.subarray(0, tail);
      const { hash, length } = await hashing.hashBlock(data, policy.algorithm);
      await blocks.put(hash, data.subarray(0, length));
      hashes[count - 1] = hash;
    }
  }
  return { hashes, size };
}

/** A request body as pieces; what is left of it is read and dropped if the writer stops early. */
export async function* bodyPieces(body: Readable): AsyncGenerator<Piece> {
  try {
    // Stopping early (a failure) must not tear the request down: the client is to get an answer.
    for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) yield { bytes: chunk };
  } finally {
    discardRest(body);
  }
}

/**
 * The first `length` bytes of another object as pieces: read block by block, except that whole
 * blocks go by hash when `byHash` (the write starts at a block boundary, so they land on one).
 */
export async function* objectPieces(source: BlockList, length: number, byHash: boolean, blockSize: number, blocks: BlockStore): AsyncGenerator<Piece> {
  for (let start = 0; start < length; start += blockSize) {
    const n = Math.min(blockSize, length - start);
    if (byHash && n === blockSize) { yield { block: source.hashes[start / blockSize]! }; continue; }
    for await (const bytes of readRange(source.hashes, source.size, start, start + n - 1, blockSize, blocks)) yield { bytes };
  }
}
