import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { ApiError, BadRequest, Conflict, Forbidden, NotFound } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { chargeProvisions, type QuotaClient } from '../../common/quota.js';
import type { BlockStore } from '../backends/block-store.js';
import { CURRENT, DELETED, HISTORY, type ContainerRow, type ListedVersion, type ListQuery, type ObjectStore, type VersionRow } from '../store/objects.js';
import { md5Of, storeStream } from './blocks.js';
import type { HashPool } from './hash-pool.js';
import { isBlockHash, merkleRoot, type BlockPolicy } from './hashmap.js';
import { KeyedQueue } from './keyed-queue.js';
import { bodyPieces, objectPieces, truncateBlocks, writeRange, type Piece } from './range-write.js';
import type { SharingStore } from '../store/sharing.js';
import { publicToken, type Access, type Grant, type Sharing } from './sharing.js';

export const DISKSPACE = 'pithos.diskspace';

/** Attributes of an object version besides its bytes. */
export interface ObjectAttributes {
  contentType: string;
  /** MD5 of the bytes, hex (the ETag Swift clients check). */
  checksum?: string | undefined;
  /** The MD5 the client says it sent; a mismatch refuses the write. */
  etag?: string | undefined;
  contentEncoding?: string | undefined;
  contentDisposition?: string | undefined;
  /** `container/prefix` whose objects, in name order, make up this one (Swift's dynamic large objects). */
  manifest?: string | undefined;
  meta: Record<string, string>;
}

/** An entry of an object listing: an object (with what a listing shows of it, unless only names were asked), or a subdir. */
export type ListingEntry = { kind: 'object'; name: string; version?: ListedVersion | undefined } | { kind: 'subdir'; name: string };

export interface ContainerPolicy { versioning?: 'auto' | 'none' | undefined; quota?: number | undefined; project?: string | undefined }

/** A container as it was at a past time: its counts then, and `until_timestamp`, its last change before then. */
export type ContainerAsOf = ContainerRow & { until_timestamp?: number };

/** An object named by account, container, name and, optionally, version. */
export interface ObjectRef { account: string; container: string; name: string; version?: number | undefined }

/**
 * A data update of an object (Pithos' POST with Content-Range): bytes written at an offset, from
 * the request or from another object, the result optionally cut to a size.
 */
export interface ObjectUpdate {
  /** Where the bytes go; undefined appends. */
  offset?: number | undefined;
  /** How many bytes, when the range gave its last byte. */
  length?: number | undefined;
  /** The object size the range says the client expects (a check). */
  total?: number | undefined;
  /** The request body (with its Content-Length, undefined when chunked), or another object's first bytes. */
  data: { body: Readable; declared?: number | undefined } | { source: ObjectRef };
  /** The size to cut the result to (X-Object-Bytes); never grows it. */
  truncate?: number | undefined;
  meta: Record<string, string>;
  contentEncoding?: string | undefined;
  contentDisposition?: string | undefined;
  /** Merge metadata (`?update`) rather than replace it. */
  update: boolean;
  /** Checks the ETag of the version updated before anything is written (If-Match, If-None-Match); throws to refuse. */
  check?: ((etag: string) => void) | undefined;
}

/** Splits a hashmap column into block hashes. */
export function hashesOf(v: Pick<VersionRow, 'hashmap'>, hexLength: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < v.hashmap.length; i += hexLength) out.push(v.hashmap.slice(i, i + hexLength));
  return out;
}

/**
 * Object storage logic: accounts, containers, and versions of objects made of content-addressed
 * blocks. Every write charges `pithos.diskspace` through a commission that is accepted only after
 * the version is committed; the commission's serial is recorded with the version in the same
 * transaction, so reconciliation can tell a committed write from a lost one.
 */
export class Objects {
  readonly hexLength: number;
  /** Data updates of one object, one at a time: each reads the version the previous one made. */
  private readonly updates = new KeyedQueue();

  constructor(
    private readonly store: ObjectStore,
    private readonly sharingStore: SharingStore,
    private readonly access: Access,
    private readonly blocks: BlockStore,
    private readonly hashing: HashPool,
    private readonly quota: QuotaClient,
    readonly policy: BlockPolicy,
    private readonly opts: { defaultVersioning: 'auto' | 'none'; maxObjectSize: number; listLimit: number },
    private readonly log: Logger,
  ) {
    this.hexLength = merkleRoot([], policy.algorithm).length;
  }

  /** Only the owner may use an account (sharing arrives with its own rules). */
  private own(user: string, account: string): void {
    if (user !== account) throw new Forbidden('Not allowed');
  }

