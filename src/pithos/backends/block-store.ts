/**
 * Where block bytes live, keyed by their hash. Blocks are content-addressed and immutable:
 * storing one that exists is a no-op, and a block is durable when `put` resolves.
 *
 * Uploads reuse blocks that exist (a `put` of one, or `missing` finding it), and the garbage
 * collector must not delete a block an upload is about to commit: each reuse counts as a use,
 * and `deleteUnused` deletes only blocks not stored or used since the collector's cut-off.
 */
export interface BlockStore {
  /** The hashes among `hashes` the store does not have; those it has count as used now. */
  missing(hashes: string[]): Promise<string[]>;
  /** Stores a block (already trimmed of trailing NULs) under its hash. */
  put(hash: string, data: Buffer): Promise<void>;
  /** A block's stored bytes; throws BlockNotFound when absent. */
  get(hash: string): Promise<Buffer>;
  delete(hash: string): Promise<void>;
  /** Deletes a block unless it was stored or used at or after `since` (ms since the epoch); true when it did. */
  deleteUnused(hash: string, since: number): Promise<boolean>;
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
