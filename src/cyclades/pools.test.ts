import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import { Worker } from 'node:worker_threads';
import { migrateToLatest, openDatabase, type Database } from '../common/db.js';
import { ApiError } from '../common/errors.js';
import { dbTargets } from '../test/harness.js';
import { allocationRanges, Pools } from './logic/pools.js';
import { cycladesMigrations } from './store/migrations.js';
import { PoolStore } from './store/pools.js';
import type { CycladesDB } from './store/schema.js';

async function openCycladesDb(url: string, dir: string): Promise<Database<CycladesDB>> {
  const database = await openDatabase<CycladesDB>('cyclades', url, dir);
  await migrateToLatest(database as Database<unknown>, 'cyclades', cycladesMigrations(database.dialect));
  return database;
}

/** Asserts that `p` fails with the API error of that status and message. */
async function refused(p: Promise<unknown>, status: number, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, status);
    if (typeof message === 'string') assert.equal(err.message, message); else assert.match(err.message, message);
    return true;
  });
}

const settled = async <T>(ps: Promise<T>[]) => {
  const all = await Promise.allSettled(ps);
  return {
    values: all.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    errors: all.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : [])),
  };
};

/** Allocates `n` addresses of a network one after the other, in a thread with its own database connection. */
function allocateInWorker(url: string, dir: string, networkId: number, n: number): Promise<string[]> {
  const modules = {
    db: new URL('../common/db.js', import.meta.url).href,
    migrations: new URL('./store/migrations.js', import.meta.url).href,
    store: new URL('./store/pools.js', import.meta.url).href,
    logic: new URL('./logic/pools.js', import.meta.url).href,
  };
  const code = `
    const { workerData: w, parentPort } = require('node:worker_threads');
    (async () => {
      const [db, store, logic] = await Promise.all([import(w.modules.db), import(w.modules.store), import(w.modules.logic)]);
      const database = await db.openDatabase('cyclades', w.url, w.dir);
      try {
        const pools = new logic.Pools(new store.PoolStore(database.db, database.dialect));
        const got = [];
        for (let i = 0; i < w.n; i++) got.push((await pools.allocateAddress(w.networkId)).address);
        parentPort.postMessage({ got });
      } finally { await database.close(); }
    })().catch((err) => parentPort.postMessage({ error: String(err && err.stack || err) }));`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { modules, url, dir, networkId, n } });
    worker.once('message', (m: { got?: string[]; error?: string }) => (m.got ? resolve(m.got) : reject(new Error(m.error))));
    worker.once('error', reject);
  });
}

