import { createHash } from 'node:crypto';

/** How a container splits and names its objects' bytes: block size and hash algorithm. */
export interface BlockPolicy { blockSize: number; algorithm: string }

/** Bytes of a block with trailing NUL bytes removed: blocks are stored and hashed this way. */
export function trimBlock(block: Buffer): Buffer {
  const end = trimmedLength(block);
  return end === block.length ? block : block.subarray(0, end);
}

/** Where the trailing NUL bytes of `b` start (`b.length` when it does not end in NUL). */
export function trimmedLength(b: Uint8Array): number {
  let end = b.length;
  if (end === 0 || b[end - 1] !== 0) return end;
  // A long run of NULs (sparse data) is scanned a 32-bit word at a time over the aligned middle.
  const first = (b.byteOffset + 3) & ~3;
  const last = (b.byteOffset + end) & ~3;
  if (last - first >= 64) {
    while (b.byteOffset + end > last) { if (b[end - 1] !== 0) return end; end--; }
    const words = new Uint32Array(b.buffer, first, (last - first) / 4);
    let w = words.length;
    while (w > 0 && words[w - 1] === 0) w--;
    end = first - b.byteOffset + w * 4;
  }
  while (end > 0 && b[end - 1] === 0) end--;
  return end;
}

/** A block's hash, hex: the hash of its bytes after trailing NULs are trimmed, as Pithos names blocks. */
export function blockHash(block: Buffer, algorithm: string): string {
  return createHash(algorithm).update(trimBlock(block)).digest('hex');
}

/**
 * The object hash (`X-Object-Hash`): the Merkle root of its block hashes. No blocks: the hash of
 * nothing; one block: that block's hash; else the list is padded with zero hashes to a power of
 * two and pairs are hashed level by level.
 */
export function merkleRoot(hashes: string[], algorithm: string): string {
  if (hashes.length === 0) return createHash(algorithm).digest('hex');
  if (hashes.length === 1) return hashes[0]!;
  let level: Buffer[] = hashes.map((h) => Buffer.from(h, 'hex'));
  let size = 2;
  while (size < level.length) size *= 2;
  const zero = Buffer.alloc(level[0]!.length);
  while (level.length < size) level.push(zero);
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(createHash(algorithm).update(level[i]!).update(level[i + 1]!).digest());
    level = next;
  }
  return level[0]!.toString('hex');
}

/** Whether a string looks like a hex digest of the given algorithm. */
export function isBlockHash(hash: unknown, algorithm: string): hash is string {
  const hexLength = createHash(algorithm).digest().length * 2;
  return typeof hash === 'string' && hash.length === hexLength && /^[0-9a-f]+$/.test(hash);
}
