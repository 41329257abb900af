/**
 * A hashing thread of the HashPool (see hash-pool.ts). Bytes arrive as views on shared (or
 * transferred) memory, never copied; each message is answered once, in arrival order:
 * - `block`: the block's hash after trailing NULs are trimmed, and the trimmed length;
 * - `update`: adds bytes to the running hash `stream` (created on first use);
 * - `digest`: the stream's hex digest (the stream is gone after it);
 * - `drop`: forgets a stream (an upload that failed).
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { trimmedLength } from './hashmap.js';

export type HashRequest =
  | { id: number; op: 'block'; buf: SharedArrayBuffer | ArrayBuffer; offset: number; length: number; algorithm: string }
  | { id: number; op: 'update'; stream: number; buf: SharedArrayBuffer | ArrayBuffer; offset: number; length: number; algorithm: string }
  | { id: number; op: 'digest'; stream: number; algorithm: string }
  | { id: number; op: 'drop'; stream: number };

export interface HashReply { id: number; hash?: string; length?: number; error?: string; code?: string }

const streams = new Map<number, Hash>();

function handle(m: HashRequest): HashReply {
  switch (m.op) {
    case 'block': {
      const b = new Uint8Array(m.buf, m.offset, m.length);
      const length = trimmedLength(b);
      return { id: m.id, hash: createHash(m.algorithm).update(b.subarray(0, length)).digest('hex'), length };
    }
    case 'update': {
      let h = streams.get(m.stream);
      if (!h) streams.set(m.stream, (h = createHash(m.algorithm)));
      h.update(new Uint8Array(m.buf, m.offset, m.length));
      return { id: m.id };
    }
    case 'digest': {
      const h = streams.get(m.stream) ?? createHash(m.algorithm);
      streams.delete(m.stream);
      return { id: m.id, hash: h.digest('hex') };
    }
    case 'drop':
      streams.delete(m.stream);
      return { id: m.id };
  }
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (m: HashRequest) => {
    let reply: HashReply;
    try { reply = handle(m); } catch (err) { reply = { id: m.id, error: (err as Error).message }; }
    port.postMessage(reply);
  });
}