  /**
   * An account: metadata, groups, and its containers' count and bytes, now or as they were at
   * `until` (seconds; then also `untilTimestamp`, its last change before then). `modified` is the
   * last change overall either way.
   */
  async account(user: string, account: string, until?: number) {
    if (user !== account && until !== undefined) throw new Forbidden("Browsing other account's history is not allowed");
    if (user !== account && (await this.access.sharedContainers(user, account)).length === 0) throw new Forbidden('Not allowed');
    await this.store.ensureAccount(account, Date.now());
    const row = (await this.store.findAccount(account))!;
    const totals = await this.store.accountTotals(account);
    const out = { ...row, meta: JSON.parse(row.meta) as Record<string, string>, groups: JSON.parse(row.groups) as Record<string, string[]>, ...totals, untilTimestamp: undefined as number | undefined };
    if (until === undefined) return out;
    const before = until * 1000;
    const [{ containers, created }, asOf] = await Promise.all([this.store.containersBefore(account, before), this.store.totalsAsOf(before, { account })]);
    const stats = [...asOf.values()];
    const last = Math.max(row.created_at < before ? row.created_at : 0, created, ...stats.map((x) => x.modified));
    // An account that did not exist then answers with the time asked, as Pithos does.
    return { ...out, containers, bytes: stats.reduce((sum, x) => sum + x.bytes, 0), untilTimestamp: last > 0 ? last : before };
  }

  async setAccountMeta(user: string, account: string, meta: Record<string, string>, update: boolean, groups?: Record<string, string[]>): Promise<void> {
    this.own(user, account);
    const current = await this.account(user, account);
    const nextGroups = groups === undefined ? current.groups : update ? { ...current.groups, ...groups } : groups;
    for (const [g, members] of Object.entries(nextGroups)) if (members.length === 0) delete nextGroups[g];
    if (Object.keys(nextGroups).length > 32 || Object.values(nextGroups).some((m) => m.length > 32)) throw new BadRequest('Too many groups or group members');
    await this.store.updateAccount(account, { meta: JSON.stringify(mergeMeta(current.meta, meta, update)), groups: JSON.stringify(nextGroups), modified_at: Date.now() });
  }

  /** Accounts that share something with the user (the top-level listing). */
  sharingAccounts(user: string): Promise<string[]> {
    return this.access.sharingAccounts(user);
  }

  /** An account's containers in name order; with `until` (seconds), those that existed then, with their counts then. */
  async listContainers(user: string, account: string, opts: { marker?: string | undefined; endMarker?: string | undefined; prefix?: string | undefined; limit?: number | undefined; shared?: boolean; public?: boolean; until?: number | undefined }): Promise<ContainerAsOf[]> {
    if (user !== account && (opts.public || opts.until !== undefined)) throw new Forbidden('Not allowed');
    const query = { marker: opts.marker, endMarker: opts.endMarker, prefix: opts.prefix, createdBefore: opts.until !== undefined ? opts.until * 1000 : undefined };
    let rows: ContainerRow[];
    if (user === account && (opts.shared || opts.public)) {
      // Only containers holding shared and/or public objects.
      const keep = new Set([
        ...(opts.shared ? await this.sharingStore.containersWith(account, 'shared') : []),
        ...(opts.public ? await this.sharingStore.containersWith(account, 'public') : []),
      ]);
      rows = (await this.store.listContainers(account, { ...query, limit: this.opts.listLimit })).filter((c) => keep.has(c.name)).slice(0, this.limit(opts.limit));
    } else if (user === account) {
      rows = await this.store.listContainers(account, { ...query, limit: this.limit(opts.limit) });
    } else {
      const shared = new Set(await this.access.sharedContainers(user, account));
      if (shared.size === 0) throw new Forbidden('Not allowed');
      rows = (await this.store.listContainers(account, { ...query, limit: this.opts.listLimit })).filter((c) => shared.has(c.name)).slice(0, this.limit(opts.limit));
    }
    return opts.until === undefined ? rows : this.asOf(rows, opts.until);
  }

  /** An owner's container, now or as it was at `until` (seconds; one created later did not exist then). */
  async container(user: string, account: string, name: string, until?: number): Promise<ContainerAsOf> {
    this.own(user, account);
    const c = await this.store.findContainer(account, name);
    if (!c) throw new NotFound('Container does not exist');
    return until === undefined ? c : (await this.asOf([c], until))[0]!;
  }

  /** Containers with their object count and bytes as they were at `until` (seconds), and their last change before then. */
  private async asOf(rows: ContainerRow[], until: number): Promise<ContainerAsOf[]> {
    const before = until * 1000;
    if (rows.some((c) => c.created_at >= before)) throw new NotFound('Container does not exist');
    const stats = await this.store.totalsAsOf(before, { containerIds: rows.map((c) => c.id) });
    return rows.map((c) => {
      const s = stats.get(c.id);
      return { ...c, object_count: s?.objects ?? 0, bytes_used: s?.bytes ?? 0, until_timestamp: Math.max(c.created_at, s?.modified ?? 0) };
    });
  }

