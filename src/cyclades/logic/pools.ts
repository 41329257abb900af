import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../common/db.js';
import { BadRequest, Conflict, NotFound, ServiceUnavailable } from '../../common/errors.js';
import { ALLOCATED, RESERVED, type PoolRow, type PoolStore } from '../store/pools.js';
import type { CycladesDB } from '../store/schema.js';

export type PoolKind = 'bridge' | 'mac_prefix' | 'ipv4';
/** The pools an operator creates; IPv4 pools come and go with their subnet. */
export type ResourcePoolKind = 'bridge' | 'mac_prefix';

/** Synnefo's default base of the MAC-prefix pool; its first prefix is kept for public networks. */
export const DEFAULT_MAC_BASE = 'aa:00:0';
const MAX_MAC_PREFIX = 0xfffff;

export interface PoolInfo {
  id: number;
  kind: PoolKind;
  base: string;
  offset: number;
  size: number;
  /** The values the pool spans, first and last. */
  first: string;
  last: string;
  /** Values neither allocated nor reserved. */
  available: number;
  /** Values the operator keeps out of circulation. */
  reserved: number;
  subnetId: number | null;
  networkId: number | null;
}

/** A pool with Synnefo's pool-show maps, one character per value. */
export interface PoolDetail extends PoolInfo {
  allocated: number;
  /** `.` free, `X` allocated or reserved. */
  availableMap: string;
  /** `X` reserved, `.` not. */
  reservedMap: string;
}

export interface AddressRange { start: string; end: string }
export interface AddressAllocation { address: string; subnetId: number; poolId: number }

/** What a consistency check of a pool found (Synnefo's reconcile-pools). */
export interface PoolCheck {
  poolId: number;
  /** Allocated in the pool, used by nobody: leaked, never handed out again until released. */
  allocatedUnused: string[];
  /** Used, yet free in the pool: the next allocation could hand it out twice. */
  usedUnallocated: string[];
  fixed: boolean;
}

/** Lists the values in use, read inside the check's transaction (which holds the pool's lock). */
export type ValuesInUse = (db: Kysely<CycladesDB>) => Promise<Iterable<string>>;

/**
 * Synnefo's resource pools: the bridges of PHYSICAL_VLAN networks and the MAC prefixes of
 * MAC_FILTERED ones (one pool each, made by the operator), and the IPv4 addresses of each
 * subnet (one pool per allocation range). A value goes to one holder at a time: every change
 * locks its pools first, and allocation takes the lowest free value. To allocate inside a wider
 * transaction, build a `Pools` over a `PoolStore` bound to it.
 */
export class Pools {
  constructor(private readonly store: PoolStore) {}

  // Operator's pools

  /** Creates the bridge or MAC-prefix pool (there is at most one of each). */
  async create(spec: { kind: ResourcePoolKind; size: number; base?: string | undefined; offset?: number | undefined }): Promise<PoolInfo> {
    if (spec.kind !== 'bridge' && spec.kind !== 'mac_prefix') throw new BadRequest(`Invalid pool type '${String(spec.kind)}'`);
    const size = integerAtLeast(spec.size, 'size', 1);
    const offset = integerAtLeast(spec.offset ?? 0, 'offset', 0);
    const base = checkBase(spec.kind, spec.base ?? (spec.kind === 'mac_prefix' ? DEFAULT_MAC_BASE : undefined), offset, size);
    const row = { kind: spec.kind, base, offset, size, subnet_id: null, network_id: null, created_at: Date.now() };
    // Index 0 (the base itself) stays with the public networks, as in Synnefo.
    const reserved = spec.kind === 'mac_prefix' ? [0, ...unusablePrefixes(row, 1, size)] : [];
    try {
      return await this.show(await this.store.addPool(row, reserved));
    } catch (err) {
      if (isUniqueViolation(err)) throw new Conflict(`Pool of type ${spec.kind} already exists`);
      throw err;
    }
  }

  async list(kind?: PoolKind): Promise<PoolInfo[]> {
    return this.describe(await this.store.pools(kind ? { kind } : undefined));
  }

  async show(id: number): Promise<PoolDetail> {
    const pool = await this.get(id);
    const [info] = await this.describe([pool]);
    const states = await this.store.states(pool);
    let allocated = 0;
    let availableMap = '';
    let reservedMap = '';
    for (const s of states) {
      if (s & ALLOCATED) allocated++;
      availableMap += s ? 'X' : '.';
      reservedMap += s & RESERVED ? 'X' : '.';
    }
    return { ...info!, allocated, availableMap, reservedMap };
  }

