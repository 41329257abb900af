import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Busboy, type BusboyHeaders } from '@fastify/busboy';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, BadRequest, Unauthorized } from '../../common/errors.js';
import type { IdentityClient } from '../../common/identity.js';
import { userOf } from '../../common/http/auth.js';
import { resource } from '../../common/http/routes.js';
import type { QuotaClient } from '../../common/quota.js';
import type { BlockStore } from '../backends/block-store.js';
import { readExtents, type Extent } from '../logic/blocks.js';
import { DISKSPACE, hashesOf, RangeNotSatisfiable, type ContainerAsOf, type ListingEntry, type Objects } from '../logic/objects.js';
import { formatSharing, parseSharing } from '../logic/sharing.js';
import type { VersionRow } from '../store/objects.js';
import { objectListingJson, objectListingText, objectListingXml } from './listing.js';
import { dateHeader, flag, httpDate, intParam, isoMicro, listingFormat, metaFrom, parseContentRange, parseRanges, sendMeta, xmlEscape } from './headers.js';

export interface ObjectApiDeps { objects: Objects; blocks: BlockStore; quota: QuotaClient; baseUrl: () => string; identity: IdentityClient }

type Params = { account: string; container?: string; '*'?: string };

const decode = (s: string) => { try { return decodeURIComponent(s); } catch { throw new BadRequest('Bad path encoding'); } };
const names = (request: FastifyRequest) => {
  const p = request.params as Params;
  return { account: decode(p.account), container: p.container === undefined ? '' : decode(p.container), name: p['*'] === undefined ? '' : decode(p['*']) };
};
// Bodies are never buffered: a parsed stream when labelled, else the raw request.
const bodyStream = (request: FastifyRequest): Readable => (request.body instanceof Readable ? request.body : request.raw);

/** The named file field of a multipart form, as a stream (other fields and files are discarded). */
function formFile(request: FastifyRequest, field: string): Promise<{ stream: Readable; mimeType: string }> {
  return new Promise((resolve, reject) => {
    let parser;
    try {
      parser = Busboy({ headers: request.headers as BusboyHeaders, limits: { files: 1, fields: 100 } });
    } catch (err) {
      reject(new BadRequest(`Malformed form: ${(err as Error).message}`));
      return;
    }
    let found = false;
    parser.on('file', (name, stream, _filename, _encoding, mimeType) => {
      if (name === field && !found) { found = true; resolve({ stream, mimeType }); } else stream.resume();
    });
    parser.on('finish', () => { if (!found) reject(new BadRequest(`Missing ${field} field`)); });
    parser.on('error', (err) => { if (!found) reject(new BadRequest(`Malformed form: ${(err as Error).message}`)); });
    bodyStream(request).pipe(parser);
  });
}

async function readJson(request: FastifyRequest, limit = 16 * 1024 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of bodyStream(request) as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new BadRequest('Body too large');
    chunks.push(c);
  }
  try { return JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { throw new BadRequest('Invalid JSON body'); }
}

/** Answers a listing in the asked format; an empty plain listing is 204, as Swift does. */
function sendListing(request: FastifyRequest, reply: FastifyReply, rows: { name: string; json: Record<string, unknown> }[], root: string) {
  const format = listingFormat(request);
  if (format === 'json') return reply.type('application/json; charset=utf-8').send(rows.map((r) => r.json));
  if (format === 'xml') {
    const item = root === 'accounts' ? 'account' : root === 'account' ? 'container' : 'object';
    const items = rows.map((r) => r.json['subdir'] !== undefined
      ? `<subdir name="${xmlEscape(String(r.json['subdir']))}"><name>${xmlEscape(String(r.json['subdir']))}</name></subdir>`
      : `<${item}>${Object.entries(r.json).map(([k, v]) => `<${k}>${xmlEscape(typeof v === 'object' ? JSON.stringify(v) : String(v))}</${k}>`).join('')}</${item}>`);
    return reply.type('application/xml; charset=utf-8').send(`<?xml version="1.0" encoding="UTF-8"?>\n<${root}>${items.join('')}</${root}>`);
  }
  if (rows.length === 0) return reply.code(204).send();
  return reply.type('text/plain; charset=utf-8').send(rows.map((r) => r.name).join('\n') + '\n');
}

