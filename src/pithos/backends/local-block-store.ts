import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync } from 'node:fs';
import { open, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkerThread } from '../worker-thread.js';
import type { WriteReply, WriteRequest } from './block-writer.js';
import { BlockNotFound, type BlockStore } from './block-store.js';

const HASH = /^[0-9a-f]{16,128}$/;

/** A writing thread's error, as the file system error it was (its code kept), or its death. */
function writeFailure(reason: string, code?: string): Error {
  return Object.assign(new Error(`block write failed: ${reason}`), code ? { code } : {});
}

/** Marks a block moved aside by the collector, in `tmp/<hash>.gc.<random>`. */
const COLLECTING = '.gc.';

/** Blocks at least this large leave the page cache once durable (smaller ones are cheap to keep, and often read back). */
const DROP_FROM_CACHE = 1024 * 1024;

/**
 * Blocks as files under a directory, fanned out by hash prefix (`ab/cd/abcd...`). A block is
 * written (by a writing thread, see block-writer.ts) to a temporary file, flushed, renamed into
 * place and its directory flushed, so a crash never leaves a partial block under a real name.
 */
export class LocalBlockStore implements BlockStore {
  private readonly tmp: string;
  private readonly writers: WorkerThread<WriteRequest, WriteReply>[] = [];
  private nextId = 1;

  /**
   * `writeThreads`: how many threads write blocks (at least one; they start when needed). Each
   * write waits on the disk's flush, holding its thread rather than one of libuv's four.
   */
  constructor(private readonly root: string, private readonly writeThreads = 8) {
    if (!(writeThreads >= 1)) throw new RangeError('a local block store needs at least one writing thread');
    this.tmp = join(root, 'tmp');
    mkdirSync(this.tmp, { recursive: true });
    this.restoreCollected();
  }

  /** Blocks a collector moved aside and did not finish with (it stopped) go back under their names. */
  private restoreCollected(): void {
    for (const name of readdirSync(this.tmp)) {
      const at = name.indexOf(COLLECTING);
      if (at < 0) continue;
      const hash = name.slice(0, at);
      if (!HASH.test(hash)) continue;
      const aside = join(this.tmp, name);
      try {
        mkdirSync(this.dirOf(hash), { recursive: true });
        renameSync(aside, this.pathOf(hash));
      } catch { /* another process put it back, or will */ }
    }
  }

  private dirOf(hash: string): string {
    return join(this.root, hash.slice(0, 2), hash.slice(2, 4));
  }

  private pathOf(hash: string): string {
    if (!HASH.test(hash)) throw new BlockNotFound(hash);
    return join(this.dirOf(hash), hash);
  }

  /** The hashes not stored; the stored ones are marked used (their time set to now), so that the collector spares them. */
  async missing(hashes: string[]): Promise<string[]> {
    const present = await Promise.all(hashes.map((h) => this.markUsed(this.pathOf(h))));
    return hashes.filter((_, i) => !present[i]);
  }

  /** Sets a block's time to now; false when there is no such block (or it is being collected). */
  private async markUsed(path: string): Promise<boolean> {
    const now = new Date();
    try {
      await utimes(path, now, now);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Writes under way, by hash: a second writer of a block waits for the first (and is durable when it is). */
  private readonly writing = new Map<string, Promise<void>>();

  put(hash: string, data: Buffer): Promise<void> {
    let path: string;
    try { path = this.pathOf(hash); } catch (err) { return Promise.reject(err); }
    const inFlight = this.writing.get(hash);
    if (inFlight) return inFlight;
    const p = this.writeOnThread(hash, path, data).finally(() => this.writing.delete(hash));
    this.writing.set(hash, p);
    return p;
  }

  /**
   * A block written whole by one of the writing threads (see block-writer.ts), which read it in
   * place from shared memory: uploads' blocks are there already, others (small ones) are copied.
   */
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
    let bytes = data;
    if (!(data.buffer instanceof SharedArrayBuffer)) {
      bytes = Buffer.from(new SharedArrayBuffer(data.length));
      data.copy(bytes);
    }
    const id = this.nextId++;
    await thread.send({
      id, buf: bytes.buffer as SharedArrayBuffer, offset: bytes.byteOffset, length: bytes.length,
      tmp: join(this.tmp, `${hash}.${randomBytes(6).toString('hex')}`), dir: this.dirOf(hash), path, drop: data.length >= DROP_FROM_CACHE,
    }, data.length);
  }

  /** Stops the writing threads now, failing the writes they hold, as a crash would; new ones start when needed. */
  async stopThreads(): Promise<void> {
    await Promise.all([...this.writers].map((t) => t.terminate()));
  }

  /** Stops the writing threads (idle ones do not hold the process open; this ends them). */
  async close(): Promise<void> {
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

  /**
   * The block is first moved aside, under `tmp/<hash>.gc.<random>`: from then on uploads see it
   * missing and store it anew. An upload that marked it used before the move left a time at or
   * after `since` on it: then it goes back. A crash in between leaves it aside; the next start
   * puts it back (see `restoreCollected`).
   */
  async deleteUnused(hash: string, since: number): Promise<boolean> {
    const path = this.pathOf(hash);
    const aside = join(this.tmp, `${hash}${COLLECTING}${randomBytes(6).toString('hex')}`);
    try {
      await rename(path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    if ((await stat(aside)).mtimeMs >= since) {
      await rename(aside, path);
      await this.syncDir(this.dirOf(hash));
      return false;
    }
    await unlink(aside);
    return true;
  }

  private async syncDir(dir: string): Promise<void> {
    const dh = await open(dir, 'r');
    try { await dh.sync(); } finally { await dh.close(); }
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
