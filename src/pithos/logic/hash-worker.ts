/**
 * A hashing thread of the HashPool (see hash-pool.ts). Bytes arrive as views on shared (or
 * transferred) memory, never copied; each message is answered once:
 * - `block`: the block's hash after trailing NULs are trimmed, and the trimmed length;
 * - `update`: adds bytes to the running hash `stream` (created on first use);
 * - `digest`: the stream's hex digest (the stream is gone after it);
 * - `drop`: forgets a stream (an upload that failed).
 * MD5 streams are hashed side by side where the CPU can (see multiMd5): their updates queue, and
 * a pass hashes the next update of every waiting stream at once, so that uploads running together
 * share the vector lanes. The other work is done as it arrives.
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { MULTI_MD5_MAX_STREAMS, multiMd5 } from '../fastio.js';
import { trimmedLength } from './hashmap.js';

export type HashRequest =
  | { id: number; op: 'block'; buf: SharedArrayBuffer | ArrayBuffer; offset: number; length: number; algorithm: string }
  | { id: number; op: 'update'; stream: number; buf: SharedArrayBuffer | ArrayBuffer; offset: number; length: number; algorithm: string }
  | { id: number; op: 'digest'; stream: number; algorithm: string }
  | { id: number; op: 'drop'; stream: number };

export interface HashReply { id: number; hash?: string; length?: number; error?: string; code?: string }

const streams = new Map<number, Hash>();

/** An MD5 stream hashed side by side with others: its state, the updates waiting (each with when it came), a digest asked for. */
interface LaneStream { state: Uint8Array; waiting: { id: number; bytes: Uint8Array; came: number }[]; digest?: number }
const laneStreams = new Map<number, LaneStream>();
/**
 * How long an update may wait for other streams' updates, to be hashed in the same pass. Uploads running
 * together hand over a block each at about the same pace, rarely at the same moment: hashed as
 * they come, most passes would fill a lane or two. The wait costs an upload nothing while it has
 * only one update waiting (it keeps a few blocks in flight); one with more is never kept waiting.
 */
const GATHER_MS = 50;
let passScheduled = false;
let gathering: NodeJS.Timeout | undefined;

/** How long to wait before the next pass, for lanes that the streams open here are likely to fill: 0 to go now. */
function worthWaiting(lanes: NonNullable<typeof multiMd5>): number {
  let ready = 0;
  let oldest = Infinity;
  for (const s of laneStreams.values()) {
    if (s.waiting.length === 0) continue;
    // A stream with a backlog, or finishing, waits for nobody.
    if (s.waiting.length > 1 || s.digest !== undefined) return 0;
    ready++;
    oldest = Math.min(oldest, s.waiting[0]!.came);
  }
  if (ready === 0 || ready >= Math.min(laneStreams.size, lanes.lanes)) return 0;
  return Math.max(0, oldest + GATHER_MS - performance.now());
}

/** Hashes the first waiting update of every stream that has one, in one pass; answers them (and the digests they complete). */
function lanePass(lanes: NonNullable<typeof multiMd5>): void {
  passScheduled = false;
  if (gathering) { clearTimeout(gathering); gathering = undefined; }
  const wait = worthWaiting(lanes);
  if (wait > 0) {
    gathering = setTimeout(() => { gathering = undefined; lanePass(lanes); }, Math.ceil(wait));
    return;
  }
  const states: Uint8Array[] = [];
  const data: Uint8Array[] = [];
  const served: [number, LaneStream][] = [];
  for (const entry of laneStreams) {
    const job = entry[1].waiting[0];
    if (!job) continue;
    states.push(entry[1].state);
    data.push(job.bytes);
    served.push(entry);
    if (states.length === MULTI_MD5_MAX_STREAMS) break;
  }
  if (states.length > 0) lanes.update(states, data);
  for (const [stream, s] of served) {
    reply({ id: s.waiting.shift()!.id });
    // Served streams go last, so that beyond the most one pass takes every stream gets its turn.
    laneStreams.delete(stream);
    if (s.waiting.length > 0 || s.digest === undefined) laneStreams.set(stream, s);
    else reply({ id: s.digest, hash: lanes.digest(s.state) });
  }
  for (const s of laneStreams.values()) if (s.waiting.length > 0) { schedulePass(lanes); break; }
}

/** A pass at the next turn of the event loop (one waiting for more streams is reconsidered then). */
function schedulePass(lanes: NonNullable<typeof multiMd5>): void {
  if (passScheduled) return;
  passScheduled = true;
  setImmediate(() => lanePass(lanes));
}

/** The message, when it is work for a side-by-side MD5 stream: queued, answered later. */
function queuedForLanes(m: HashRequest): boolean {
  if (!multiMd5 || m.op === 'block') return false;
  if (m.op === 'update') {
    if (m.algorithm !== 'md5') return false;
    let s = laneStreams.get(m.stream);
    if (!s) laneStreams.set(m.stream, (s = { state: multiMd5.start(), waiting: [] }));
    s.waiting.push({ id: m.id, bytes: new Uint8Array(m.buf, m.offset, m.length), came: performance.now() });
    schedulePass(multiMd5);
    return true;
  }
  const s = laneStreams.get(m.stream);
  if (!s) return false;
  if (m.op === 'drop') {
    laneStreams.delete(m.stream);
    for (const job of s.waiting) reply({ id: job.id });
    return false;
  }
  if (s.waiting.length > 0) { s.digest = m.id; schedulePass(multiMd5); return true; }
  laneStreams.delete(m.stream);
  reply({ id: m.id, hash: multiMd5.digest(s.state) });
  return true;
}

let reply: (r: HashReply) => void = () => undefined;

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
  reply = (r) => port.postMessage(r);
  port.on('message', (m: HashRequest) => {
    let r: HashReply;
    try {
      if (queuedForLanes(m)) return;
      r = handle(m);
    } catch (err) {
      r = { id: m.id, error: (err as Error).message };
    }
    reply(r);
  });
}