  /** Resizes, rebases or renumbers the bridge or MAC-prefix pool, and reserves or releases values. */
  async modify(id: number, changes: { size?: number | undefined; base?: string | undefined; offset?: number | undefined; addReserved?: string[] | undefined; removeReserved?: string[] | undefined }): Promise<PoolDetail> {
    await this.store.transaction(async (tx) => {
      const pool = await locked(tx, id);
      if (pool.kind === 'ipv4' && (changes.size !== undefined || changes.base !== undefined || changes.offset !== undefined)) {
        throw new BadRequest('An IPv4 pool spans an allocation range of its subnet; only its reservations can change');
      }
      let now = pool;
      if (pool.kind !== 'ipv4') {
        const offset = changes.offset === undefined ? pool.offset : integerAtLeast(changes.offset, 'offset', 0);
        const size = changes.size === undefined ? pool.size : integerAtLeast(changes.size, 'size', 1);
        const base = checkBase(pool.kind as ResourcePoolKind, changes.base ?? pool.base, offset, size);
        if (size > pool.size) await tx.grow(pool.id, pool.size, size, pool.kind === 'mac_prefix' ? unusablePrefixes({ base, offset }, pool.size, size) : []);
        if (size < pool.size && !(await tx.shrink(pool, size))) throw new Conflict('Cannot shrink. In use');
        await tx.updatePool(pool.id, { base, offset, size });
        now = { ...pool, base, offset, size };
      }
      if (changes.addReserved?.length) await tx.mark(now, indicesIn(now, changes.addReserved), 'reserved', true);
      if (changes.removeReserved?.length) await tx.mark(now, indicesIn(now, changes.removeReserved), 'reserved', false);
    });
    return this.show(id);
  }

  /** Removes the bridge or MAC-prefix pool; values it handed out are no longer tracked. */
  async remove(id: number): Promise<void> {
    await this.store.transaction(async (tx) => {
      const pool = await locked(tx, id);
      if (pool.kind === 'ipv4') throw new BadRequest('An IPv4 pool goes with its subnet');
      await tx.removePools({ ids: [pool.id] });
    });
  }

  /** Keeps values out of circulation (Synnefo's external reservation); allocated ones stay with their holder. */
  async reserve(id: number, values: string[]): Promise<void> { await this.modify(id, { addReserved: values }); }
  async unreserve(id: number, values: string[]): Promise<void> { await this.modify(id, { removeReserved: values }); }

  // Bridges and MAC prefixes

  /** The lowest free value of the bridge or MAC-prefix pool; 503 when there is no pool or no free value. */
  async allocate(kind: ResourcePoolKind): Promise<string> {
    return this.store.transaction(async (tx) => {
      const [pool] = await tx.lockPools({ kind });
      const index = pool ? await tx.takeLowest(pool) : undefined;
      if (index === undefined) throw new ServiceUnavailable('Failed to allocate resources for network.');
      return codec(pool!).value(index);
    });
  }

  /** Gives a value back to the bridge or MAC-prefix pool; false when no pool holds it. */
  async release(kind: ResourcePoolKind, value: string): Promise<boolean> {
    return this.store.transaction(async (tx) => {
      const [pool] = await tx.lockPools({ kind });
      const index = pool ? codec(pool).index(value) : undefined;
      if (index === undefined) return false;
      await tx.mark(pool!, [index], 'allocated', false);
      return true;
    });
  }

  // IPv4 addresses

  /** Creates a subnet's pools, one per allocation range (`allocationRanges`); returns the ranges. */
  async createSubnetPools(subnet: { networkId: number; subnetId: number; cidr: string; gateway: string | null; ranges?: AddressRange[] | undefined }): Promise<AddressRange[]> {
    const ranges = allocationRanges(subnet.cidr, subnet.gateway, subnet.ranges);
    const net = parseCidr(subnet.cidr);
    await this.store.transaction(async (tx) => {
      for (const r of ranges) {
        const start = parseIPv4(r.start)!;
        await tx.addPool({
          kind: 'ipv4', base: formatCidr(net), offset: start - net.network, size: parseIPv4(r.end)! - start + 1,
          subnet_id: subnet.subnetId, network_id: subnet.networkId, created_at: Date.now(),
        }, []);
      }
    });
    return ranges;
  }

