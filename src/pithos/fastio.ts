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
