/**
 * A block-writing thread of the local block store (see local-block-store.ts). Each request is one
 * whole block write, done with blocking calls so that waiting on the disk holds this thread, not
 * libuv's small shared pool, and the request thread gets one answer instead of a callback per step:
 * unless the block is there already (then it is only marked used), its bytes (read in place from shared memory) go to a temporary
 * file, which is flushed, dropped from the page cache when large, renamed to the block's name, and
 * its directory flushed. A failure removes the temporary file and answers with the error.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { dropFromPageCache } from '../fastio.js';

export interface WriteRequest {
  id: number;
  buf: SharedArrayBuffer;
  offset: number;
  length: number;
  /** The temporary file, the block's directory and its final name. */
  tmp: string;
  dir: string;
  path: string;
  /** Drop the block's pages from the cache once durable. */
  drop: boolean;
}

export interface WriteReply { id: number; error?: string; code?: string }

/** Fan-out directories this thread knows exist. */
const dirs = new Set<string>();

/** Sets a stored block's time to now (an upload uses it; the collector spares it); false when there is none. */
function markUsed(path: string): boolean {
  const now = new Date();
  try {
    utimesSync(path, now, now);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function writeBlock(m: WriteRequest): void {
  if (statSync(m.path, { throwIfNoEntry: false }) && markUsed(m.path)) return;
  const data = new Uint8Array(m.buf, m.offset, m.length);
  try {
    const fd = openSync(m.tmp, 'w', 0o640);
    try {
      for (let done = 0; done < data.length;) done += writeSync(fd, data, done, data.length - done, done);
      fsyncSync(fd);
      if (m.drop) dropFromPageCache(fd);
    } finally {
      closeSync(fd);
    }
    if (!dirs.has(m.dir)) {
      mkdirSync(m.dir, { recursive: true });
      dirs.add(m.dir);
    }
    try {
      renameSync(m.tmp, m.path);
    } catch (err) {
      // The directory went away under us (removed by hand): make it again, once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      dirs.delete(m.dir);
      mkdirSync(m.dir, { recursive: true });
      renameSync(m.tmp, m.path);
    }
  } catch (err) {
    try { unlinkSync(m.tmp); } catch { /* never made, or renamed already */ }
    throw err;
  }
  const dfd = openSync(m.dir, 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (m: WriteRequest) => {
    let reply: WriteReply = { id: m.id };
    try { writeBlock(m); } catch (err) { reply = { id: m.id, error: (err as Error).message, code: (err as NodeJS.ErrnoException).code }; }
    port.postMessage(reply);
  });
}
