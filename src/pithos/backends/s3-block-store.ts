import { BlockNotFound, type BlockStore } from './block-store.js';
import { payloadHash, signV4, type Credentials } from './sigv4.js';

export interface S3Options {
  /** `http(s)://host:port` of any S3-compatible service (Ceph RGW, MinIO, AWS). */
  endpoint: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  region: string;
  /** Key prefix of blocks inside the bucket. */
  prefix: string;
}

const HASH = /^[0-9a-f]{16,128}$/;
const PARALLEL = 16;

/** Blocks as objects of an S3-compatible bucket (path-style requests, Signature V4). */
export class S3BlockStore implements BlockStore {
  private readonly creds: Credentials;

  constructor(private readonly opts: S3Options) {
    this.creds = { accessKey: opts.accessKey, secretKey: opts.secretKey, region: opts.region, service: 's3' };
  }

  private url(key = '', query = ''): URL {
    const base = this.opts.endpoint.replace(/\/+$/, '');
    return new URL(`${base}/${encodeURIComponent(this.opts.bucket)}${key ? `/${key.split('/').map(encodeURIComponent).join('/')}` : ''}${query}`);
  }

  private keyOf(hash: string): string {
    if (!HASH.test(hash)) throw new BlockNotFound(hash);
    return `${this.opts.prefix}${hash.slice(0, 2)}/${hash}`;
  }

  private async send(method: string, url: URL, body?: Buffer): Promise<Response> {
    const headers = signV4({ method, url, headers: {}, payloadHash: payloadHash(body ?? ''), date: new Date() }, this.creds);
    delete headers['host'];
    const res = await fetch(url, { method, headers, ...(body ? { body } : {}), signal: AbortSignal.timeout(60_000) });
    if (res.status >= 500 || res.status === 403 || res.status === 400) {
      throw new Error(`S3 ${method} ${url.pathname}: ${res.status} ${(await res.text()).slice(0, 200)}`);
    }
    return res;
  }

  private async exists(hash: string): Promise<boolean> {
    const res = await this.send('HEAD', this.url(this.keyOf(hash)));
    return res.ok;
  }

  async missing(hashes: string[]): Promise<string[]> {
    const present = new Array<boolean>(hashes.length);
    for (let i = 0; i < hashes.length; i += PARALLEL) {
      const batch = hashes.slice(i, i + PARALLEL);
      (await Promise.all(batch.map((h) => this.exists(h).catch((e) => { if (e instanceof BlockNotFound) return false; throw e; }))))
        .forEach((ok, j) => { present[i + j] = ok; });
    }
    return hashes.filter((_, i) => !present[i]);
  }

  async put(hash: string, data: Buffer): Promise<void> {
    if (await this.exists(hash)) return;
    const res = await this.send('PUT', this.url(this.keyOf(hash)), data);
    if (!res.ok) throw new Error(`S3 PUT block ${hash}: ${res.status}`);
    await res.arrayBuffer();
  }

  async get(hash: string): Promise<Buffer> {
    const res = await this.send('GET', this.url(this.keyOf(hash)));
    if (res.status === 404) { await res.arrayBuffer(); throw new BlockNotFound(hash); }
    if (!res.ok) throw new Error(`S3 GET block ${hash}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }

  async delete(hash: string): Promise<void> {
    const res = await this.send('DELETE', this.url(this.keyOf(hash)));
    await res.arrayBuffer();
  }

  /**
   * S3 has no way to mark a block used without rewriting it, so a reuse by an upload does not
   * count here: only the block's own write time does (a known limit of the collector on S3).
   */
  async deleteUnused(hash: string, since: number): Promise<boolean> {
    const res = await this.send('HEAD', this.url(this.keyOf(hash)));
    await res.arrayBuffer();
    if (!res.ok) return false;
    const modified = Date.parse(res.headers.get('last-modified') ?? '');
    if (!Number.isFinite(modified) || modified >= since) return false;
    await this.delete(hash);
    return true;
  }

  async *list(): AsyncIterable<{ hash: string; modified: number }> {
    let token: string | undefined;
    do {
      const query = `?list-type=2&prefix=${encodeURIComponent(this.opts.prefix)}${token ? `&continuation-token=${encodeURIComponent(token)}` : ''}`;
      const res = await this.send('GET', this.url('', query));
      const xml = await res.text();
      for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
        const key = /<Key>([^<]*)<\/Key>/.exec(m[1]!)?.[1] ?? '';
        const modified = Date.parse(/<LastModified>([^<]*)<\/LastModified>/.exec(m[1]!)?.[1] ?? '');
        const hash = key.slice(key.lastIndexOf('/') + 1);
        if (HASH.test(hash)) yield { hash, modified };
      }
      token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1] : undefined;
    } while (token);
  }
}