  /** A subnet's allocation ranges, as its `allocation_pools`. */
  async subnetRanges(subnetId: number): Promise<AddressRange[]> {
    return (await this.store.pools({ subnetId })).map((p) => ({ start: codec(p).value(0), end: codec(p).value(p.size - 1) }));
  }

  /** Drops a subnet's pools, with its network. */
  async removeSubnetPools(subnetId: number): Promise<void> {
    await this.store.transaction(async (tx) => {
      await tx.lockPools({ subnetId });
      await tx.removePools({ subnetId });
    });
  }

  /**
   * An address of the network: the lowest free one of its first pool that has one, or `address`
   * if it is free. 409 when none is free or `address` is taken; 400 when no pool holds `address`.
   */
  async allocateAddress(networkId: number, address?: string): Promise<AddressAllocation> {
    return this.store.transaction(async (tx) => {
      const pools = await tx.lockPools({ networkIds: [networkId] });
      if (address === undefined) {
        const got = await takeLowestOf(tx, pools);
        if (!got) throw new Conflict(`No more IP addresses available on network ${networkId}`);
        return got;
      }
      for (const pool of pools) {
        const index = codec(pool).index(address);
        if (index === undefined) continue;
        if (!(await tx.take(pool, index))) throw new Conflict(`IP address ${address} is already used.`);
        return { address: codec(pool).value(index), subnetId: Number(pool.subnet_id), poolId: pool.id };
      }
      throw new BadRequest(`Address ${address} does not belong to network ${networkId}`);
    });
  }

  /** The lowest free address of the first of `networkIds` that has one (public and floating IPs); undefined when all are full. */
  async allocateAddressFromAny(networkIds: number[]): Promise<AddressAllocation | undefined> {
    return this.store.transaction(async (tx) => {
      const pools = await tx.lockPools({ networkIds });
      const order = (p: PoolRow) => networkIds.indexOf(Number(p.network_id));
      return takeLowestOf(tx, [...pools].sort((a, b) => order(a) - order(b) || a.id - b.id));
    });
  }

  /** Gives an address back to its network's pool; false when none of its pools holds it. */
  async releaseAddress(networkId: number, address: string): Promise<boolean> {
    return this.store.transaction(async (tx) => {
      for (const pool of await tx.lockPools({ networkIds: [networkId] })) {
        const index = codec(pool).index(address);
        if (index === undefined) continue;
        await tx.mark(pool, [index], 'allocated', false);
        return true;
      }
      return false;
    });
  }

  /** Keeps addresses of a network out of circulation (network-modify --add-reserved-ips, Ganeti's external reservations). */
  async reserveAddresses(networkId: number, addresses: string[]): Promise<void> { await this.markAddresses(networkId, addresses, true); }
  async unreserveAddresses(networkId: number, addresses: string[]): Promise<void> { await this.markAddresses(networkId, addresses, false); }

  /** All and free addresses of a network's pools. */
  async addressCounts(networkId: number): Promise<{ total: number; free: number }> {
    const pools = await this.store.pools({ networkIds: [networkId] });
    const counts = await this.store.counts(pools.map((p) => p.id));
    return { total: pools.reduce((n, p) => n + p.size, 0), free: pools.reduce((n, p) => n + counts.get(p.id)!.free, 0) };
  }

  // Consistency

  /**
   * Compares what a pool holds as allocated with the values `inUse` lists (those outside the pool
   * are ignored); with `fix`, makes the pool's allocations exactly the values in use.
   */
  async check(id: number, inUse: ValuesInUse, opts: { fix?: boolean } = {}): Promise<PoolCheck> {
    return this.store.transaction(async (tx) => {
      const pool = await locked(tx, id);
      const c = codec(pool);
      const used = new Set<number>();
      for (const v of await inUse(tx.db)) { const i = c.index(v); if (i !== undefined) used.add(i); }
      const states = await tx.states(pool);
      const allocatedUnused: string[] = [];
      const usedUnallocated: string[] = [];
      states.forEach((s, i) => {
        if (s & ALLOCATED && !used.has(i)) allocatedUnused.push(c.value(i));
        if (!(s & ALLOCATED) && used.has(i)) usedUnallocated.push(c.value(i));
      });
      const fixed = !!opts.fix && (allocatedUnused.length > 0 || usedUnallocated.length > 0);
      if (fixed) await tx.setAllocated(pool, used);
      return { poolId: pool.id, allocatedUnused, usedUnallocated, fixed };
    });
  }

