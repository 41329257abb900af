import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Dialect } from '../../common/db.js';
import type { CycladesDB, PoolChunksTable, PoolsTable } from './schema.js';

export type PoolRow = Selectable<PoolsTable>;
type ChunkRow = Selectable<PoolChunksTable>;

/** Values kept in one pool_chunks row. */
const CHUNK = 1024;
const BYTES = CHUNK / 8;

/** What `states` says of a value: bit 0 allocated, bit 1 reserved. */
export const ALLOCATED = 1;
export const RESERVED = 2;

/** Which pools to lock: by id, by the networks their subnets belong to, or the one pool of a kind. */
export type PoolFilter = { ids: number[] } | { networkIds: number[] } | { subnetId: number } | { kind: string };

/**
 * SQL of the resource pools: the pool rows, the lock on them, and the maps of allocated and
 * reserved values kept in chunks of 1024 bits. Every method that changes a pool's maps expects
 * the caller to hold that pool's lock (`lockPools`) in the same transaction.
 */
export class PoolStore {
  constructor(readonly db: Kysely<CycladesDB>, readonly dialect: Dialect) {}

  /** Runs `f` in a transaction, or in the caller's when this store is already bound to one. */
  transaction<T>(f: (tx: PoolStore) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return f(this);
    return this.db.transaction().execute((trx) => f(new PoolStore(trx, this.dialect)));
  }

  /**
   * Locks pools until the transaction ends and returns them by id, the order they are locked in,
   * so that two transactions locking several pools cannot deadlock. PostgreSQL locks the rows;
   * SQLite takes its single write lock with the first write, before anything is read.
   */
  async lockPools(filter: PoolFilter): Promise<PoolRow[]> {
    if (this.dialect === 'postgres') return this.matching(filter).forUpdate().execute();
    await this.where(this.db.updateTable('pools').set((eb) => ({ size: eb.ref('size') })), filter).execute();
    return this.matching(filter).execute();
  }

  pool(id: number): Promise<PoolRow | undefined> { return this.db.selectFrom('pools').selectAll().where('id', '=', id).executeTakeFirst(); }
  pools(filter?: PoolFilter): Promise<PoolRow[]> {
    return filter ? this.matching(filter).execute() : this.db.selectFrom('pools').selectAll().orderBy('id').execute();
  }

  /** Adds a pool with all its values free but `reserved` (indices). */
  async addPool(row: Insertable<PoolsTable>, reserved: number[]): Promise<number> {
    return this.transaction(async (tx) => {
      const r = await tx.db.insertInto('pools').values(row).returning('id').executeTakeFirstOrThrow();
      const id = Number(r.id);
      await tx.grow(id, 0, row.size, reserved);
      return id;
    });
  }
  async updatePool(id: number, changes: { base?: string; offset?: number; size?: number }): Promise<void> {
    await this.db.updateTable('pools').set(changes).where('id', '=', id).execute();
  }
  /** Removes pools and their maps. */
  async removePools(filter: PoolFilter): Promise<void> {
    await this.where(this.db.deleteFrom('pools'), filter).execute();
  }

