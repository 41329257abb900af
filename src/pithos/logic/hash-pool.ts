import { createHash, type Hash } from 'node:crypto';
import { ApiError } from '../../common/errors.js';
import { multiMd5 } from '../fastio.js';
import { WorkerThread } from '../worker-thread.js';
import { trimmedLength } from './hashmap.js';
import type { HashReply, HashRequest } from './hash-worker.js';

/** A block's hash (of its bytes without trailing NULs) and how many bytes are left after the trim. */
export interface BlockDigest { hash: string; length: number }

/** A running hash of bytes given in order (an object's MD5), computed off the request thread. */
export interface StreamHash {
  /**
   * Adds bytes after those given before. Resolves once they are consumed: only then may the
   * caller reuse `data`. Bytes on shared memory (see `blockBuffer`) are read in place; others are copied.
   */
  update(data: Buffer): Promise<void>;
  /** The hex digest of everything given; the stream is done after it. */
  digest(): Promise<string>;
  /** Gives up the stream (a failed upload): its state is dropped. */
  abort(): void;
}

/** A hashing thread failed (crashed, or was stopped) with work of a request in it: the request fails, retryably. */
export class HashingFailed extends ApiError {
  constructor(message: string) { super(503, 'serviceUnavailable', message); }
}

/** A hashing thread, with the streams whose state lives in it. */
class Thread extends WorkerThread<HashRequest, HashReply> {
  /** Streams whose state lives in this thread. */
  streams = 0;
}

/**
 * Hashes object bytes on a few worker threads, so that SHA-256 of blocks and the MD5 of whole
 * objects run beside the thread that serves requests (and beside each other). Bytes are shared,
 * not copied: blocks come from `blockBuffer` (shared memory), each worker reads them in place.
 * Block hashes go to the least loaded thread; an object's MD5 stays on one thread, fed in order
 * (where the CPU hashes several MD5 streams side by side, all on the same thread).
 * Threads start on first use and idle without holding the process open. A thread that dies
 * fails the work it held (503) and is replaced for the next request.
 *
 * With a size of 0 everything is hashed inline, on the calling thread.
 */
export class HashPool {
  private readonly threads: Thread[] = [];
  private nextId = 1;
  private nextStream = 1;
  private closed = false;

  constructor(readonly size: number) {
    openPools.add(this);
  }

  private spawn(): Thread {
    const t = new Thread(new URL('./hash-worker.js', import.meta.url), 'pithos-hash', (reason) => new HashingFailed(`hashing failed: ${reason}`), (dead) => {
      const i = this.threads.indexOf(dead as Thread);
      if (i >= 0) this.threads.splice(i, 1);
    });
    this.threads.push(t);
    return t;
  }

  /**
   * The thread to give work to: the least loaded, by bytes queued for a block, by streams held
   * (then bytes) for a stream. MD5 streams hashed side by side (`together`) gather instead on the
   * thread holding the most, so that they share its vector lanes.
   */
  private pick(work: 'block' | 'stream' | 'together'): Thread {
    if (this.closed) throw new HashingFailed('hashing is shut down');
    while (this.threads.length < this.size) this.spawn();
    let best = this.threads[0]!;
    for (const t of this.threads) {
      if (work === 'block' ? t.load < best.load
        : work === 'stream' ? t.streams < best.streams || (t.streams === best.streams && t.load < best.load)
        : t.streams > best.streams) best = t;
    }
    return best;
  }

  /** The hash of a block without its trailing NULs, and its length without them. */
  async hashBlock(block: Buffer, algorithm: string): Promise<BlockDigest> {
    if (this.size === 0) {
      const length = trimmedLength(block);
      return { hash: createHash(algorithm).update(block.subarray(0, length)).digest('hex'), length };
    }
    const { buf, offset, transfer } = shareable(block);
    const id = this.nextId++;
    const r = await this.pick('block').send({ id, op: 'block', buf, offset, length: block.length, algorithm }, block.length, transfer);
    return { hash: r.hash!, length: r.length! };
  }

