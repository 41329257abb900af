import type { ListingEntry } from '../logic/objects.js';
import { xmlEscape } from './headers.js';

const TWO = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const MILLIS = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(3, '0')}000`);

/**
 * The two times a listing shows per object, for many objects in a row: `iso` as `isoMicro` writes
 * it (`2025-01-02T03:04:05.678000+00:00`) and `stamp` as `(ms / 1000).toFixed(6)`, built from
 * cached day and second parts rather than a Date per object.
 */
class ListingClock {
  iso = '';
  stamp = '';
  private second = NaN;
  private day = NaN;
  private dayText = '';
  private head = '';
  private secs = '';

  set(ms: number): void {
    const t = Math.floor(ms);
    const s = Math.floor(t / 1000);
    if (s !== this.second) {
      this.second = s;
      const d = Math.floor(s / 86400);
      if (d !== this.day) { this.day = d; this.dayText = new Date(d * 86400000).toISOString().slice(0, 11); }
      const r = s - d * 86400;
      this.head = `${this.dayText}${TWO[Math.floor(r / 3600)]}:${TWO[Math.floor(r / 60) % 60]}:${TWO[r % 60]}.`;
      this.secs = `${s}.`;
    }
    const m = MILLIS[t - s * 1000]!;
    this.iso = `${this.head}${m}+00:00`;
    this.stamp = `${this.secs}${m}`;
  }
}

/**
 * The JSON of an object listing, objects' fields in Pithos' order. The entries become plain
 * objects of one shape and go through one JSON.stringify, which V8 serializes faster than any
 * string building by hand.
 */
export function objectListingJson(entries: ListingEntry[]): string {
  const clock = new ListingClock();
  const out = new Array<unknown>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.kind === 'subdir') { out[i] = { subdir: e.name }; continue; }
    const v = e.version!;
    clock.set(Number(v.mtime));
    out[i] = {
      name: v.name, bytes: Number(v.size), content_type: v.content_type, hash: v.checksum, last_modified: clock.iso,
      x_object_hash: v.hash, x_object_uuid: v.uuid, x_object_version: Number(v.serial), x_object_version_timestamp: clock.stamp, x_object_modified_by: v.muser,
    };
  }
  return JSON.stringify(out);
}

/** The XML of an object listing (the JSON's fields as elements). */
export function objectListingXml(entries: ListingEntry[]): string {
  const clock = new ListingClock();
  const parts = new Array<string>(entries.length + 2);
  parts[0] = '<?xml version="1.0" encoding="UTF-8"?>\n<container>';
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.kind === 'subdir') {
      const n = xmlEscape(e.name);
      parts[i + 1] = `<subdir name="${n}"><name>${n}</name></subdir>`;
      continue;
    }
    const v = e.version!;
    clock.set(Number(v.mtime));
    parts[i + 1] = `<object><name>${xmlEscape(v.name)}</name><bytes>${Number(v.size)}</bytes><content_type>${xmlEscape(v.content_type)}</content_type>`
      + `<hash>${xmlEscape(v.checksum)}</hash><last_modified>${clock.iso}</last_modified><x_object_hash>${xmlEscape(v.hash)}</x_object_hash>`
      + `<x_object_uuid>${xmlEscape(v.uuid)}</x_object_uuid><x_object_version>${Number(v.serial)}</x_object_version>`
      + `<x_object_version_timestamp>${clock.stamp}</x_object_version_timestamp><x_object_modified_by>${xmlEscape(v.muser)}</x_object_modified_by></object>`;
  }
  parts[entries.length + 1] = '</container>';
  return parts.join('');
}

/** A plain-text listing: one name a line. */
export function objectListingText(entries: ListingEntry[]): string {
  const names = new Array<string>(entries.length + 1);
  for (let i = 0; i < entries.length; i++) names[i] = entries[i]!.name;
  names[entries.length] = '';
  return names.join('\n');
}