/**
 * Answers an object listing; an empty plain listing is 204. The text of thousands of entries is
 * encoded once, here: given a string, the server would measure its UTF-8 length and then encode
 * it again to write it.
 */
function sendObjectListing(reply: FastifyReply, format: 'text' | 'json' | 'xml', entries: ListingEntry[]) {
  if (format === 'text') {
    if (entries.length === 0) return reply.code(204).send();
    return reply.type('text/plain; charset=utf-8').send(Buffer.from(objectListingText(entries)));
  }
  if (format === 'json') return reply.type('application/json; charset=utf-8').send(Buffer.from(objectListingJson(entries)));
  return reply.type('application/xml; charset=utf-8').send(Buffer.from(objectListingXml(entries)));
}

/** Checks If-Modified-Since / If-Unmodified-Since; true when the reply was sent. */
function timeConditions(request: FastifyRequest, reply: FastifyReply, modified: number): boolean {
  const since = dateHeader(request, 'if-modified-since');
  if (since !== undefined && Math.floor(modified / 1000) * 1000 <= since) { void reply.code(304).send(); return true; }
  const unmodified = dateHeader(request, 'if-unmodified-since');
  if (unmodified !== undefined && Math.floor(modified / 1000) * 1000 > unmodified) throw new ApiError(412, 'preconditionFailed', 'Precondition failed');
  return false;
}

