/**
 * Where block bytes live, keyed by their hash. Blocks are content-addressed and immutable:
 * storing one that exists is a no-op, and a block is durable when `put` resolves.
 */
export interface BlockStore {
  /** The hashes among `hashes` the store does not have. */
  missing(hashes: string[]): Promise<string[]>;
  /** Stores a block (already trimmed of trailing NULs) under its hash. */
  put(hash: string, data: Buffer): Promise<void>;
  /** A block's stored bytes; throws BlockNotFound when absent. */
  get(hash: string): Promise<Buffer>;
  delete(hash: string): Promise<void>;
  /** Every stored block with when it was written, for garbage collection. */
  list(): AsyncIterable<{ hash: string; modified: number }>;
  /** Lets go of what the store holds (threads, connections); optional. */
  close?(): Promise<void>;
}

export class BlockNotFound extends Error {
  constructor(readonly hash: string) {
    super(`block ${hash} not found`);
    this.name = 'BlockNotFound';
  }
}