for (const target of dbTargets()) describe(`resource pools on ${target.name}`, () => {
  let dir: string;
  let url: string;
  let database: Database<CycladesDB>;
  let pools: Pools;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'snf-pools-'));
    url = await target.create();
    database = await openCycladesDb(url, dir);
    pools = new Pools(new PoolStore(database.db, database.dialect));
  });
  after(async () => {
    await database.close();
    await target.drop(url);
    rmSync(dir, { recursive: true, force: true });
  });

  it('500 concurrent requests on a /24 get its 253 addresses once each, and the rest a clear conflict', async () => {
    assert.deepEqual(await pools.createSubnetPools({ networkId: 1, subnetId: 101, cidr: '10.0.1.0/24', gateway: '10.0.1.1' }),
      [{ start: '10.0.1.2', end: '10.0.1.254' }]);
    const { values, errors } = await settled(Array.from({ length: 500 }, () => pools.allocateAddress(1)));
    const addresses = values.map((v) => v.address);
    assert.equal(addresses.length, 253);
    assert.equal(new Set(addresses).size, 253, 'no address was handed out twice');
    assert.deepEqual(new Set(addresses), new Set(Array.from({ length: 253 }, (_, i) => `10.0.1.${i + 2}`)));
    assert.ok(values.every((v) => v.subnetId === 101));
    assert.equal(errors.length, 247);
    for (const err of errors) {
      assert.ok(err instanceof ApiError);
      assert.deepEqual([err.status, err.fault, err.message], [409, 'conflict', 'No more IP addresses available on network 1']);
    }
    assert.deepEqual(await pools.addressCounts(1), { total: 253, free: 0 });
  });

  it('a released address is handed out again, lowest free first', async () => {
    await pools.createSubnetPools({ networkId: 2, subnetId: 102, cidr: '10.0.2.0/24', gateway: '10.0.2.1' });
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await pools.allocateAddress(2)).address);
    assert.deepEqual(got, ['10.0.2.2', '10.0.2.3', '10.0.2.4']);
    assert.equal(await pools.releaseAddress(2, '10.0.2.3'), true);
    assert.equal((await pools.allocateAddress(2)).address, '10.0.2.3');
    assert.equal((await pools.allocateAddress(2)).address, '10.0.2.5');
    assert.equal(await pools.releaseAddress(2, '10.9.9.9'), false, 'an address of no pool of the network');
    assert.deepEqual(await pools.addressCounts(2), { total: 253, free: 249 });
  });

  it('a user asks for a specific address, and cannot have one taken, outside the pools, or malformed', async () => {
    await pools.createSubnetPools({ networkId: 3, subnetId: 103, cidr: '10.0.3.0/24', gateway: '10.0.3.1' });
    assert.deepEqual(await pools.allocateAddress(3, '10.0.3.77'), { address: '10.0.3.77', subnetId: 103, poolId: (await pools.list('ipv4')).find((p) => p.networkId === 3)!.id });
    await refused(pools.allocateAddress(3, '10.0.3.77'), 409, 'IP address 10.0.3.77 is already used.');
    await refused(pools.allocateAddress(3, '10.0.3.1'), 400, 'Address 10.0.3.1 does not belong to network 3');
    await refused(pools.allocateAddress(3, '10.0.3.255'), 400, 'Address 10.0.3.255 does not belong to network 3');
    await refused(pools.allocateAddress(3, '10.0.4.5'), 400, 'Address 10.0.4.5 does not belong to network 3');
    await refused(pools.allocateAddress(3, 'ten'), 400, 'Address ten does not belong to network 3');
    assert.equal((await pools.allocateAddress(3)).address, '10.0.3.2', 'the lowest free address is still first');
  });

  it('reserved addresses, the gateway, the network and broadcast addresses are never handed out', async () => {
    await pools.createSubnetPools({ networkId: 4, subnetId: 104, cidr: '10.0.4.0/29', gateway: '10.0.4.1' });
    await pools.reserveAddresses(4, ['10.0.4.3', '10.0.4.5']);
    await refused(pools.reserveAddresses(4, ['10.0.4.1']), 400, 'Network 4 does not have an IP pool that contains address 10.0.4.1');
    await refused(pools.allocateAddress(4, '10.0.4.5'), 409, 'IP address 10.0.4.5 is already used.');
    const { values, errors } = await settled(Array.from({ length: 8 }, () => pools.allocateAddress(4)));
    assert.deepEqual(values.map((v) => v.address).sort(), ['10.0.4.2', '10.0.4.4', '10.0.4.6']);
    assert.equal(errors.length, 5);
    const [pool] = (await pools.list('ipv4')).filter((p) => p.networkId === 4);
    const shown = await pools.show(pool!.id);
    assert.deepEqual([shown.first, shown.last, shown.size, shown.available, shown.reserved, shown.allocated], ['10.0.4.2', '10.0.4.6', 5, 0, 2, 3]);
    assert.deepEqual([shown.availableMap, shown.reservedMap], ['XXXXX', '.X.X.']);
    await pools.unreserveAddresses(4, ['10.0.4.3']);
    assert.equal((await pools.allocateAddress(4)).address, '10.0.4.3');
  });

  it('a subnet gets the ranges Synnefo gives it, and bad ranges are refused', async () => {
    const r = (start: string, end: string) => ({ start, end });
    assert.deepEqual(allocationRanges('10.0.3.0/24', '10.0.3.1'), [r('10.0.3.2', '10.0.3.254')]);
    assert.deepEqual(allocationRanges('10.0.3.0/24', '10.0.3.254'), [r('10.0.3.1', '10.0.3.253')]);
    assert.deepEqual(allocationRanges('10.0.3.0/24', '10.0.3.150'), [r('10.0.3.1', '10.0.3.149'), r('10.0.3.151', '10.0.3.254')]);
    assert.deepEqual(allocationRanges('10.0.3.0/24', null), [r('10.0.3.1', '10.0.3.254')]);
    assert.deepEqual(allocationRanges('10.0.3.0/24', '10.0.3.1', [r('10.0.3.100', '10.0.3.110'), r('10.0.3.10', '10.0.3.20')]),
      [r('10.0.3.10', '10.0.3.20'), r('10.0.3.100', '10.0.3.110')], 'given ranges are sorted');
    assert.deepEqual(allocationRanges('10.0.3.0/24', '10.0.3.1', []), [], 'an empty list means no pools, as in Synnefo');
    const bad = (f: () => unknown, status: number, message: string) => assert.throws(f, (e: unknown) => e instanceof ApiError && e.status === status && e.message === message);
    bad(() => allocationRanges('10.0.3.0/24', '10.0.3.1', [r('10.0.3.0', '10.0.3.9')]), 409, 'IP Pool out of bounds');
    bad(() => allocationRanges('10.0.3.0/24', '10.0.3.1', [r('10.0.3.200', '10.0.3.255')]), 409, 'IP Pool out of bounds');
    bad(() => allocationRanges('10.0.3.0/24', '10.0.3.1', [r('10.0.3.9', '10.0.3.5')]), 409, 'Invalid IP pool range');
    bad(() => allocationRanges('10.0.3.0/24', '10.0.3.7', [r('10.0.3.5', '10.0.3.9')]), 409, 'Gateway cannot be in pool range');
    bad(() => allocationRanges('10.0.3.0/24', '10.0.3.1', [r('10.0.3.5', '10.0.3.9'), r('10.0.3.9', '10.0.3.12')]), 409, 'IP Pool range conflict');
    bad(() => allocationRanges('10.0.3.0/24', '10.0.3.1', [r('10.0.3.5', 'x')]), 400, 'Allocation pools contain invalid IPv4 address');
    bad(() => allocationRanges('10.0.3.1/24', null), 400, 'Invalid network IPv4 subnet');
    bad(() => allocationRanges('10.0.3.0/24', '10.0.4.1'), 400, 'Invalid network IPv4 gateway');

    assert.deepEqual(await pools.createSubnetPools({ networkId: 5, subnetId: 105, cidr: '10.0.5.0/24', gateway: '10.0.5.1', ranges: [r('10.0.5.20', '10.0.5.20'), r('10.0.5.10', '10.0.5.11')] }),
      [r('10.0.5.10', '10.0.5.11'), r('10.0.5.20', '10.0.5.20')]);
    assert.deepEqual(await pools.subnetRanges(105), [r('10.0.5.10', '10.0.5.11'), r('10.0.5.20', '10.0.5.20')]);
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await pools.allocateAddress(5)).address);
    assert.deepEqual(got, ['10.0.5.10', '10.0.5.11', '10.0.5.20'], 'the first range first, then the next');
    await refused(pools.allocateAddress(5), 409, 'No more IP addresses available on network 5');
    await pools.removeSubnetPools(105);
    assert.deepEqual(await pools.subnetRanges(105), []);
  });

  it('public addresses come from the first of several networks that has one free', async () => {
    await pools.createSubnetPools({ networkId: 6, subnetId: 106, cidr: '192.0.2.0/30', gateway: '192.0.2.1' });
    await pools.createSubnetPools({ networkId: 7, subnetId: 107, cidr: '198.51.100.0/29', gateway: '198.51.100.1' });
    assert.deepEqual((await pools.allocateAddressFromAny([7, 6]))?.address, '198.51.100.2');
    assert.deepEqual((await pools.allocateAddressFromAny([6, 7]))?.address, '192.0.2.2');
    assert.deepEqual((await pools.allocateAddressFromAny([6, 7]))?.address, '198.51.100.3', 'network 6 is full');
    assert.equal(await pools.allocateAddressFromAny([6]), undefined);
  });

  it('networks get distinct MAC prefixes from the pool, two concurrent ones never equal, 100 networks 100 prefixes', async () => {
    await refused(pools.allocate('mac_prefix'), 503, 'Failed to allocate resources for network.');
    await refused(pools.create({ kind: 'mac_prefix', size: 16, base: 'aa:00' }), 400, 'Invalid base. aa:00 is not a valid MAC prefix.');
    const pool = await pools.create({ kind: 'mac_prefix', size: 65536 });
    assert.deepEqual([pool.base, pool.first, pool.last], ['aa:00:0', 'aa:00:0', 'b9:ff:f']);
    assert.equal(pool.available, 4 * 4096 - 1, 'only aa, ae, b2 and b6 are locally administered unicast octets; aa:00:0 stays with public networks');
    await refused(pools.create({ kind: 'mac_prefix', size: 10 }), 409, 'Pool of type mac_prefix already exists');

    const [a, b] = await Promise.all([pools.allocate('mac_prefix'), pools.allocate('mac_prefix')]);
    assert.notEqual(a, b);
    assert.deepEqual([a, b].sort(), ['aa:00:1', 'aa:00:2']);
    const hundred = await Promise.all(Array.from({ length: 100 }, () => pools.allocate('mac_prefix')));
    assert.equal(new Set([a, b, ...hundred]).size, 102);
    assert.ok(hundred.every((p) => /^aa:0[0-6]:[0-9a-f]$/.test(p) && p !== 'aa:00:0'), hundred.join(' '));
    assert.ok(hundred.includes('aa:01:0'), 'prefixes count on past aa:00:f');
    assert.equal(await pools.release('mac_prefix', 'aa:00:1'), true);
    assert.equal(await pools.allocate('mac_prefix'), 'aa:00:1');
    assert.equal((await pools.show(pool.id)).available, 4 * 4096 - 1 - 102);
  });

  it('PHYSICAL_VLAN networks get bridges prv1..prvN, and a clear error when none is left', async () => {
    await refused(pools.allocate('bridge'), 503, 'Failed to allocate resources for network.');
    const pool = await pools.create({ kind: 'bridge', base: 'prv', size: 20 });
    assert.deepEqual([pool.first, pool.last, pool.available], ['prv1', 'prv20', 20]);
    const { values, errors } = await settled(Array.from({ length: 25 }, () => pools.allocate('bridge')));
    assert.deepEqual(new Set(values), new Set(Array.from({ length: 20 }, (_, i) => `prv${i + 1}`)));
    assert.equal(values.length, 20);
    assert.equal(errors.length, 5);
    await refused(pools.allocate('bridge'), 503, 'Failed to allocate resources for network.');
    assert.equal(await pools.release('bridge', 'prv7'), true);
    assert.equal(await pools.allocate('bridge'), 'prv7');
    assert.equal(await pools.release('bridge', 'br0'), false);

    const grown = await pools.modify(pool.id, { size: 22, addReserved: ['prv21'] });
    assert.deepEqual([grown.last, grown.available, grown.reserved], ['prv22', 1, 1]);
    assert.equal(await pools.allocate('bridge'), 'prv22', 'prv21 is reserved');
    await refused(pools.modify(pool.id, { size: 5 }), 409, 'Cannot shrink. In use');
    await refused(pools.reserve(pool.id, ['prv23']), 400, 'Value prv23 does not belong to pool.');
    await pools.unreserve(pool.id, ['prv21']);
    assert.equal(await pools.allocate('bridge'), 'prv21');
    for (const v of ['prv21', 'prv22']) await pools.release('bridge', v);
    const shrunk = await pools.modify(pool.id, { size: 20 });
    assert.deepEqual([shrunk.last, shrunk.available, shrunk.reserved, shrunk.allocated], ['prv20', 0, 0, 20]);
    assert.equal(shrunk.availableMap, 'X'.repeat(20));

    assert.deepEqual((await pools.list()).filter((p) => p.kind !== 'ipv4').map((p) => p.kind), ['mac_prefix', 'bridge']);
    await pools.remove(pool.id);
    await refused(pools.allocate('bridge'), 503, 'Failed to allocate resources for network.');
    await refused(pools.show(pool.id), 404, `Pool ${pool.id} not found`);
  });

  it('a check finds values allocated but used by no network, and values used but free, and fixes both', async () => {
    const pool = await pools.create({ kind: 'bridge', base: 'vlan', size: 10, offset: 99 });
    assert.deepEqual([pool.first, pool.last], ['vlan100', 'vlan109']);
    for (let i = 0; i < 3; i++) await pools.allocate('bridge');
    const inUse = async (db: Kysely<CycladesDB>) => {
      // The check's own transaction: reading through it works on SQLite's single connection too.
      assert.equal(db.isTransaction, true);
      await db.selectFrom('pools').select('id').execute();
      return ['vlan100', 'vlan102', 'vlan105', 'br0'];
    };
    assert.deepEqual(await pools.check(pool.id, inUse), { poolId: pool.id, allocatedUnused: ['vlan101'], usedUnallocated: ['vlan105'], fixed: false });
    assert.deepEqual(await pools.check(pool.id, inUse, { fix: true }), { poolId: pool.id, allocatedUnused: ['vlan101'], usedUnallocated: ['vlan105'], fixed: true });
    assert.deepEqual(await pools.check(pool.id, inUse), { poolId: pool.id, allocatedUnused: [], usedUnallocated: [], fixed: false });
    assert.equal(await pools.allocate('bridge'), 'vlan101');
    await pools.remove(pool.id);
  });

  it('allocations from several connections at once never collide', async () => {
    await pools.createSubnetPools({ networkId: 8, subnetId: 108, cidr: '10.0.8.0/24', gateway: '10.0.8.1' });
    const perWorker = await Promise.all([1, 2, 3, 4].map(() => allocateInWorker(url, dir, 8, 60)));
    const all = perWorker.flat();
    assert.equal(all.length, 240);
    assert.equal(new Set(all).size, 240, 'no address went to two connections');
    assert.deepEqual(await pools.addressCounts(8), { total: 253, free: 13 });
  });

  it('allocates from a /16 quickly, empty or nearly full (times printed)', async (t) => {
    await pools.createSubnetPools({ networkId: 16, subnetId: 116, cidr: '10.16.0.0/16', gateway: '10.16.0.1' });
    const time = async (n: number) => {
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await pools.allocateAddress(16);
        ms.push(performance.now() - t0);
      }
      ms.sort((a, b) => a - b);
      return `mean ${(ms.reduce((s, x) => s + x, 0) / n).toFixed(2)} ms, p50 ${ms[n >> 1]!.toFixed(2)} ms, p99 ${ms[Math.floor(n * 0.99)]!.toFixed(2)} ms`;
    };
    t.diagnostic(`${target.name}: /16 (65533 addresses), first 1000 allocations: ${await time(1000)}`);
    const rest = Array.from({ length: 64000 }, (_, i) => `10.16.${(i + 1002) >> 8}.${(i + 1002) & 255}`);
    await pools.reserveAddresses(16, rest);
    t.diagnostic(`${target.name}: /16 with 65000 addresses taken, next 300 allocations: ${await time(300)}`);
    assert.deepEqual(await pools.addressCounts(16), { total: 65533, free: 65533 - 1300 - 64000 });
  });
});
