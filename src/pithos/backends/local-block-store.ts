import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { dropFromPageCache } from '../fastio.js';
import { WorkerThread } from '../worker-thread.js';
import type { WriteReply, WriteRequest } from './block-writer.js';
import { BlockNotFound, type BlockStore } from './block-store.js';

const HASH = /^[0-9a-f]{16,128}$/;

/** A writing thread's error, as the file system error it was (its code kept), or its death. */
function writeFailure(reason: string, code?: string): Error {
  return Object.assign(new Error(`block write failed: ${reason}`), code ? { code } : {});
}

/** Blocks at least this large leave the page cache once durable (smaller ones are cheap to keep, and often read back). */
const DROP_FROM_CACHE = 1024 * 1024;
/** Blocks on shared memory at least this large are written by the store's writing threads. */
const ON_THREAD = 256 * 1024;

/**
 * Blocks as files under a directory, fanned out by hash prefix (`ab/cd/abcd...`). A block is
 * written to a temporary file, flushed, renamed into place and its directory flushed, so a crash
 * never leaves a partial block under a real name.
 */
export class LocalBlockStore implements BlockStore {
  private readonly tmp: string;
  private readonly writers: WorkerThread<WriteRequest, WriteReply>[] = [];
  private nextId = 1;
  private closed = false;

  /** `writeThreads`: how many threads write large blocks (they start when needed); 0 writes all on libuv's pool. */
  constructor(private readonly root: string, private readonly writeThreads = 8) {
    this.tmp = join(root, 'tmp');
    mkdirSync(this.tmp, { recursive: true });
  }

  private dirOf(hash: string): string {
    return join(this.root, hash.slice(0, 2), hash.slice(2, 4));
  }

  private pathOf(hash: string): string {
    if (!HASH.test(hash)) throw new BlockNotFound(hash);
    return join(this.dirOf(hash), hash);
  }

  async missing(hashes: string[]): Promise<string[]> {
    const present = await Promise.all(hashes.map((h) => access(this.pathOf(h)).then(() => true, () => false)));
    return hashes.filter((_, i) => !present[i]);
  }

  /** Writes under way, by hash: a second writer of a block waits for the first (and is durable when it is). */
  private readonly writing = new Map<string, Promise<void>>();
  /** Fan-out directories known to exist (at most 65,536 + 256 of them). */
  private readonly dirs = new Set<string>();

  put(hash: string, data: Buffer): Promise<void> {
    let path: string;
    try { path = this.pathOf(hash); } catch (err) { return Promise.reject(err); }
    const inFlight = this.writing.get(hash);
    if (inFlight) return inFlight;
    const onThread = this.writeThreads > 0 && data.length >= ON_THREAD && data.buffer instanceof SharedArrayBuffer && !this.closed;
    const p = (onThread ? this.writeOnThread(hash, path, data) : this.write(hash, path, data)).finally(() => this.writing.delete(hash));
    this.writing.set(hash, p);
    return p;
  }

  /** A block on shared memory, written whole by one of the writing threads (see block-writer.ts). */
  private async writeOnThread(hash: string, path: string, data: Buffer): Promise<void> {
    let thread = this.writers.find((t) => t.pending === 0);
    if (!thread && this.writers.length < this.writeThreads) {
      thread = new WorkerThread<WriteRequest, WriteReply>(new URL('./block-writer.js', import.meta.url), 'pithos-block-writer', writeFailure, (dead) => {
        const i = this.writers.indexOf(dead);
        if (i >= 0) this.writers.splice(i, 1);
      });
      this.writers.push(thread);
    }
    thread ??= this.writers.reduce((a, b) => (b.pending < a.pending ? b : a));
    const id = this.nextId++;
    await thread.send({
      id, buf: data.buffer as SharedArrayBuffer, offset: data.byteOffset, length: data.length,
      tmp: this.tmpName(hash), dir: this.dirOf(hash), path, drop: data.length >= DROP_FROM_CACHE,
    }, data.length);
  }

  private tmpName(hash: string): string {
    return join(this.tmp, `${hash}.${randomBytes(6).toString('hex')}`);
  }

  private async write(hash: string, path: string, data: Buffer): Promise<void> {
    // Asked without an error for the usual answer (not there): a thrown error's stack costs more than the look-up.
    if (statSync(path, { throwIfNoEntry: false })) return;
    const dir = this.dirOf(hash);
    const tmp = this.tmpName(hash);
    try {
      const fh = await open(tmp, 'w', 0o640);
      try {
        // One write call (a partial write continues), not writeFile's 512 KiB pieces.
        for (let done = 0; done < data.length;) done += (await fh.write(data, done, data.length - done, done)).bytesWritten;
        await fh.sync();
        // Durable, so clean: let the kernel reuse those pages now rather than grow the cache with
        // blocks seldom read back soon (as Swift's object server does). A failure costs only memory.
        if (data.length >= DROP_FROM_CACHE) dropFromPageCache(fh.fd);
      } finally {
        await fh.close();
      }
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    if (!this.dirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.dirs.add(dir);
    }
    try {
      await rename(tmp, path);
    } catch (err) {
      // The directory went away under us (removed by hand): make it again, once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') { await unlink(tmp).catch(() => undefined); throw err; }
      this.dirs.delete(dir);
      await mkdir(dir, { recursive: true });
      await rename(tmp, path);
    }
    const dh = await open(dir, 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  }

  /** Stops the writing threads now, failing the writes they hold, as a crash would; new ones start when needed. */
  async stopThreads(): Promise<void> {
    await Promise.all([...this.writers].map((t) => t.terminate()));
  }

  /** Stops the writing threads; later writes are done on Node's pool. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stopThreads();
  }

  async get(hash: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(hash));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlockNotFound(hash);
      throw err;
    }
  }

  async delete(hash: string): Promise<void> {
    try { await unlink(this.pathOf(hash)); } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  async *list(): AsyncIterable<{ hash: string; modified: number }> {
    for (const a of await readdir(this.root)) {
      if (a === 'tmp' || a.length !== 2) continue;
      for (const b of await readdir(join(this.root, a))) {
        for (const h of await readdir(join(this.root, a, b))) {
          if (HASH.test(h)) yield { hash: h, modified: (await stat(join(this.root, a, b, h))).mtimeMs };
        }
      }
    }
  }
}