  /** Free and reserved counts per pool. */
  async counts(ids: number[]): Promise<Map<number, { free: number; reserved: number }>> {
    const out = new Map(ids.map((id) => [id, { free: 0, reserved: 0 }]));
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db.selectFrom('pool_chunks')
        .select((eb) => ['pool_id', eb.fn.sum<number>('free').as('free'), eb.fn.sum<number>('reserved_count').as('reserved')])
        .where('pool_id', 'in', ids.slice(i, i + 500)).groupBy('pool_id').execute();
      for (const r of rows) out.set(Number(r.pool_id), { free: Number(r.free), reserved: Number(r.reserved) });
    }
    return out;
  }

  /** One byte per value of the pool: ALLOCATED and RESERVED bits. */
  async states(pool: PoolRow): Promise<Uint8Array> {
    const out = new Uint8Array(pool.size);
    for (const c of await this.db.selectFrom('pool_chunks').selectAll().where('pool_id', '=', pool.id).execute()) {
      const from = c.chunk * CHUNK;
      for (let i = 0; i < lengthOf(pool.size, c.chunk); i++) out[from + i] = bit(c.allocated, i) * ALLOCATED + bit(c.reserved, i) * RESERVED;
    }
    return out;
  }

  /** Allocates the lowest value that is neither allocated nor reserved; undefined when none is. */
  async takeLowest(pool: PoolRow): Promise<number | undefined> {
    const c = await this.db.selectFrom('pool_chunks').selectAll().where('pool_id', '=', pool.id).where('free', '>', 0)
      .orderBy('chunk').limit(1).executeTakeFirst();
    if (!c) return undefined;
    const len = lengthOf(pool.size, c.chunk);
    for (let b = 0; b * 8 < len; b++) {
      const used = c.allocated[b] | c.reserved[b];
      if (used === 0xff) continue;
      for (let i = b * 8; i < Math.min(len, b * 8 + 8); i++) {
        if (((used >> (i & 7)) & 1) === 0) {
          await this.write(pool.size, c, i, 'allocated', true);
          return c.chunk * CHUNK + i;
        }
      }
    }
    throw new Error(`pool ${pool.id}: chunk ${c.chunk} counts ${c.free} free values but has none`);
  }

  /** Allocates the value at `index` if it is free; false when it is allocated or reserved. */
  async take(pool: PoolRow, index: number): Promise<boolean> {
    const c = await this.chunk(pool.id, Math.floor(index / CHUNK));
    const i = index % CHUNK;
    if (bit(c.allocated, i) || bit(c.reserved, i)) return false;
    await this.write(pool.size, c, i, 'allocated', true);
    return true;
  }

  /** Sets or clears one map's bit for each of `indices`. */
  async mark(pool: PoolRow, indices: number[], map: 'allocated' | 'reserved', on: boolean): Promise<void> {
    const byChunk = new Map<number, number[]>();
    for (const index of indices) {
      const n = Math.floor(index / CHUNK);
      if (!byChunk.has(n)) byChunk.set(n, []);
      byChunk.get(n)!.push(index % CHUNK);
    }
    for (const [n, offsets] of byChunk) {
      const c = await this.chunk(pool.id, n);
      for (const i of offsets) setBit(c[map], i, on);
      await this.save(pool.size, c);
    }
  }

  /** Makes exactly `indices` the allocated values of the pool (a reconciliation's fix). */
  async setAllocated(pool: PoolRow, indices: Iterable<number>): Promise<void> {
    const maps = new Map<number, Buffer>();
    for (const index of indices) {
      const n = Math.floor(index / CHUNK);
      if (!maps.has(n)) maps.set(n, Buffer.alloc(BYTES));
      setBit(maps.get(n)!, index % CHUNK, true);
    }
    for (const c of await this.db.selectFrom('pool_chunks').selectAll().where('pool_id', '=', pool.id).execute()) {
      await this.save(pool.size, { ...c, allocated: maps.get(c.chunk) ?? Buffer.alloc(BYTES) });
    }
  }

  /** Extends the maps from `from` to `to` values, the new ones free but `reserved`. */
  async grow(poolId: number, from: number, to: number, reserved: number[]): Promise<void> {
    const chunks = new Map<number, ChunkRow>();
    if (from % CHUNK !== 0) chunks.set(Math.floor(from / CHUNK), await this.chunk(poolId, Math.floor(from / CHUNK)));
    const existing = new Set(chunks.keys());
    for (let n = Math.ceil(from / CHUNK); n * CHUNK < to; n++) {
      chunks.set(n, { pool_id: poolId, chunk: n, allocated: Buffer.alloc(BYTES), reserved: Buffer.alloc(BYTES), free: 0, reserved_count: 0 });
    }
    for (const index of reserved) setBit(chunks.get(Math.floor(index / CHUNK))!.reserved, index % CHUNK, true);
    for (const c of chunks.values()) {
      if (existing.has(c.chunk)) await this.save(to, c);
      else await this.db.insertInto('pool_chunks').values({ ...c, ...tally(to, c) }).execute();
    }
  }

  /** Cuts the maps down to `to` values; false, with nothing changed, when one of those cut off is allocated. */
  async shrink(pool: PoolRow, to: number): Promise<boolean> {
    const cut = await this.db.selectFrom('pool_chunks').selectAll().where('pool_id', '=', pool.id)
      .where('chunk', '>=', Math.floor(to / CHUNK)).orderBy('chunk').execute();
    for (const c of cut) {
      for (let i = Math.max(0, to - c.chunk * CHUNK); i < lengthOf(pool.size, c.chunk); i++) if (bit(c.allocated, i)) return false;
    }
    await this.db.deleteFrom('pool_chunks').where('pool_id', '=', pool.id).where('chunk', '>=', Math.ceil(to / CHUNK)).execute();
    const last = cut[0];
    if (last && last.chunk * CHUNK < to) {
      for (let i = to - last.chunk * CHUNK; i < CHUNK; i++) { setBit(last.allocated, i, false); setBit(last.reserved, i, false); }
      await this.save(to, last);
    }
    return true;
  }

  private matching(filter: PoolFilter) {
    return this.where(this.db.selectFrom('pools').selectAll(), filter).orderBy('id');
  }
  // Any query over `pools` narrowed to the pools a filter names.
  private where<Q extends { where: (...args: any[]) => Q }>(q: Q, filter: PoolFilter): Q {
    if ('ids' in filter) return q.where('id', 'in', filter.ids.length ? filter.ids : [-1]);
    if ('networkIds' in filter) return q.where('kind', '=', 'ipv4').where('network_id', 'in', filter.networkIds.length ? filter.networkIds : [-1]);
    if ('subnetId' in filter) return q.where('kind', '=', 'ipv4').where('subnet_id', '=', filter.subnetId);
    return q.where('kind', '=', filter.kind);
  }

  private async chunk(poolId: number, n: number): Promise<ChunkRow> {
    return this.db.selectFrom('pool_chunks').selectAll().where('pool_id', '=', poolId).where('chunk', '=', n).executeTakeFirstOrThrow();
  }
  private async write(size: number, c: ChunkRow, i: number, map: 'allocated' | 'reserved', on: boolean): Promise<void> {
    setBit(c[map], i, on);
    await this.save(size, c);
  }
  private async save(size: number, c: ChunkRow): Promise<void> {
    await this.db.updateTable('pool_chunks').set({ allocated: c.allocated, reserved: c.reserved, ...tally(size, c) })
      .where('pool_id', '=', c.pool_id).where('chunk', '=', c.chunk).execute();
  }
}

/** How many values of a pool of `size` fall in chunk `n`. */
function lengthOf(size: number, n: number): number { return Math.max(0, Math.min(CHUNK, size - n * CHUNK)); }

function bit(map: Uint8Array, i: number): number { return (map[i >> 3] >> (i & 7)) & 1; }
function setBit(map: Uint8Array, i: number, on: boolean): void {
  if (on) map[i >> 3] |= 1 << (i & 7); else map[i >> 3] &= ~(1 << (i & 7));
}

/** The free and reserved counts of a chunk, from its maps. */
function tally(size: number, c: Pick<ChunkRow, 'chunk' | 'allocated' | 'reserved'>): { free: number; reserved_count: number } {
  let free = 0;
  let reserved = 0;
  for (let i = 0; i < lengthOf(size, c.chunk); i++) {
    const r = bit(c.reserved, i);
    reserved += r;
    if (!r && !bit(c.allocated, i)) free++;
  }
  return { free, reserved_count: reserved };
}