  /** Creates a container (true) or updates an existing one's policy and metadata (false). */
  async putContainer(user: string, account: string, name: string, policy: ContainerPolicy, meta: Record<string, string>): Promise<boolean> {
    this.own(user, account);
    validName(name, 256, 'Container');
    const now = Date.now();
    await this.store.ensureAccount(account, now);
    const existing = await this.store.findContainer(account, name);
    if (existing) {
      await this.store.updateContainer(existing.id, {
        ...policyChanges(policy), meta: JSON.stringify(mergeMeta(JSON.parse(existing.meta), meta, true)), modified_at: now,
      });
      return false;
    }
    try {
      await this.store.insertContainer({
        account, name, meta: JSON.stringify(meta), versioning: policy.versioning ?? this.opts.defaultVersioning, quota: policy.quota ?? 0,
        project: policy.project ?? account, created_at: now, modified_at: now, object_count: 0, bytes_used: 0,
      });
    } catch (err) {
      if (await this.store.findContainer(account, name)) return false;
      throw err;
    }
    return true;
  }

  async updateContainer(user: string, account: string, name: string, policy: ContainerPolicy, meta: Record<string, string>, update: boolean): Promise<void> {
    const c = await this.container(user, account, name);
    await this.store.updateContainer(c.id, { ...policyChanges(policy), meta: JSON.stringify(mergeMeta(JSON.parse(c.meta), meta, update)), modified_at: Date.now() });
  }

  async deleteContainer(user: string, account: string, name: string): Promise<void> {
    const c = await this.container(user, account, name);
    if (c.object_count > 0) throw new Conflict('Container is not empty');
    await this.store.deleteContainer(c.id);
  }

