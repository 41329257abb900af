import { Worker } from 'node:worker_threads';

/** What every request to a helper thread carries, and every reply answers to. */
export interface Request { id: number }
export interface Reply { id: number; error?: string; code?: string }

interface Job<R> { resolve: (r: R) => void; reject: (err: Error) => void; bytes: number }

/**
 * One helper thread (a Worker running `script`) and the work given to it, each request answered
 * once by its id. The thread holds the process open only while it has work. If it dies (crash,
 * stop, unreadable reply), all its work fails with `failure(reason)`, `onDeath` is told, and it
 * takes no more: its owner starts another.
 */
export class WorkerThread<Q extends Request, R extends Reply> {
  readonly worker: Worker;
  private readonly jobs = new Map<number, Job<R>>();
  /** Bytes given and not yet answered for. */
  load = 0;
  alive = true;

  constructor(script: URL, name: string, private readonly failure: (reason: string, code?: string) => Error, onDeath: (t: WorkerThread<Q, R>) => void) {
    this.worker = new Worker(script, { name });
    this.worker.unref();
    this.worker.on('message', (r: R) => {
      const job = this.jobs.get(r.id);
      if (!job) return;
      this.jobs.delete(r.id);
      this.load -= job.bytes;
      if (this.jobs.size === 0) this.worker.unref();
      if (r.error !== undefined) job.reject(this.failure(r.error, r.code));
      else job.resolve(r);
    });
    const die = (why: string) => {
      if (!this.alive) return;
      this.alive = false;
      // Gone for good, even when only a reply was unreadable: its work is failed below.
      void this.worker.terminate();
      const err = this.failure(`thread stopped: ${why}`);
      for (const job of this.jobs.values()) job.reject(err);
      this.jobs.clear();
      this.load = 0;
      onDeath(this);
    };
    this.worker.on('error', (err) => die(err.message));
    this.worker.on('messageerror', (err) => die(err.message));
    this.worker.on('exit', (code) => die(`exit code ${code}`));
  }

  /** Requests not answered yet. */
  get pending(): number { return this.jobs.size; }

  send(message: Q, bytes: number, transfer: ArrayBuffer[] = []): Promise<R> {
    if (!this.alive) return Promise.reject(this.failure('thread stopped'));
    return new Promise((resolve, reject) => {
      if (this.jobs.size === 0) this.worker.ref();
      this.jobs.set(message.id, { resolve, reject, bytes });
      this.load += bytes;
      try {
        this.worker.postMessage(message, transfer);
      } catch (err) {
        this.jobs.delete(message.id);
        this.load -= bytes;
        if (this.jobs.size === 0) this.worker.unref();
        reject(err as Error);
      }
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}
