import { createHash, createHmac } from 'node:crypto';

export interface Credentials { accessKey: string; secretKey: string; region: string; service: string }

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding as AWS wants it (path segments keep their slashes). */
export function awsEncode(s: string, keepSlash = false): string {
  const encoded = encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return keepSlash ? encoded.replace(/%2F/g, '/') : encoded;
}

/**
 * Signs a request with AWS Signature Version 4; returns the headers to send (Authorization,
 * x-amz-date, x-amz-content-sha256 and the ones given).
 */
export function signV4(req: { method: string; url: URL; headers: Record<string, string>; payloadHash: string; date: Date }, creds: Credentials): Record<string, string> {
  const amzDate = req.date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = { ...req.headers, host: req.url.host, 'x-amz-date': amzDate, 'x-amz-content-sha256': req.payloadHash };
  const names = Object.keys(headers).map((h) => h.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, ' ')]));
  const query = [...req.url.searchParams.entries()].map(([k, v]) => [awsEncode(k), awsEncode(v)]).sort(([a, x], [b, y]) => (a! < b! ? -1 : a! > b! ? 1 : x! < y! ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&');
  const canonical = [
    req.method, req.url.pathname.split('/').map((seg) => awsEncode(decodeURIComponent(seg))).join('/'), query,
    names.map((n) => `${n}:${lower[n]}\n`).join(''), names.join(';'), req.payloadHash,
  ].join('\n');
  const scope = `${day}/${creds.region}/${creds.service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${creds.secretKey}`, day), creds.region), creds.service), 'aws4_request');
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKey}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}` };
}

export { sha256 as payloadHash };