  /** A running hash (`md5` for object checksums) fed in order, on one thread. */
  stream(algorithm: string): StreamHash {
    if (this.size === 0) return inlineStream(createHash(algorithm));
    const stream = this.nextStream++;
    let thread: Thread | undefined;
    let done = false;
    const on = (): Thread => {
      if (!thread) { thread = this.pick(multiMd5 && algorithm === 'md5' ? 'together' : 'stream'); thread.streams++; }
      return thread;
    };
    /** Ends the stream here; the thread holding it counts one stream less. */
    const finish = () => {
      if (!done && thread) thread.streams--;
      done = true;
    };
    return {
      update: async (data) => {
        if (done) throw new Error('hash stream already finished');
        if (data.length === 0) return;
        const t = on();
        const { buf, offset, transfer } = shareable(data);
        const id = this.nextId++;
        await t.send({ id, op: 'update', stream, buf, offset, length: data.length, algorithm }, data.length, transfer);
      },
      digest: async () => {
        if (done) throw new Error('hash stream already finished');
        // Nothing was ever given: no thread holds this stream.
        if (!thread) { finish(); return createHash(algorithm).digest('hex'); }
        const t = thread;
        finish();
        const id = this.nextId++;
        return (await t.send({ id, op: 'digest', stream, algorithm }, 0)).hash!;
      },
      abort: () => {
        if (done) return;
        const t = thread;
        finish();
        if (t?.alive) {
          const id = this.nextId++;
          t.send({ id, op: 'drop', stream }, 0).catch(() => undefined);
        }
      },
    };
  }

  /** Stops every thread now, failing the work they hold, as a crash would; new ones start when needed. */
  async stopThreads(): Promise<void> {
    await Promise.all([...this.threads].map((t) => t.terminate()));
  }

  async close(): Promise<void> {
    this.closed = true;
    openPools.delete(this);
    await this.stopThreads();
  }
}

const openPools = new Set<HashPool>();

/** Every hash pool of this process not closed yet (for tests that stop threads under running uploads). */
export function openHashPools(): HashPool[] {
  return [...openPools];
}

function inlineStream(h: Hash): StreamHash {
  let done = false;
  return {
    update: async (data) => { if (done) throw new Error('hash stream already finished'); h.update(data); },
    digest: async () => { if (done) throw new Error('hash stream already finished'); done = true; return h.digest('hex'); },
    abort: () => { done = true; },
  };
}

/** Memory a worker can read `b` from: its own when shared, else a copy handed over (transferred). */
function shareable(b: Buffer): { buf: SharedArrayBuffer | ArrayBuffer; offset: number; transfer: ArrayBuffer[] } {
  if (b.buffer instanceof SharedArrayBuffer) return { buf: b.buffer, offset: b.byteOffset, transfer: [] };
  const copy = new ArrayBuffer(b.length);
  new Uint8Array(copy).set(b);
  return { buf: copy, offset: 0, transfer: [copy] };
}

/**
 * Spare block buffers by size, so that uploads reuse memory rather than allocate (and fault in,
 * and have the GC free) megabytes per block. Up to SPARE_LIMIT bytes are kept while uploads come;
 * after SPARE_IDLE ms without any block buffer asked for, the spares are let go.
 */
const spare = new Map<number, Buffer[]>();
let spareBytes = 0;
const SPARE_LIMIT = 256 * 1024 * 1024;
const SPARE_IDLE = 10_000;
let lastAsked = 0;
let trimmer: NodeJS.Timeout | undefined;

/** A buffer of `size` bytes on shared memory, for a block being filled; give it back with `releaseBlockBuffer`. */
export function blockBuffer(size: number): Buffer {
  lastAsked = Date.now();
  const b = spare.get(size)?.pop();
  if (b) { spareBytes -= size; return b; }
  return Buffer.from(new SharedArrayBuffer(size));
}

/** Returns a buffer from `blockBuffer` once nothing (no thread, no write) uses it any more. */
export function releaseBlockBuffer(b: Buffer): void {
  if (spareBytes + b.length > SPARE_LIMIT) return;
  let list = spare.get(b.length);
  if (!list) spare.set(b.length, (list = []));
  list.push(b);
  spareBytes += b.length;
  trimmer ??= setTimeout(trimSpares, SPARE_IDLE).unref();
}

function trimSpares(): void {
  trimmer = undefined;
  const idle = Date.now() - lastAsked;
  if (idle >= SPARE_IDLE) { spare.clear(); spareBytes = 0; return; }
  trimmer = setTimeout(trimSpares, SPARE_IDLE - idle).unref();
}
