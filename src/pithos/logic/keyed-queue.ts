/**
 * Runs tasks one at a time per key, in the order they came, while tasks of other keys run freely
 * (the updates of one object in this process, so that parallel appends do not read the same base).
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const mine = before.then(task);
    const tail = mine.catch(() => undefined);
    this.tails.set(key, tail);
    // The last task of a key leaves no entry behind.
    void tail.then(() => { if (this.tails.get(key) === tail) this.tails.delete(key); });
    return mine;
  }
}