  private async markAddresses(networkId: number, addresses: string[], on: boolean): Promise<void> {
    await this.store.transaction(async (tx) => {
      const pools = (await tx.lockPools({ networkIds: [networkId] })).map((pool) => ({ pool, codec: codec(pool), indices: [] as number[] }));
      for (const a of addresses) {
        const p = pools.find((q) => q.codec.index(a) !== undefined);
        if (!p) throw new BadRequest(`Network ${networkId} does not have an IP pool that contains address ${a}`);
        p.indices.push(p.codec.index(a)!);
      }
      for (const p of pools) if (p.indices.length) await tx.mark(p.pool, p.indices, 'reserved', on);
    });
  }

  private async get(id: number): Promise<PoolRow> {
    const pool = await this.store.pool(id);
    if (!pool) throw new NotFound(`Pool ${id} not found`);
    return pool;
  }

  private async describe(pools: PoolRow[]): Promise<PoolInfo[]> {
    const counts = await this.store.counts(pools.map((p) => p.id));
    return pools.map((p) => ({
      id: p.id, kind: p.kind as PoolKind, base: p.base, offset: p.offset, size: p.size,
      first: codec(p).value(0), last: codec(p).value(p.size - 1),
      available: counts.get(p.id)!.free, reserved: counts.get(p.id)!.reserved,
      subnetId: p.subnet_id, networkId: p.network_id,
    }));
  }
}

async function locked(tx: PoolStore, id: number): Promise<PoolRow> {
  const [pool] = await tx.lockPools({ ids: [id] });
  if (!pool) throw new NotFound(`Pool ${id} not found`);
  return pool;
}

async function takeLowestOf(tx: PoolStore, pools: PoolRow[]): Promise<AddressAllocation | undefined> {
  for (const pool of pools) {
    const index = await tx.takeLowest(pool);
    if (index !== undefined) return { address: codec(pool).value(index), subnetId: Number(pool.subnet_id), poolId: pool.id };
  }
  return undefined;
}

function indicesIn(pool: PoolRow, values: string[]): number[] {
  const c = codec(pool);
  return values.map((v) => {
    const i = c.index(v.trim());
    if (i === undefined) throw new BadRequest(`Value ${v} does not belong to pool.`);
    return i;
  });
}

function integerAtLeast(n: unknown, what: string, min: number): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) throw new BadRequest(`Invalid ${what}`);
  return n;
}

// Values and their places in a pool

interface Codec { value(index: number): string; index(value: string): number | undefined }

/** Maps a pool's values to their indices, as Synnefo's BridgePool, MacPrefixPool and IPPool do. */
function codec(pool: Pick<PoolRow, 'kind' | 'base' | 'offset' | 'size'>): Codec {
  const within = (i: number) => (i >= 0 && i < pool.size ? i : undefined);
  if (pool.kind === 'bridge') {
    return {
      value: (i) => `${pool.base}${pool.offset + i + 1}`,
      index: (v) => {
        const n = v.startsWith(pool.base) ? v.slice(pool.base.length) : '';
        return /^[1-9][0-9]{0,15}$/.test(n) ? within(Number(n) - pool.offset - 1) : undefined;
      },
    };
  }
  if (pool.kind === 'mac_prefix') {
    const base = parseMacPrefix(pool.base)! + pool.offset;
    return { value: (i) => formatMacPrefix(base + i), index: (v) => { const n = parseMacPrefix(v); return n === undefined ? undefined : within(n - base); } };
  }
  const base = parseCidr(pool.base).network + pool.offset;
  return { value: (i) => formatIPv4(base + i), index: (v) => { const n = parseIPv4(v); return n === undefined ? undefined : within(n - base); } };
}

