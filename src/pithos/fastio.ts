import { createRequire } from 'node:module';

/**
 * What Pithos needs to stream large uploads at disk speed and Node does not offer, from the
 * native addon in native/fastio (built by scripts/deps.sh; see fastio.c). Where it could not be
 * built, each call falls back or does nothing: Pithos works the same, with more CPU per upload.
 */
interface Addon {
  copyBytes(target: Uint8Array, offset: number, source: Uint8Array): number;
  dropCache(fd: number, offset: number, length: number): number;
  retainFreedHeap(trim: number, largest: number): boolean;
  md5Lanes(): number;
  md5Init(state: Uint8Array): void;
  md5Update(states: Uint8Array[], data: Uint8Array[]): void;
  md5Final(state: Uint8Array, digest: Uint8Array): void;
}

const addon = ((): Addon | undefined => {
  try {
    return (createRequire(import.meta.url)('../../native/fastio/index.cjs') as Addon | null) ?? undefined;
  } catch {
    return undefined;
  }
})();

/** Whether the addon is built, so that the hints below take effect. */
export const fastioAvailable = addon !== undefined;

/**
 * Copies all of `source` into `target` at `offset` (it must fit). Into shared memory V8 copies
 * with relaxed atomic moves; memcpy is faster, and block buffers are shared with the hashing threads.
 */
export function copyInto(target: Buffer, offset: number, source: Buffer): void {
  if (addon !== undefined) addon.copyBytes(target, offset, source);
  else source.copy(target, offset);
}

/**
 * Lets the kernel drop a file's cached pages (they must be clean, that is written back, to go).
 * True when it did. A failure costs only memory, so it is not an error.
 */
export function dropFromPageCache(fd: number): boolean {
  return addon !== undefined && addon.dropCache(fd, 0, 0) === 0;
}

/** Freed heap glibc keeps rather than hands back at once: the buffers one collection frees, many uploads at once. */
const RETAINED_HEAP = 128 * 1024 * 1024;
/** Buffers up to this size (a block of 4 MiB, and what reads return) come from the heap, so they reuse freed memory. */
const LARGEST_FROM_HEAP = 8 * 1024 * 1024 + 4096;

let retained = false;
/**
 * Keeps up to 128 MiB of freed heap mapped, and takes buffers up to 8 MiB from the heap. Request
 * bodies arrive as 64 KiB buffers that the garbage collector frees in bursts, and blocks are
 * 4 MiB buffers; left to itself glibc hands that memory back at once and maps large buffers
 * afresh, so every upload faults in fresh pages, which costs more than copying the bytes.
 * Once per process; true when set.
 */
export function retainFreedHeap(): boolean {
  if (!retained && addon !== undefined) retained = addon.retainFreedHeap(RETAINED_HEAP, LARGEST_FROM_HEAP);
  return retained;
}

/** MD5 streams whose state is bytes of their own, hashed several at once (see MultiMd5). */
export interface MultiMd5 {
  /** How many streams one call advances at the price of one. */
  lanes: number;
  /** A new stream's state. */
  start(): Uint8Array;
  /** Adds data[i] to stream states[i]; distinct streams, at most MULTI_MD5_MAX_STREAMS a call. */
  update(states: Uint8Array[], data: Uint8Array[]): void;
  /** The hex digest; the state is spent. */
  digest(state: Uint8Array): string;
}

const MD5_STATE_SIZE = 88;
/** The most streams one `MultiMd5.update` takes. */
export const MULTI_MD5_MAX_STREAMS = 64;

/**
 * MD5 of several streams in one pass, one stream per 32-bit lane of the CPU's vector registers
 * (AVX2: eight). An object's MD5 is serial, block after block, and costs a core three times what
 * its SHA-256 does; uploads running together are independent streams, so hashed side by side
 * their MD5s cost a fraction of that. Undefined without the addon or without such a CPU.
 */
export const multiMd5: MultiMd5 | undefined = ((): MultiMd5 | undefined => {
  const md5 = md5Streams();
  return md5 && md5.lanes >= 2 ? md5 : undefined;
})();

/** The addon's MD5 streams whatever the CPU (one at a time without vector lanes); for tests. */
export function md5Streams(): MultiMd5 | undefined {
  if (addon === undefined || typeof addon.md5Lanes !== 'function') return undefined;
  const a = addon;
  return {
    lanes: a.md5Lanes(),
    start() { const s = new Uint8Array(MD5_STATE_SIZE); a.md5Init(s); return s; },
    update(states, data) { a.md5Update(states, data); },
    digest(state) { const d = Buffer.alloc(16); a.md5Final(state, d); return d.toString('hex'); },
  };
}
