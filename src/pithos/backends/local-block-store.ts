import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockNotFound, type BlockStore } from './block-store.js';

const HASH = /^[0-9a-f]{16,128}$/;

/**
 * Blocks as files under a directory, fanned out by hash prefix (`ab/cd/abcd...`). A block is
 * written to a temporary file, flushed, renamed into place and its directory flushed, so a crash
 * never leaves a partial block under a real name.
 */
export class LocalBlockStore implements BlockStore {
  private readonly tmp: string;

  constructor(private readonly root: string) {
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
    const p = this.write(hash, path, data).finally(() => this.writing.delete(hash));
    this.writing.set(hash, p);
    return p;
  }

  private async write(hash: string, path: string, data: Buffer): Promise<void> {
    try {
      await access(path);
      return;
    } catch { /* not there yet */ }
    const dir = this.dirOf(hash);
    const tmp = join(this.tmp, `${hash}.${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'w', 0o640);
    try {
      // One write call (a partial write continues), not writeFile's 512 KiB pieces.
      for (let done = 0; done < data.length;) done += (await fh.write(data, done, data.length - done, done)).bytesWritten;
      await fh.sync();
    } finally {
      await fh.close();
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