  /**
   * Objects of a container in name order, with Swift's prefix/delimiter folding into `subdir`
   * entries. With `details: false` (a plain-text listing) only names are read.
   */
  async listObjects(user: string, account: string, container: string, opts: { prefix?: string | undefined; delimiter?: string | undefined; marker?: string | undefined; endMarker?: string | undefined; limit?: number | undefined; path?: string | undefined; shared?: boolean; public?: boolean; meta?: string | undefined; until?: number | undefined; details?: boolean }): Promise<{ container: ContainerAsOf; entries: ListingEntry[] }> {
    if (user !== account && (opts.public || opts.until !== undefined)) throw new Forbidden('Not allowed');
    const until = opts.until;
    const c: ContainerAsOf = user === account ? await this.container(user, account, container, until) : await this.sharedContainer(user, account, container);
    // Other users see only what is shared with them (the shared objects and everything under shared
    // directories); an owner asking for `shared` or `public` sees only those.
    let granted = user === account ? undefined : await this.access.grantedPaths(user, account, container);
    if (user === account && (opts.shared || opts.public)) {
      granted = [
        ...(opts.shared ? (await this.sharingStore.sharedBy(account, container)).map((r) => r.name) : []),
        ...(opts.public ? await this.sharingStore.publicNames(account, container) : []),
      ];
    }
    const metaTest = opts.meta ? metaFilter(opts.meta) : undefined;
    const visible = (name: string) => !granted || granted.some((g) => name === g || name.startsWith(g.endsWith('/') ? g : `${g}/`));
    const limit = this.limit(opts.limit);
    let prefix = (opts.path !== undefined ? opts.path : opts.prefix ?? '').replace(/^\/+/, '');
    const delimiter = opts.path !== undefined ? '/' : opts.delimiter;
    if (prefix && delimiter && !prefix.endsWith(delimiter)) prefix += delimiter;
    const details = opts.details ?? true;
    // Names alone come from the listing index without visiting rows. With a delimiter most names
    // read fold into subdirs, so the shown columns are read afterwards for the objects listed only;
    // a meta filter, or a listing of the past, reads rows as it goes.
    const namesFirst = until === undefined && !metaTest && (delimiter !== undefined || !details);
    // Names read by walking the index skip the rest of each subdir already.
    const walked = namesFirst && delimiter !== undefined;
    const fetch = async (q: ListQuery): Promise<{ names: string[]; rows?: ListedVersion[] }> => {
      if (walked) return { names: await this.store.walkNames(c.id, { ...q, from: prefix, delimiter: delimiter! }) };
      if (namesFirst) return { names: await this.store.listNames(c.id, q) };
      const rows = until === undefined ? await this.store.listEntries(c.id, q, !!metaTest) : await this.store.listAsOf(c.id, until * 1000, q, !!metaTest);
      return { names: rows.map((r) => r.name), rows };
    };
    const out: ListingEntry[] = [];
    let after = opts.marker;
    // With a delimiter, one subdir can hide any number of names: read a few, then jump past it;
    // while no subdir comes, read more at a time.
    let batch = 32;
    read: while (out.length < limit) {
      const want = delimiter && !walked ? Math.min(batch, limit - out.length) : limit - out.length;
      const { names, rows } = await fetch({ after, from: prefix || undefined, to: prefix ? `${prefix}\u{10FFFF}` : opts.endMarker, limit: want });
      if (names.length === 0) break;
      let jumped = false;
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        if (opts.endMarker && name >= opts.endMarker) break read;
        after = name;
        if (delimiter) {
          const cut = name.indexOf(delimiter, prefix.length);
          if (cut >= 0 && cut + delimiter.length < name.length) {
            const subdir = name.slice(0, cut + delimiter.length);
            // `path` lists direct children only; a subdir the client already has (the marker) is not
            // listed again, or paging would never end.
            if (opts.path === undefined && (opts.marker === undefined || subdir > opts.marker)) out.push({ kind: 'subdir', name: subdir });
            after = `${subdir}\u{10FFFF}`;
            if (walked) { if (out.length >= limit) break; continue; }
            jumped = true;
            break;
          }
        }
        if (!visible(name) || (metaTest && !metaTest(JSON.parse(rows![i]!.meta!)))) continue;
        out.push({ kind: 'object', name, version: rows?.[i] });
        if (out.length >= limit) break;
      }
      if (!jumped && names.length < want) break;
      batch = jumped ? 32 : Math.min(batch * 4, limit);
    }
    if (!namesFirst || !details) return { container: c, entries: out };
    // The shown columns of the objects listed; one removed meanwhile is left out.
    const found = new Map<string, ListedVersion>();
    const wanted = out.filter((e) => e.kind === 'object').map((e) => e.name);
    for (const v of await this.store.entriesByName(c.id, wanted)) found.set(v.name, v);
    const entries: ListingEntry[] = [];
    for (const e of out) {
      if (e.kind === 'subdir') entries.push(e);
      else { const version = found.get(e.name); if (version) entries.push({ kind: 'object', name: e.name, version }); }
    }
    return { container: c, entries };
  }

  /** The current version of an object, or a given one. */
  async object(user: string, account: string, container: string, name: string, version?: number): Promise<{ container: ContainerRow; version: VersionRow; grant?: Grant | undefined }> {
    let grant: Grant | undefined;
    if (user !== account) {
      grant = await this.access.grant(user, account, container, name);
      // Others get 403 for anything not shared with them, whether it exists or not.
      if (!grant && !(await this.sharingStore.linkOf(account, container, name))) throw new Forbidden('Not allowed');
    }
    const c = await this.store.findContainer(account, container);
    if (!c) throw new NotFound('Container does not exist');
    const v = version === undefined ? await this.store.current(c.id, name) : await this.store.version(c.id, name, version);
    if (!v || v.cluster === 2) throw new NotFound('Object does not exist');
    return { container: c, version: v, grant };
  }

  /** The container of another account, if something in it is shared with the user. */
  private async sharedContainer(user: string, account: string, container: string): Promise<ContainerRow> {
    if ((await this.access.grantedPaths(user, account, container)).length === 0) throw new Forbidden('Not allowed');
    const c = await this.store.findContainer(account, container);
    if (!c) throw new NotFound('Container does not exist');
    return c;
  }

  /** The container an object write goes to: the owner's, or another's where the user may write that path. */
  private async writableContainer(user: string, account: string, container: string, name: string): Promise<ContainerRow> {
    if (user !== account && (await this.access.grant(user, account, container, name))?.level !== 'write') throw new Forbidden('Not allowed');
    const c = await this.store.findContainer(account, container);
    if (!c) throw new NotFound('Container does not exist');
    return c;
  }

  /** Sharing of a path, as the owner sees it, and its public link. */
  async sharingOf(account: string, container: string, name: string): Promise<{ sharing?: Sharing | undefined; publicToken?: string | undefined }> {
    const [row] = await this.sharingStore.permissionsOf(account, container, [name]);
    const link = await this.sharingStore.linkOf(account, container, name);
    return { sharing: row ? { read: JSON.parse(row.readers), write: JSON.parse(row.writers) } : undefined, publicToken: link?.token };
  }

  /** Shares a path (only its owner may), or stops sharing it (null). */
  async setSharing(user: string, account: string, container: string, name: string, sharing: Sharing | null): Promise<void> {
    this.own(user, account);
    await this.object(user, account, container, name);
    if (sharing === null) await this.sharingStore.deletePermissions(account, container, name);
    else await this.sharingStore.setPermissions({ account, container, name, readers: JSON.stringify(sharing.read), writers: JSON.stringify(sharing.write) });
  }

  /** Publishes an object (a stable random token) or unpublishes it; owners and writers may. */
  async setPublic(user: string, account: string, container: string, name: string, publish: boolean): Promise<void> {
    const { grant } = await this.object(user, account, container, name);
    if (user !== account && grant?.level !== 'write') throw new Forbidden('Not allowed');
    if (!publish) { await this.sharingStore.deleteLink(account, container, name); return; }
    if (await this.sharingStore.linkOf(account, container, name)) return;
    await this.sharingStore.insertLink({ token: publicToken(), account, container, name, created_at: Date.now() });
  }

  /** The object a public token names, read without any user. */
  async publicObject(token: string): Promise<{ account: string; version: VersionRow }> {
    const link = await this.sharingStore.findLink(token);
    if (!link) throw new NotFound('Object does not exist');
    const c = await this.store.findContainer(link.account, link.container);
    const v = c ? await this.store.current(c.id, link.name) : undefined;
    if (!v) throw new NotFound('Object does not exist');
    return { account: link.account, version: v };
  }

  /** Every version of an object, oldest first; listed even when the object is deleted now. */
  async versions(user: string, account: string, container: string, name: string): Promise<VersionRow[]> {
    if (user !== account && !(await this.access.grant(user, account, container, name))) throw new Forbidden('Not allowed');
    const c = await this.store.findContainer(account, container);
    if (!c) throw new NotFound('Container does not exist');
    const all = await this.store.versionsOf(c.id, name);
    if (all.length === 0) throw new NotFound('Object does not exist');
    return all;
  }

  /** Writes an object from a byte stream: blocks first, then the version, then the charge is accepted. */
  async putObjectStream(user: string, account: string, container: string, name: string, body: Readable, attrs: ObjectAttributes) {
    const c = await this.writableContainer(user, account, container, name);
    validName(name, 1024, 'Object');
    const { hashes, size, md5 } = await storeStream(body, this.policy, this.blocks, this.opts.maxObjectSize, this.hashing);
    if (attrs.etag && attrs.etag.replace(/"/g, '').toLowerCase() !== md5) throw new ApiError(422, 'unprocessableEntity', 'Object ETag does not match');
    return this.commitVersion(user, c, name, hashes, size, { ...attrs, checksum: md5 });
  }

  /** Writes an object from a hashmap; answers with the hashes the block store lacks instead, if any. */
  async putObjectHashmap(user: string, account: string, container: string, name: string, size: number, hashes: string[], attrs: ObjectAttributes) {
    const c = await this.writableContainer(user, account, container, name);
    validName(name, 1024, 'Object');
    if (!Number.isSafeInteger(size) || size < 0) throw new BadRequest('Invalid "bytes"');
    if (!hashes.every((h) => isBlockHash(h, this.policy.algorithm))) throw new BadRequest('Invalid hash in hashmap');
    const expected = Math.ceil(size / this.policy.blockSize);
    const empty = merkleRoot([], this.policy.algorithm);
    const blocksOnly = size === 0 ? hashes.filter((h) => h !== empty) : hashes;
    if (blocksOnly.length !== expected) throw new BadRequest(`A hashmap of ${size} bytes has ${expected} blocks, not ${hashes.length}`);
    const missing = [...new Set(await this.blocks.missing([...new Set(blocksOnly)]))];
    if (missing.length) return { missing };
    const md5 = await md5Of(blocksOnly, size, this.policy.blockSize, this.blocks, this.hashing);
    return { missing: [], ...(await this.commitVersion(user, c, name, blocksOnly, size, { ...attrs, checksum: md5 })) };
  }

  /** Stores uploaded bytes as blocks (POST to a container with application/octet-stream); returns their hashes. */
  async uploadBlocks(user: string, account: string, container: string, body: Readable): Promise<string[]> {
    await this.container(user, account, container);
    return (await storeStream(body, this.policy, this.blocks, this.opts.maxObjectSize, this.hashing)).hashes;
  }

  /** Copies (or moves) an object's current version to another name, blocks shared. */
  async copyObject(user: string, from: { account: string; container: string; name: string; version?: number | undefined }, to: { account: string; container: string; name: string }, attrs: Partial<ObjectAttributes> & { meta?: Record<string, string> }, move: boolean) {
    const src = await this.object(user, from.account, from.container, from.name, from.version);
    if (move) this.own(user, from.account);
    const dst = await this.writableContainer(user, to.account, to.container, to.name);
    validName(to.name, 1024, 'Object');
    const merged: ObjectAttributes = {
      contentType: attrs.contentType ?? src.version.content_type,
      checksum: src.version.checksum,
      contentEncoding: attrs.contentEncoding ?? src.version.content_encoding,
      contentDisposition: attrs.contentDisposition ?? src.version.content_disposition,
      manifest: attrs.manifest ?? src.version.manifest,
      meta: mergeMeta(JSON.parse(src.version.meta), attrs.meta ?? {}, true),
    };
    const sameObject = src.container.id === dst.id && from.name === to.name;
    const hashes = hashesOf(src.version, this.hexLength);
    await this.takeOver(hashes);
    // A copy is a new object (new UUID); a move, or a restore onto itself, is the same one.
    const result = await this.commitVersion(user, dst, to.name, hashes, src.version.size, merged, move || sameObject ? src.version.uuid : randomUUID());
    if (move && !sameObject) await this.deleteObject(user, from.account, from.container, from.name);
    return result;
  }

  /**
   * Counts another version's blocks as used now, before a new version refers to them: the garbage
   * collector keeps any block used after its cut-off, so the source being deleted meanwhile cannot
   * take the blocks along. A block already collected (the source went first) refuses the write.
   */
  private async takeOver(hashes: string[]): Promise<void> {
    if (hashes.length === 0) return;
    if ((await this.blocks.missing([...new Set(hashes)])).length > 0) throw new Conflict('The source object was removed meanwhile (its blocks are gone)');
  }

  async setObjectMeta(user: string, account: string, container: string, name: string, attrs: Partial<ObjectAttributes>, update: boolean) {
    const { container: c, version: v, grant } = await this.object(user, account, container, name);
    if (user !== account && grant?.level !== 'write') throw new Forbidden('Not allowed');
    const meta = mergeMeta(JSON.parse(v.meta), attrs.meta ?? {}, update);
    return this.commitVersion(user, c, name, hashesOf(v, this.hexLength), v.size, {
      contentType: attrs.contentType ?? v.content_type, checksum: v.checksum, contentEncoding: attrs.contentEncoding ?? v.content_encoding,
      contentDisposition: attrs.contentDisposition ?? v.content_disposition, manifest: attrs.manifest ?? v.manifest, meta,
    }, v.uuid);
  }

  /**
   * Updates an object's bytes in place (Pithos' POST with Content-Range): a new version whose
   * block list is the old one with the range rewritten (only the blocks it reaches are stored
   * anew), grown or cut as asked, charged for the size difference like any write. The checks and
   * their answers are Pithos': an offset past the end or a range contradicting the object's size
   * is 416, a length not matching the bytes given is 400, writing needs write access to the object
   * (and read access to a source object). Updates of one object are applied one at a time; a
   * version written meanwhile by another kind of write (or another node) refuses the update (409).
   */
  async updateObject(user: string, account: string, container: string, name: string, u: ObjectUpdate) {
    return this.updates.run(JSON.stringify([account, container, name]), async () => {
      const { container: c, version: v, grant } = await this.object(user, account, container, name);
      if (user !== account && grant?.level !== 'write') throw new Forbidden('Not allowed');
      u.check?.(v.checksum || v.hash);
      const { blockSize } = this.policy;
      const offset = u.offset ?? v.size;
      if (offset > v.size) throw new RangeNotSatisfiable('Supplied offset is beyond object limits');
      let length = u.length;
      let pieces: AsyncIterable<Piece>;
      if ('source' in u.data) {
        const { source } = u.data;
        const src = (await this.object(user, source.account, source.container, source.name, source.version)).version;
        if (length === undefined) length = src.size;
        else if (length > src.size) throw new BadRequest('Object length is smaller than range length');
        const hashes = hashesOf(src, this.hexLength);
        await this.takeOver(hashes);
        pieces = objectPieces({ hashes, size: src.size }, length, offset % blockSize === 0, blockSize, this.blocks);
      } else {
        const { declared } = u.data;
        if (length === undefined) length = declared;
        else if (declared !== undefined && declared !== length) throw new BadRequest('Content length does not match range length');
        pieces = bodyPieces(u.data.body);
      }
      if (u.total !== undefined && (u.total !== v.size || offset >= v.size || (length !== undefined && length > 0 && offset + length > v.size))) {
        throw new RangeNotSatisfiable('Supplied range will change provided object limits');
      }
      const base = { hashes: hashesOf(v, this.hexLength), size: v.size };
      const written = await writeRange(base, offset, pieces, this.policy, this.blocks, this.hashing, this.opts.maxObjectSize);
      // A chunked body is read whole before its length can be compared with the range's.
      if (length !== undefined && written.written !== length) throw new BadRequest('Content length does not match range length');
      const result = u.truncate === undefined ? written : await truncateBlocks(written, u.truncate, this.policy, this.blocks, this.hashing);
      const md5 = await md5Of(result.hashes, result.size, blockSize, this.blocks, this.hashing);
      return this.commitVersion(user, c, name, result.hashes, result.size, {
        contentType: v.content_type, checksum: md5, contentEncoding: u.contentEncoding ?? v.content_encoding,
        contentDisposition: u.contentDisposition ?? v.content_disposition, manifest: v.manifest, meta: mergeMeta(JSON.parse(v.meta), u.meta, u.update),
      }, v.uuid, v.serial);
    });
  }

  /** Deletes an object: its current version becomes history (or goes), and its bytes stop counting. */
  async deleteObject(user: string, account: string, container: string, name: string): Promise<void> {
    this.own(user, account);
    const { container: c, version: v } = await this.object(user, account, container, name);
    await this.charged(c, -v.size, `${account}/${container}/${name}`, async (s, serial) => {
      const now = Date.now();
      if (c.versioning === 'none') await s.deleteVersion(v.serial);
      else {
        await s.setCluster(v.serial, HISTORY);
        // A delete marker: history listings (`until`) know when the object stopped existing.
        await s.insertVersion({
          container_id: c.id, name, cluster: DELETED, size: 0, hash: '', hashmap: '', checksum: '', content_type: '', content_encoding: '',
          content_disposition: '', manifest: '', uuid: v.uuid, mtime: now, muser: user, meta: '{}',
        });
      }
      await s.addToContainer(c.id, -1, -v.size, now);
      if (serial !== undefined) await s.recordCommission(serial, now);
    });
    // A deleted path keeps neither its sharing nor its public link.
    await this.sharingStore.deletePermissions(account, container, name);
    await this.sharingStore.deleteLink(account, container, name);
  }

  /** Commits a new current version of `name`; with `basedOn`, only if that version is still the current one. */
  private async commitVersion(user: string, c: ContainerRow, name: string, hashes: string[], size: number, attrs: ObjectAttributes, keepUuid?: string, basedOn?: number) {
    const previous = await this.store.current(c.id, name);
    if (basedOn !== undefined && previous?.serial !== basedOn) throw new Conflict('The object changed during the update');
    const delta = size - (previous?.size ?? 0);
    if (c.quota > 0 && c.bytes_used + delta > c.quota) throw new QuotaExceeded(`Container quota exceeded: ${c.bytes_used + delta} > ${c.quota} bytes`);
    const hash = merkleRoot(hashes, this.policy.algorithm);
    const uuid = keepUuid ?? previous?.uuid ?? randomUUID();
    const serial = await this.charged(c, delta, `${c.account}/${c.name}/${name}`, async (s, commission) => {
      const now = Date.now();
      const old = await s.current(c.id, name);
      if (basedOn !== undefined && old?.serial !== basedOn) throw new Conflict('The object changed during the update');
      if (old) {
        if (c.versioning === 'none') await s.deleteVersion(old.serial); else await s.setCluster(old.serial, HISTORY);
      }
      const created = await s.insertVersion({
        container_id: c.id, name, cluster: CURRENT, size, hash, hashmap: hashes.join(''), checksum: attrs.checksum ?? '', content_type: attrs.contentType,
        content_encoding: attrs.contentEncoding ?? '', content_disposition: attrs.contentDisposition ?? '', manifest: attrs.manifest ?? '', uuid, mtime: now, muser: user,
        meta: JSON.stringify(attrs.meta),
      });
      await s.addToContainer(c.id, old ? 0 : 1, size - (old?.size ?? 0), now);
      if (commission !== undefined) await s.recordCommission(commission, now);
      return created;
    });
    return { hash, etag: attrs.checksum || hash, version: serial, uuid };
  }

  /**
   * Runs a database change charged with `delta` bytes: the commission is issued first (refused
   * over quota with nothing done), recorded within the change, and accepted once it is committed.
   */
  private async charged<T>(c: ContainerRow, delta: number, name: string, change: (s: ObjectStore, serial: number | undefined) => Promise<T>): Promise<T> {
    if (delta === 0) return this.store.transaction((s) => change(s, undefined));
    const serial = await this.quota.issueCommission({ provisions: chargeProvisions(c.account, c.project, DISKSPACE, delta), name, force: delta < 0 });
    let result: T;
    try {
      result = await this.store.transaction((s) => change(s, serial));
    } catch (err) {
      await this.quota.rejectCommission(serial).catch((e) => this.log.warn({ serial, err: (e as Error).message }, 'commission left for reconciliation'));
      throw err;
    }
    await this.quota.acceptCommission(serial).catch((e) => this.log.warn({ serial, err: (e as Error).message }, 'commission left for reconciliation'));
    return result;
  }

  /** Purges the history of an object (or of a whole container) older than `until` seconds. */
  async purgeHistory(user: string, account: string, container: string, until: number, name?: string): Promise<number> {
    const c = await this.container(user, account, container);
    return this.store.purgeHistory(c.id, until * 1000, name);
  }

  /**
   * The parts of a large object: current objects of the manifest's container whose names start
   * with its prefix, in name order (read as the owner of the manifest).
   */
  async manifestParts(user: string, account: string, manifest: string): Promise<VersionRow[]> {
    const slash = manifest.indexOf('/');
    const container = slash < 0 ? manifest : manifest.slice(0, slash);
    const prefix = slash < 0 ? '' : manifest.slice(slash + 1);
    const c = await this.store.findContainer(account, container);
    if (!c) return [];
    this.own(user, account);
    const parts: VersionRow[] = [];
    let after: string | undefined;
    for (;;) {
      const rows = await this.store.listCurrent(c.id, { after, from: prefix || undefined, to: prefix ? `${prefix}\u{10FFFF}` : undefined, limit: 1000 });
      parts.push(...rows);
      if (rows.length < 1000) return parts;
      after = rows.at(-1)!.name;
    }
  }

  /** The ETag of an object now, or undefined when it does not exist (for conditional writes). */
  async currentEtag(user: string, account: string, container: string, name: string): Promise<string | undefined> {
    try {
      const { version } = await this.object(user, account, container, name);
      return version.checksum || version.hash;
    } catch (err) {
      if (err instanceof NotFound) return undefined;
      throw err;
    }
  }

  /** Decides a pending commission of this service: accepted if its change was committed. */
  async committed(serial: number): Promise<boolean> {
    return this.store.hasCommission(serial);
  }

  private limit(asked: number | undefined): number {
    return asked === undefined || !Number.isSafeInteger(asked) || asked <= 0 ? this.opts.listLimit : Math.min(asked, this.opts.listLimit);
  }
}

/** A range that does not fit the object (416). */
export class RangeNotSatisfiable extends ApiError {
  constructor(message: string) { super(416, 'rangeNotSatisfiable', message); }
}

/** A container-policy refusal (413), as Pithos answers a write over the container's quota. */
export class QuotaExceeded extends ApiError {
  constructor(message: string) { super(413, 'requestEntityTooLarge', message); }
}

function validName(name: string, max: number, what: string): void {
  if (!name || name.length > max) throw new BadRequest(`${what} name must be 1 to ${max} characters`);
}

function policyChanges(p: ContainerPolicy) {
  return {
    ...(p.versioning !== undefined ? { versioning: p.versioning } : {}),
    ...(p.quota !== undefined ? { quota: p.quota } : {}),
    ...(p.project !== undefined ? { project: p.project } : {}),
  };
}

/**
 * The `meta=` listing filter: comma-separated `key` (present), `!key` (absent) or `key<op>value`
 * with op one of = != <= >= < > (string comparison), keys named as in X-Object-Meta-<Key>.
 */
export function metaFilter(expr: string): (meta: Record<string, string>) => boolean {
  const terms = expr.split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
    const m = /^(!?)([^!<>=]+?)\s*(?:(!=|<=|>=|=|<|>)\s*(.*))?$/.exec(t);
    if (!m) throw new BadRequest(`Bad meta filter "${t}"`);
    return { negate: m[1] === '!', key: m[2]!.trim().replace(/_/g, '-').toLowerCase(), op: m[3], value: m[4] ?? '' };
  });
  return (meta) => {
    const lower = Object.fromEntries(Object.entries(meta).map(([k, v]) => [k.toLowerCase(), v]));
    return terms.every((t) => {
      const v = lower[t.key];
      if (!t.op) return t.negate ? v === undefined : v !== undefined;
      if (v === undefined) return false;
      switch (t.op) {
        case '=': return v === t.value;
        case '!=': return v !== t.value;
        case '<': return v < t.value;
        case '>': return v > t.value;
        case '<=': return v <= t.value;
        default: return v >= t.value;
      }
    });
  };
}

/** New metadata: replacing (all given) or updating (merged; an empty value removes a key). */
export function mergeMeta(current: Record<string, string>, given: Record<string, string>, update: boolean): Record<string, string> {
  const base = update ? { ...current } : {};
  for (const [k, v] of Object.entries(given)) {
    if (v === '') delete base[k]; else base[k] = v;
  }
  return base;
}