function checkBase(kind: ResourcePoolKind, base: string | undefined, offset: number, size: number): string {
  if (kind === 'bridge') {
    if (!base || !/^[A-Za-z0-9_.-]{1,14}$/.test(base)) throw new BadRequest('Invalid base. A bridge name prefix is 1 to 14 letters, digits, and _ . -');
    return base;
  }
  const n = base === undefined ? undefined : parseMacPrefix(base);
  if (n === undefined) throw new BadRequest(`Invalid base. ${base} is not a valid MAC prefix.`);
  if (n + offset + size - 1 > MAX_MAC_PREFIX) throw new BadRequest(`Invalid size. The pool would go past ${formatMacPrefix(MAX_MAC_PREFIX)}`);
  return formatMacPrefix(n);
}

/** Indices from..to-1 whose prefix is not a locally administered unicast address: Synnefo reserves them. */
function unusablePrefixes(pool: { base: string; offset: number }, from: number, to: number): number[] {
  const base = parseMacPrefix(pool.base)! + pool.offset;
  const out: number[] = [];
  for (let i = from; i < to; i++) if (((base + i) >> 12 & 0b11) !== 0b10) out.push(i);
  return out;
}

/** A MAC prefix `xx:xx:x` (five hex digits, to which a backend index digit is appended) as a number. */
function parseMacPrefix(v: string): number | undefined {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f])$/i.exec(v.trim());
  return m ? parseInt(m[1]! + m[2]! + m[3]!, 16) : undefined;
}
function formatMacPrefix(n: number): string {
  const h = n.toString(16).padStart(5, '0');
  return `${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4)}`;
}

// IPv4 subnets

interface Cidr { network: number; prefix: number; broadcast: number }

/**
 * The allocation ranges of a new IPv4 subnet, as Synnefo makes them: the given ones sorted and
 * checked (409 out of bounds, inverted, holding the gateway, or overlapping), or, without any,
 * the whole subnet but the network, broadcast and gateway addresses. An empty list means no pools.
 */
export function allocationRanges(cidr: string, gateway: string | null, given?: AddressRange[]): AddressRange[] {
  const net = parseCidr(cidr);
  let gw: number | undefined;
  if (gateway) {
    gw = parseIPv4(gateway);
    if (gw === undefined || gw < net.network || gw > net.broadcast) throw new BadRequest('Invalid network IPv4 gateway');
  }
  let ranges: [number, number][];
  if (given) {
    ranges = given.map((r) => {
      const start = parseIPv4(r.start);
      const end = parseIPv4(r.end);
      if (start === undefined || end === undefined) throw new BadRequest('Allocation pools contain invalid IPv4 address');
      return [start, end] as [number, number];
    }).sort((a, b) => a[0] - b[0]);
  } else if (gw === undefined) {
    ranges = [[net.network + 1, net.broadcast - 1]];
  } else if (gw - net.network === 1) {
    ranges = [[gw + 1, net.broadcast - 1]];
  } else if (net.broadcast - gw === 1) {
    ranges = [[net.network + 1, gw - 1]];
  } else {
    ranges = [[net.network + 1, gw - 1], [gw + 1, net.broadcast - 1]];
  }
  if (ranges.length === 0) return [];
  if (ranges[0]![0] <= net.network || ranges[ranges.length - 1]![1] >= net.broadcast) throw new Conflict('IP Pool out of bounds');
  for (const [start, end] of ranges) {
    if (start > end) throw new Conflict('Invalid IP pool range');
    if (gw !== undefined && gw >= start && gw <= end) throw new Conflict('Gateway cannot be in pool range');
  }
  let end = net.network;
  for (const r of ranges) {
    if (end >= r[0]) throw new Conflict('IP Pool range conflict');
    end = r[1];
  }
  return ranges.map(([s, e]) => ({ start: formatIPv4(s), end: formatIPv4(e) }));
}

/** An IPv4 CIDR with no host bits set; 400 "Invalid network IPv4 subnet" otherwise. */
function parseCidr(cidr: string): Cidr {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(cidr.trim());
  const addr = m ? parseIPv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (addr === undefined || !(prefix >= 0 && prefix <= 32)) throw new BadRequest('Invalid network IPv4 subnet');
  const hosts = 2 ** (32 - prefix);
  if (addr % hosts !== 0) throw new BadRequest('Invalid network IPv4 subnet');
  return { network: addr, prefix, broadcast: addr + hosts - 1 };
}
function formatCidr(c: Cidr): string { return `${formatIPv4(c.network)}/${c.prefix}`; }

/** A dotted-quad IPv4 address as a number; undefined unless it is one. */
function parseIPv4(v: string): number | undefined {
  const parts = v.trim().split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}
function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
