import type { FastifyReply, FastifyRequest } from 'fastify';
import { BadRequest } from '../../common/errors.js';

/** `X-Object-Meta-Foo_bar` style keys as Pithos writes them back: dash-separated, each part capitalised. */
export function metaKey(key: string): string {
  return key.replace(/_/g, '-').split('-').map((p) => (p ? p[0]!.toUpperCase() + p.slice(1).toLowerCase() : p)).join('-');
}

/** User metadata from request headers with the given prefix (`x-object-meta-`). */
export function metaFrom(request: FastifyRequest, prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  let count = 0;
  for (const [name, value] of Object.entries(request.headers)) {
    if (!name.startsWith(prefix) || typeof value !== 'string') continue;
    const key = metaKey(decodeURIComponent(name.slice(prefix.length)));
    if (++count > 90 || key.length > 128 || value.length > 256) throw new BadRequest('Too many or too long metadata');
    out[key] = decodeURIComponent(value).replace(/~/g, '');
  }
  return out;
}

/** Writes metadata as response headers. */
export function sendMeta(reply: FastifyReply, prefix: string, meta: Record<string, string>): void {
  for (const [k, v] of Object.entries(meta)) reply.header(`${prefix}${encodeURIComponent(k)}`, encodeURIComponent(v).replace(/%2F/g, '/').replace(/%20/g, ' '));
}

/** RFC 1123 date of a millisecond time, at second precision. */
export function httpDate(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toUTCString();
}

/** Listing time: ISO with microseconds and +00:00. */
export function isoMicro(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000+00:00');
}

/** A query parameter that is present (whatever its value), as Pithos treats flags. */
export function flag(request: FastifyRequest, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(request.query as object, name);
}

/** A non-negative integer query parameter; anything else counts as absent, as Pithos reads them. */
export function intParam(request: FastifyRequest, name: string): number | undefined {
  const v = (request.query as Record<string, unknown>)[name];
  return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** The listing format: `format=`, else Accept, else plain text. */
export function listingFormat(request: FastifyRequest, fallback: 'text' | 'json' = 'text'): 'text' | 'json' | 'xml' {
  const f = (request.query as Record<string, unknown>)['format'];
  if (f === 'json' || f === 'xml') return f;
  const accept = request.headers.accept ?? '';
  if (accept.includes('application/json')) return 'json';
  if (accept.includes('application/xml') || accept.includes('text/xml')) return 'xml';
  return fallback;
}

export function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Parses `If-Modified-Since` style dates; undefined when absent or unparsable. */
export function dateHeader(request: FastifyRequest, name: string): number | undefined {
  const v = request.headers[name];
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The byte ranges a Range header asks for, resolved against a size; null for "whole", 'unsatisfiable' for 416. */
export function parseRanges(header: string | undefined, size: number): [number, number][] | null | 'unsatisfiable' {
  if (!header || !header.startsWith('bytes=')) return null;
  const out: [number, number][] = [];
  for (const part of header.slice(6).split(',')) {
    const m = /^\s*(\d*)-(\d*)\s*$/.exec(part);
    if (!m || (m[1] === '' && m[2] === '')) return null;
    let start: number;
    let end: number;
    if (m[1] === '') { const n = Number(m[2]); start = size - n; end = size - 1; if (n <= 0 || n > size) return 'unsatisfiable'; }
    else { start = Number(m[1]); end = m[2] === '' ? size - 1 : Number(m[2]); }
    if (start >= size || end < start || end >= size) return 'unsatisfiable';
    out.push([start, end]);
  }
  return out;
}

/**
 * A data update's `Content-Range: bytes <first>-[<last>]/<total>` (total may be `*`), or
 * `bytes *` + `/*` (append): where the bytes go, how many when the last byte is given, and the
 * object size the client expects when given. 'invalid' when malformed or contradicting itself.
 */
export function parseContentRange(header: string): { offset?: number; length?: number; total?: number } | 'invalid' {
  if (header === 'bytes */*') return {};
  const m = /^bytes (\d+)-(\d*)\/(\d+|\*)$/.exec(header);
  if (!m) return 'invalid';
  const offset = Number(m[1]);
  const last = m[2] === '' ? undefined : Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (![offset, last ?? 0, total ?? 0].every(Number.isSafeInteger)) return 'invalid';
  if ((last !== undefined && offset > last) || (total !== undefined && (offset >= total || (last !== undefined && last >= total)))) return 'invalid';
  return { offset, ...(last !== undefined ? { length: last - offset + 1 } : {}), ...(total !== undefined ? { total } : {}) };
}