function etagConditions(request: FastifyRequest, reply: FastifyReply, etag: string | undefined): boolean {
  const list = (h: string | string[] | undefined) => (typeof h === 'string' ? h.split(',').map((x) => x.trim().replace(/^W\//, '').replace(/"/g, '').toLowerCase()) : undefined);
  const match = list(request.headers['if-match']);
  if (match && !(etag !== undefined && (match.includes('*') || match.includes(etag)))) throw new ApiError(412, 'preconditionFailed', 'Precondition failed');
  const none = list(request.headers['if-none-match']);
  if (none && etag !== undefined && (none.includes('*') || none.includes(etag))) {
    if (request.method === 'GET' || request.method === 'HEAD') { void reply.code(304).header('ETag', etag).send(); return true; }
    throw new ApiError(412, 'preconditionFailed', 'Precondition failed');
  }
  return false;
}

/** A container's headers; counts as of a past time when it is one (then with X-Container-Until-Timestamp). */
function containerHeaders(reply: FastifyReply, c: ContainerAsOf, objects: Objects): void {
  reply.header('X-Container-Object-Count', String(c.object_count)).header('X-Container-Bytes-Used', String(c.bytes_used))
    .header('X-Container-Block-Size', String(objects.policy.blockSize)).header('X-Container-Block-Hash', objects.policy.algorithm)
    .header('X-Container-Policy-Quota', String(c.quota)).header('X-Container-Policy-Versioning', c.versioning)
    .header('X-Container-Policy-Project', c.project).header('X-Container-Object-Meta', '')
    .header('Last-Modified', httpDate(c.modified_at));
  if (c.until_timestamp !== undefined) reply.header('X-Container-Until-Timestamp', httpDate(c.until_timestamp));
  sendMeta(reply, 'X-Container-Meta-', JSON.parse(c.meta));
}

function objectHeaders(reply: FastifyReply, v: VersionRow): void {
  reply.header('ETag', v.checksum || v.hash).header('X-Object-Hash', v.hash).header('X-Object-UUID', v.uuid)
    .header('X-Object-Version', String(v.serial)).header('X-Object-Version-Timestamp', httpDate(v.mtime))
    .header('X-Object-Modified-By', v.muser).header('Last-Modified', httpDate(v.mtime)).header('Content-Type', v.content_type);
  if (v.content_encoding) reply.header('Content-Encoding', v.content_encoding);
  if (v.content_disposition) reply.header('Content-Disposition', v.content_disposition);
  if (v.manifest) reply.header('X-Object-Manifest', v.manifest);
  sendMeta(reply, 'X-Object-Meta-', JSON.parse(v.meta));
}

/** Account groups from `X-Account-Group-<name>: uuid1,uuid2` headers, if any were sent. */
function groupsFrom(request: FastifyRequest): Record<string, string[]> | undefined {
  let out: Record<string, string[]> | undefined;
  for (const [header, value] of Object.entries(request.headers)) {
    if (!header.startsWith('x-account-group-') || typeof value !== 'string') continue;
    const name = decode(header.slice('x-account-group-'.length)).toLowerCase();
    if (!name || /[-_]/.test(name)) throw new BadRequest(`Invalid group name "${name}"`);
    (out ??= {})[name] = [...new Set(value.replace(/\s+/g, '').split(',').filter(Boolean).map((m) => m.toLowerCase()))];
  }
  return out;
}

/** The policy headers of a container request. */
function policyFrom(request: FastifyRequest) {
  const quota = request.headers['x-container-policy-quota'];
  const versioning = request.headers['x-container-policy-versioning'];
  const project = request.headers['x-container-policy-project'];
  if (quota !== undefined && (typeof quota !== 'string' || !/^\d+$/.test(quota.trim()))) throw new BadRequest('Invalid quota policy');
  if (versioning !== undefined && versioning !== 'auto' && versioning !== 'none') throw new BadRequest('Invalid versioning policy');
  return {
    quota: typeof quota === 'string' ? Number(quota.trim()) : undefined,
    versioning: versioning as 'auto' | 'none' | undefined,
    project: typeof project === 'string' ? project.trim() : undefined,
  };
}

/** The Swift-compatible object API with Pithos' extensions, under `/pithos/object-store/v1`. */
export async function objectApi(app: FastifyInstance, deps: ObjectApiDeps): Promise<void> {
  const { objects, blocks } = deps;

  resource(app, '/', {
    GET: async (request, reply) => {
      if (!request.user) {
        // Swift's v1 authentication: the user (uuid or email) and their API token as the key.
        const user = request.headers['x-auth-user'];
        const key = request.headers['x-auth-key'];
        if (typeof user !== 'string' || typeof key !== 'string' || !user || !key) throw new BadRequest('Missing X-Auth-User or X-Auth-Key header');
        const who = await deps.identity.authenticate(key);
        if (user !== who.uuid && user.toLowerCase() !== who.email.toLowerCase()) throw new Unauthorized('X-Auth-Key does not belong to X-Auth-User');
        return reply.code(204).header('X-Auth-Token', key).header('X-Storage-Url', `${deps.baseUrl()}/pithos/object-store/v1/${who.uuid}`).send();
      }
      const accounts = await objects.sharingAccounts(userOf(request).uuid);
      return sendListing(request, reply, accounts.map((a) => ({ name: a, json: { name: a } })), 'accounts');
    },
  });

  /** Sets the account's headers; true when a conditional request was answered already. */
  const accountHeaders = async (request: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    const { account } = names(request);
    const a = await objects.account(userOf(request).uuid, account, intParam(request, 'until'));
    const quotas = await deps.quota.userQuotas({ users: [account] });
    const limit = Object.values(quotas[account] ?? {}).reduce((sum, p) => sum + (p[DISKSPACE]?.limit ?? 0), 0);
    const modified = Math.max(a.modified, a.modified_at);
    reply.header('X-Account-Container-Count', String(a.containers)).header('X-Account-Bytes-Used', String(a.bytes))
      .header('X-Account-Policy-Quota', String(limit)).header('Last-Modified', httpDate(modified));
    if (a.untilTimestamp !== undefined) reply.header('X-Account-Until-Timestamp', httpDate(a.untilTimestamp));
    sendMeta(reply, 'X-Account-Meta-', a.meta);
    for (const [g, members] of Object.entries(a.groups)) reply.header(`X-Account-Group-${g}`, members.join(','));
    return timeConditions(request, reply, modified);
  };
  resource(app, '/:account', {
    HEAD: async (request, reply) => ((await accountHeaders(request, reply)) ? reply : reply.code(204).send()),
    GET: async (request, reply) => {
      if (await accountHeaders(request, reply)) return reply;
      const { account: name } = names(request);
      const q = request.query as Record<string, string | undefined>;
      const rows = await objects.listContainers(userOf(request).uuid, name, {
        marker: q['marker'], endMarker: q['end_marker'], prefix: q['prefix'], limit: intParam(request, 'limit'), shared: flag(request, 'shared'), public: flag(request, 'public'),
        until: intParam(request, 'until'),
      });
      return sendListing(request, reply, rows.map((c) => ({
        name: c.name,
        json: {
          name: c.name, count: c.object_count, bytes: c.bytes_used, last_modified: isoMicro(c.modified_at),
          ...(c.until_timestamp !== undefined ? { x_container_until_timestamp: isoMicro(c.until_timestamp) } : {}),
          x_container_policy: { quota: String(c.quota), versioning: c.versioning, project: c.project },
        },
      })), 'account');
    },
    POST: async (request, reply) => {
      const { account: name } = names(request);
      await objects.setAccountMeta(userOf(request).uuid, name, metaFrom(request, 'x-account-meta-'), flag(request, 'update'), groupsFrom(request));
      return reply.code(202).send();
    },
  });

  resource(app, '/:account/:container', {
    HEAD: async (request, reply) => {
      const { account, container } = names(request);
      const c = await objects.container(userOf(request).uuid, account, container, intParam(request, 'until'));
      containerHeaders(reply, c, objects);
      if (timeConditions(request, reply, c.modified_at)) return reply;
      return reply.code(204).send();
    },
    GET: async (request, reply) => {
      const { account, container } = names(request);
      const q = request.query as Record<string, string | undefined>;
      const format = listingFormat(request);
      const { container: c, entries } = await objects.listObjects(userOf(request).uuid, account, container, {
        prefix: q['prefix'], delimiter: q['delimiter'] || undefined, marker: q['marker'], endMarker: q['end_marker'], limit: intParam(request, 'limit'), path: q['path'],
        shared: flag(request, 'shared'), public: flag(request, 'public'), meta: q['meta'], until: intParam(request, 'until'), details: format !== 'text',
      });
      containerHeaders(reply, c, objects);
      if (timeConditions(request, reply, c.modified_at)) return reply;
      return sendObjectListing(reply, format, entries);
    },
    PUT: async (request, reply) => {
      const { account, container } = names(request);
      const created = await objects.putContainer(userOf(request).uuid, account, container, policyFrom(request), metaFrom(request, 'x-container-meta-'));
      return reply.code(created ? 201 : 202).send();
    },
    POST: async (request, reply) => {
      const { account, container } = names(request);
      const user = userOf(request).uuid;
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim();
      const length = Number(request.headers['content-length'] ?? 0);
      if (type === 'application/octet-stream' && (length > 0 || request.headers['transfer-encoding'] === 'chunked')) {
        const hashes = await objects.uploadBlocks(user, account, container, bodyStream(request));
        const format = listingFormat(request, 'json');
        if (format === 'xml') return reply.code(202).type('application/xml; charset=utf-8').send(`<?xml version="1.0" encoding="UTF-8"?>\n<items>${hashes.map((h) => `<item>${h}</item>`).join('')}</items>`);
        if (format === 'text') return reply.code(202).type('text/plain; charset=utf-8').send(hashes.join('\n') + '\n');
        return reply.code(202).type('application/json; charset=utf-8').send(hashes);
      }
      await objects.updateContainer(user, account, container, policyFrom(request), metaFrom(request, 'x-container-meta-'), flag(request, 'update'));
      return reply.code(202).send();
    },
    DELETE: async (request, reply) => {
      const { account, container } = names(request);
      const until = intParam(request, 'until');
      if (until !== undefined) await objects.purgeHistory(userOf(request).uuid, account, container, until);
      else await objects.deleteContainer(userOf(request).uuid, account, container);
      return reply.code(204).send();
    },
  });

  const attrsFrom = (request: FastifyRequest) => ({
    contentType: typeof request.headers['content-type'] === 'string' ? request.headers['content-type'] : 'application/octet-stream',
    contentEncoding: request.headers['content-encoding'],
    contentDisposition: typeof request.headers['content-disposition'] === 'string' ? request.headers['content-disposition'] : undefined,
    etag: typeof request.headers['etag'] === 'string' ? request.headers['etag'] : undefined,
    manifest: typeof request.headers['x-object-manifest'] === 'string' ? decode(request.headers['x-object-manifest']).replace(/^\/+/, '') : undefined,
    meta: metaFrom(request, 'x-object-meta-'),
  });

  /** Applies `X-Object-Sharing` and `X-Object-Public` of a write, when given. */
  const applySharing = async (request: FastifyRequest) => {
    const { account, container, name } = names(request);
    const user = userOf(request).uuid;
    const sharing = request.headers['x-object-sharing'];
    if (typeof sharing === 'string') await objects.setSharing(user, account, container, name, parseSharing(decode(sharing)));
    const pub = request.headers['x-object-public'];
    if (typeof pub === 'string') {
      const v = pub.replace(/\s+/g, '').toLowerCase();
      if (v !== 'true' && v !== 'false' && v !== '') throw new BadRequest('X-Object-Public must be true or false');
      await objects.setPublic(user, account, container, name, v === 'true');
    }
  };
  /** Refuses a sharing change from anyone but the owner before any byte is written. */
  const checkSharingRights = (request: FastifyRequest) => {
    const { account } = names(request);
    if (request.headers['x-object-sharing'] !== undefined && userOf(request).uuid !== account) throw new ApiError(403, 'forbidden', 'Only the owner may change sharing');
    if (typeof request.headers['x-object-sharing'] === 'string') parseSharing(decode(request.headers['x-object-sharing']));
  };

  /** The object a header names (`/<container>/<object>`), in X-Source-Account, else in `account` (by default the path's). */
  const sourceOf = (request: FastifyRequest, header: string, account = names(request).account) => {
    const raw = request.headers[header];
    if (typeof raw !== 'string') return undefined;
    const m = /^\/?([^/]+)\/(.+)$/.exec(decode(raw));
    if (!m) throw new BadRequest(`${header} must be /<container>/<object>`);
    const named = request.headers['x-source-account'];
    const version = request.headers['x-source-version'];
    return { account: typeof named === 'string' ? named : account, container: m[1]!, name: m[2]!, version: typeof version === 'string' && /^\d+$/.test(version) ? Number(version) : undefined };
  };

  /** The range, size limit and metadata of a data update (POST with Content-Range). */
  const updateFrom = (request: FastifyRequest) => {
    const header = request.headers['content-range'];
    if (typeof header !== 'string') throw new BadRequest('Missing Content-Range header');
    const range = parseContentRange(header);
    if (range === 'invalid') throw new RangeNotSatisfiable('Invalid Content-Range header');
    const bytes = request.headers['x-object-bytes'];
    if (bytes !== undefined && (typeof bytes !== 'string' || !/^\d+$/.test(bytes.trim()))) throw new BadRequest('Invalid X-Object-Bytes header');
    const attrs = attrsFrom(request);
    return {
      ...range, truncate: typeof bytes === 'string' ? Number(bytes.trim()) : undefined,
      meta: attrs.meta, contentEncoding: attrs.contentEncoding, contentDisposition: attrs.contentDisposition, update: flag(request, 'update'),
    };
  };
  /** The bytes of a data update in its body, with the Content-Length it declares (none when chunked: 411 without either). */
  const bodyOf = (request: FastifyRequest) => {
    if (request.headers['transfer-encoding'] === 'chunked') return { body: bodyStream(request) };
    const length = request.headers['content-length'];
    if (length === undefined || !/^\d+$/.test(length)) throw new ApiError(411, 'lengthRequired', 'Missing or invalid Content-Length header');
    return { body: bodyStream(request), declared: Number(length) };
  };

  const sendObject = async (request: FastifyRequest, reply: FastifyReply, head: boolean) => {
    const { account, container, name } = names(request);
    const versionParam = (request.query as Record<string, string | undefined>)['version'];
    if (versionParam === 'list') {
      const all = await objects.versions(userOf(request).uuid, account, container, name);
      return reply.type('application/json; charset=utf-8').send({ versions: all.map((v) => [v.serial, (v.mtime / 1000).toFixed(6)]) });
    }
    const version = versionParam !== undefined ? (/^\d+$/.test(versionParam) ? Number(versionParam) : -1) : undefined;
    const user = userOf(request).uuid;
    const { version: v, grant } = await objects.object(user, account, container, name, version);
    objectHeaders(reply, v);
    if (version === undefined) {
      if (user === account) {
        const { sharing, publicToken } = await objects.sharingOf(account, container, name);
        if (sharing) reply.header('X-Object-Sharing', formatSharing(sharing));
        if (publicToken) reply.header('X-Object-Public', `${deps.baseUrl()}/pithos/public/${publicToken}`);
      } else if (grant) {
        reply.header('X-Object-Allowed-To', grant.level).header('X-Object-Sharing', formatSharing(grant.sharing));
        if (grant.path !== name) reply.header('X-Object-Shared-By', `${account}/${container}/${grant.path}`);
      }
    }
    const etag = v.checksum || v.hash;
    if (etagConditions(request, reply, etag) || timeConditions(request, reply, v.mtime)) return reply;
    const hashes = hashesOf(v, objects.hexLength);
    if (flag(request, 'hashmap')) {
      return reply.type('application/json; charset=utf-8').send({
        block_size: objects.policy.blockSize, block_hash: objects.policy.algorithm, bytes: v.size,
        hashes: hashes.length ? hashes : [v.hash],
      });
    }
    // A large object's bytes are its parts', laid end to end.
    const extents: Extent[] = v.manifest
      ? (await objects.manifestParts(userOf(request).uuid, account, v.manifest)).map((p) => ({ hashes: hashesOf(p, objects.hexLength), size: p.size }))
      : [{ hashes, size: v.size }];
    const size = extents.reduce((sum, e) => sum + e.size, 0);
    if (head) return reply.header('Content-Length', String(size)).code(200).send();
    const ranges = parseRanges(typeof request.headers.range === 'string' ? request.headers.range : undefined, size);
    if (ranges === 'unsatisfiable') {
      return reply.code(416).header('Content-Range', `bytes */${size}`).type('application/json; charset=utf-8')
        .send({ rangeNotSatisfiable: { code: 416, message: 'Requested range not satisfiable', details: '' } });
    }
    const read = (start: number, end: number) => readExtents(extents, start, end, objects.policy.blockSize, blocks);
    if (ranges === null) {
      reply.header('Content-Length', String(size));
      return reply.code(200).send(Readable.from(read(0, size - 1)));
    }
    if (ranges.length === 1) {
      const [start, end] = ranges[0]!;
      reply.header('Content-Range', `bytes ${start}-${end}/${size}`).header('Content-Length', String(end - start + 1));
      return reply.code(206).send(Readable.from(read(start, end)));
    }
    const boundary = randomUUID().replace(/-/g, '');
    async function* parts() {
      for (const [start, end] of ranges as [number, number][]) {
        yield Buffer.from(`\r\n--${boundary}\r\nContent-Type: ${v.content_type}\r\nContent-Range: bytes ${start}-${end}/${size}\r\n\r\n`);
        yield* read(start, end);
      }
      yield Buffer.from(`\r\n--${boundary}--\r\n`);
    }
    return reply.code(206).header('Content-Type', `multipart/byteranges; boundary=${boundary}`).send(Readable.from(parts()));
  };

  resource(app, '/:account/:container/*', {
    HEAD: async (request, reply) => sendObject(request, reply, true),
    GET: async (request, reply) => sendObject(request, reply, false),
    PUT: async (request, reply) => {
      const { account, container, name } = names(request);
      const user = userOf(request).uuid;
      checkSharingRights(request);
      if (request.headers['if-match'] !== undefined || request.headers['if-none-match'] !== undefined) {
        // Conditional writes: "only if it is still this version" / "only if it does not exist yet".
        etagConditions(request, reply, await objects.currentEtag(user, account, container, name));
      }
      const copy = sourceOf(request, 'x-copy-from');
      const move = sourceOf(request, 'x-move-from');
      if (copy || move) {
        const attrs = attrsFrom(request);
        const r = await objects.copyObject(user, (copy ?? move)!, { account, container, name }, {
          ...(typeof request.headers['content-type'] === 'string' ? { contentType: attrs.contentType } : {}), meta: attrs.meta,
        }, !!move);
        await applySharing(request);
        return reply.code(201).header('X-Object-Version', String(r.version)).header('ETag', r.etag).send();
      }
      if (request.headers['content-length'] === undefined && request.headers['transfer-encoding'] !== 'chunked') {
        throw new ApiError(411, 'lengthRequired', 'Missing Content-Length header');
      }
      if (flag(request, 'hashmap')) {
        const body = await readJson(request) as { bytes?: unknown; hashes?: unknown };
        if (!body || typeof body !== 'object' || !Array.isArray(body.hashes) || typeof body.bytes !== 'number') throw new BadRequest('Hashmap body must be {"bytes": N, "hashes": [...]}');
        const r = await objects.putObjectHashmap(user, account, container, name, body.bytes, body.hashes as string[], { ...attrsFrom(request), etag: undefined });
        if (!('hash' in r)) return reply.code(409).type('application/json; charset=utf-8').send(r.missing);
        await applySharing(request);
        return reply.code(201).header('ETag', r.etag).header('X-Object-Version', String(r.version)).send();
      }
      const r = await objects.putObjectStream(user, account, container, name, bodyStream(request), attrsFrom(request));
      await applySharing(request);
      return reply.code(201).header('ETag', r.etag).header('X-Object-Version', String(r.version)).send();
    },
    POST: async (request, reply) => {
      const { account, container, name } = names(request);
      const type = request.headers['content-type'];
      if (typeof type === 'string' && type.toLowerCase().startsWith('multipart/form-data')) {
        // An HTML form upload: the object's bytes are the X-Object-Data file field, streamed in.
        const file = await formFile(request, 'X-Object-Data');
        const r = await objects.putObjectStream(userOf(request).uuid, account, container, name, file.stream, { contentType: file.mimeType || 'application/octet-stream', meta: {} });
        return reply.code(201).header('ETag', r.etag).header('X-Object-Version', String(r.version)).type('text/plain; charset=utf-8').send(r.etag);
      }
      checkSharingRights(request);
      const user = userOf(request).uuid;
      const conditional = request.headers['if-match'] !== undefined || request.headers['if-none-match'] !== undefined;
      // Bytes come with application/octet-stream or from X-Source-Object (the user's own account unless
      // X-Source-Account says otherwise, as Pithos reads it); any other POST is metadata only.
      const source = sourceOf(request, 'x-source-object', user);
      if (source || (typeof type === 'string' && type.split(';')[0]!.trim().toLowerCase() === 'application/octet-stream')) {
        const r = await objects.updateObject(user, account, container, name, {
          ...updateFrom(request), data: source ? { source } : bodyOf(request),
          check: conditional ? (etag) => { etagConditions(request, reply, etag); } : undefined,
        });
        await applySharing(request);
        return reply.code(204).header('ETag', r.etag).header('X-Object-Version', String(r.version)).send();
      }
      if (conditional) etagConditions(request, reply, await objects.currentEtag(user, account, container, name));
      await applySharing(request);
      const attrs = attrsFrom(request);
      const r = await objects.setObjectMeta(user, account, container, name, {
        meta: attrs.meta, contentEncoding: attrs.contentEncoding, contentDisposition: attrs.contentDisposition,
        ...(typeof request.headers['content-type'] === 'string' && attrs.contentType !== 'application/octet-stream' ? { contentType: attrs.contentType } : {}),
      }, flag(request, 'update'));
      return reply.code(202).header('X-Object-Version', String(r.version)).send();
    },
    DELETE: async (request, reply) => {
      const { account, container, name } = names(request);
      const until = intParam(request, 'until');
      if (until !== undefined) {
        if (userOf(request).uuid !== account) throw new ApiError(403, 'forbidden', 'Not allowed');
        await objects.purgeHistory(userOf(request).uuid, account, container, until, name);
      } else {
        await objects.deleteObject(userOf(request).uuid, account, container, name);
      }
      return reply.code(204).send();
    },
    COPY: async (request, reply) => {
      const { account, container, name } = names(request);
      const dest = request.headers['destination'];
      if (typeof dest !== 'string') throw new BadRequest('Missing Destination header');
      const m = /^\/?([^/]+)\/(.+)$/.exec(decode(dest));
      if (!m) throw new BadRequest('Destination must be /<container>/<object>');
      const to = { account: typeof request.headers['destination-account'] === 'string' ? request.headers['destination-account'] : account, container: m[1]!, name: m[2]! };
      const attrs = attrsFrom(request);
      const r = await objects.copyObject(userOf(request).uuid, { account, container, name }, to, {
        ...(typeof request.headers['content-type'] === 'string' ? { contentType: attrs.contentType } : {}), meta: attrs.meta,
      }, false);
      return reply.code(201).header('X-Object-Version', String(r.version)).send();
    },
  });

}

/** Public links (`/pithos/public/<token>`): an object's bytes for anyone, without a token, and few headers. */
export async function publicApi(app: FastifyInstance, deps: Pick<ObjectApiDeps, 'objects' | 'blocks'>): Promise<void> {
  const { objects, blocks } = deps;
  const send = async (request: FastifyRequest, reply: FastifyReply, head: boolean) => {
    const { version: v, account } = await objects.publicObject((request.params as { token: string }).token);
    const etag = v.checksum || v.hash;
    reply.header('ETag', etag).header('Last-Modified', httpDate(v.mtime)).header('Content-Type', v.content_type);
    if (v.content_encoding) reply.header('Content-Encoding', v.content_encoding);
    if (v.content_disposition) reply.header('Content-Disposition', v.content_disposition);
    if (etagConditions(request, reply, etag) || timeConditions(request, reply, v.mtime)) return reply;
    const extents: Extent[] = v.manifest
      ? (await objects.manifestParts(account, account, v.manifest)).map((p) => ({ hashes: hashesOf(p, objects.hexLength), size: p.size }))
      : [{ hashes: hashesOf(v, objects.hexLength), size: v.size }];
    const size = extents.reduce((sum, e) => sum + e.size, 0);
    if (head) return reply.header('Content-Length', String(size)).code(200).send();
    const ranges = parseRanges(typeof request.headers.range === 'string' ? request.headers.range : undefined, size);
    if (ranges === 'unsatisfiable') return reply.code(416).header('Content-Range', `bytes */${size}`).send();
    if (ranges && ranges.length === 1) {
      const [start, end] = ranges[0]!;
      reply.header('Content-Range', `bytes ${start}-${end}/${size}`).header('Content-Length', String(end - start + 1));
      return reply.code(206).send(Readable.from(readExtents(extents, start, end, objects.policy.blockSize, blocks)));
    }
    reply.header('Content-Length', String(size));
    return reply.code(200).send(Readable.from(readExtents(extents, 0, size - 1, objects.policy.blockSize, blocks)));
  };
  resource(app, '/:token', { HEAD: (request, reply) => send(request, reply, true), GET: (request, reply) => send(request, reply, false) });
}
