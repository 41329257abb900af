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

  async put(hash: string, data: Buffer): Promise<void> {
    const path = this.pathOf(hash);
    try {
      await access(path);
      return;
    } catch { /* not there yet */ }
    const dir = this.dirOf(hash);
    await mkdir(dir, { recursive: true });
    const tmp = join(this.tmp, `${hash}.${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'w', 0o640);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
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
