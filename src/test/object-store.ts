import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { withAstakos, type TestNode } from './harness.js';

/** What an object API call answered, the body kept as bytes (objects are not text). */
export interface StoreReply { status: number; headers: Headers; bytes: Buffer; text: string; json: any }

/** A user of the object API in tests: their account's URL and their token. */
export interface StoreUser { uuid: string; token: string; email: string; base: string }

let seq = 0;

/** Registers an active user; their account lives at `base`. */
export async function storeUser(t: Pick<TestNode, 'node' | 'url'>, label = 'user'): Promise<StoreUser> {
  const email = `${label}-${++seq}-${randomBytes(3).toString('hex')}@example.org`;
  const { user, token } = await withAstakos(t, (a) => a.accounts.createUser({ email, password: 'a-password-1', active: true }));
  return { uuid: user.uuid, token, email, base: `${t.url}/pithos/object-store/v1/${user.uuid}` };
}

/** One object API request; a body goes as given, labelled only by the headers passed. */
export async function store(url: string, init: { method?: string; token?: string; headers?: Record<string, string>; body?: string | Uint8Array; json?: unknown } = {}): Promise<StoreReply> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers['x-auth-token'] = init.token;
  let body: Uint8Array | undefined = typeof init.body === 'string' ? Buffer.from(init.body) : init.body;
  if (init.json !== undefined) body = Buffer.from(JSON.stringify(init.json));
  const res = await fetch(url, { method: init.method ?? 'GET', headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  const text = bytes.toString('utf8');
  let json: any;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, headers: res.headers, bytes, text, json };
}

/** Random bytes that never end in a NUL (so trimming rules do not blur a comparison). */
export function randomObject(size: number): Buffer {
  const data = randomBytes(size);
  if (size > 0 && data[size - 1] === 0) data[size - 1] = 1;
  return data;
}

/** The status a hand-written request gets (for framings fetch will not produce: no Content-Length, not chunked). */
export function rawStatus(method: string, url: string, lines: string[]): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname, () => socket.write([`${method} ${u.pathname} HTTP/1.1`, `Host: ${u.host}`, ...lines, 'Connection: close', '', ''].join('\r\n')));
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m) { socket.destroy(); resolve(Number(m[1])); }
    });
    socket.on('error', reject);
  });
}
