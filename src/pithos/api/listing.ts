import type { ListingEntry } from '../logic/objects.js';
import { xmlEscape } from './headers.js';

/**
 * Bytes written piece by piece into large buffers: a listing of thousands of entries is built
 * without a tree of thousands of joined strings that the garbage collector must copy and flatten.
 * Each piece is a short-lived string, written out right away.
 */
class ByteWriter {
  private readonly done: Buffer[] = [];
  private buf: Buffer;
  private at = 0;

  constructor(private readonly chunk = 1 << 20) {
    this.buf = Buffer.allocUnsafe(chunk);
  }

  write(s: string): void {
    // UTF-8 needs at most 3 bytes per UTF-16 unit.
    if (this.at + s.length * 3 > this.buf.length) {
      this.done.push(this.buf.subarray(0, this.at));
      this.buf = Buffer.allocUnsafe(Math.max(this.chunk, s.length * 3));
      this.at = 0;
    }
    this.at += this.buf.write(s, this.at);
  }

  bytes(): Buffer {
    return this.done.length === 0 ? this.buf.subarray(0, this.at) : Buffer.concat([...this.done, this.buf.subarray(0, this.at)]);
  }
}

/** Listing time: ISO with microseconds and +00:00 (what `isoMicro` gives), for many times in a row. */
function listingTimes() {
  let second = NaN;
  let head = '';
  return (ms: number): string => {
    const s = Math.floor(ms / 1000);
    if (s !== second) { second = s; head = new Date(s * 1000).toISOString().slice(0, 19); }
    const milli = Math.floor(ms) - s * 1000;
    return `${head}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}000+00:00`;
  };
}

/** The body of an object listing: Pithos' JSON (fields in its order) or XML. */
export function objectListingBody(format: 'json' | 'xml', entries: ListingEntry[]): Buffer {
  const out = new ByteWriter();
  const json = format === 'json';
  const iso = listingTimes();
  out.write(json ? '[' : '<?xml version="1.0" encoding="UTF-8"?>\n<container>');
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.kind === 'subdir') {
      if (json) out.write(`${i ? ',' : ''}{"subdir":${JSON.stringify(e.name)}}`);
      else { const n = xmlEscape(e.name); out.write(`<subdir name="${n}"><name>${n}</name></subdir>`); }
      continue;
    }
    const v = e.version!;
    const mtime = Number(v.mtime);
    const stamp = (mtime / 1000).toFixed(6);
    if (json) {
      out.write(`${i ? ',' : ''}{"name":${JSON.stringify(v.name)},"bytes":${Number(v.size)},"content_type":${JSON.stringify(v.content_type)},"hash":${JSON.stringify(v.checksum)},`
        + `"last_modified":"${iso(mtime)}","x_object_hash":${JSON.stringify(v.hash)},"x_object_uuid":${JSON.stringify(v.uuid)},"x_object_version":${Number(v.serial)},`
        + `"x_object_version_timestamp":"${stamp}","x_object_modified_by":${JSON.stringify(v.muser)}}`);
    } else {
      out.write(`<object><name>${xmlEscape(v.name)}</name><bytes>${Number(v.size)}</bytes><content_type>${xmlEscape(v.content_type)}</content_type><hash>${xmlEscape(v.checksum)}</hash>`
        + `<last_modified>${iso(mtime)}</last_modified><x_object_hash>${xmlEscape(v.hash)}</x_object_hash><x_object_uuid>${xmlEscape(v.uuid)}</x_object_uuid>`
        + `<x_object_version>${Number(v.serial)}</x_object_version><x_object_version_timestamp>${stamp}</x_object_version_timestamp>`
        + `<x_object_modified_by>${xmlEscape(v.muser)}</x_object_modified_by></object>`);
    }
  }
  out.write(json ? ']' : '</container>');
  return out.bytes();
}

/** A plain-text listing: one name a line. */
export function objectListingText(entries: ListingEntry[]): Buffer {
  const out = new ByteWriter();
  for (const e of entries) out.write(`${e.name}\n`);
  return out.bytes();
}
