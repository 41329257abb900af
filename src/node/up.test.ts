import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, cliEnv, cliPath, freePort } from '../test/harness.js';
import type { InitialCredentials } from './up.js';

async function until(what: string, ms: number, ok: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `synnefo up` running as its own process. */
interface UpProcess {
  url: string;
  child: ChildProcess;
  stdout(): string;
  /** Whether the credentials file existed at the first moment /healthz said ok. */
  credentialsAtReady: boolean;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

async function startUp(dataDir: string, configDir: string): Promise<UpProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [cliPath('synnefo'), 'up', '--port', String(port), '--data-dir', dataDir, '--config-dir', configDir], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString('utf8'); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString('utf8'); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { running.delete(child); resolve(code); }));
  let exitCode: number | null | undefined;
  void exited.then((code) => { exitCode = code; });

  let credentialsAtReady = false;
  await until('/healthz to answer 200', 30_000, async () => {
    if (exitCode !== undefined) throw new Error(`synnefo up exited with ${exitCode}:\n${err}${out}`);
    const ok = await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false);
    if (ok) credentialsAtReady = existsSync(join(dataDir, 'initial-credentials.json'));
    return ok;
  });
  await until('the banner', 10_000, () => out.includes('Synnefo is up at'));
  return {
    url, child, credentialsAtReady,
    stdout: () => out,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      try { return await exited; } finally { clearTimeout(timer); }
    },
  };
}

const running = new Set<ChildProcess>();
const tokens = (url: string, body: string, contentType = 'application/json') =>
  call(`${url}/astakos/identity/v2.0/tokens`, { method: 'POST', body, headers: { 'content-type': contentType } });

describe('synnefo up, as a newcomer runs it', () => {
  const base = mkdtempSync(join(tmpdir(), 'snf-up-'));
  const dataDir = join(base, 'data');
  const configDir = join(base, 'synnefo.d');
  const credentialsFile = join(dataDir, 'initial-credentials.json');
  let up: UpProcess;
  let creds: InitialCredentials;

  before(async () => {
    up = await startUp(dataDir, configDir);
    creds = JSON.parse(readFileSync(credentialsFile, 'utf8')) as InitialCredentials;
  });
  after(() => {
    for (const child of running) child.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
  });

  it('prints its URL, the admin and demo logins and the demo token', () => {
    const out = up.stdout();
    assert.match(out, new RegExp(`Synnefo is up at ${up.url}\\n`));
    assert.ok(out.includes(`admin login: ${creds.admin.email} / ${creds.admin.password}`), out);
    assert.ok(out.includes(`demo login:  ${creds.demo.email} / ${creds.demo.password}`), out);
    assert.ok(out.includes(`demo user uuid: ${creds.demo.uuid}`), out);
    assert.ok(out.includes(`demo API token: ${creds.demo.token}`), out);
  });

  it('has the accounts in place by the time /healthz says ok', () => {
    assert.ok(up.credentialsAtReady, 'initial-credentials.json was missing when /healthz first answered 200');
  });

  it('keeps the initial credentials in a file only its owner can read', () => {
    assert.equal(statSync(credentialsFile).mode & 0o777, 0o600);
    for (const who of ['admin', 'demo'] as const) {
      assert.deepEqual(Object.keys(creds[who]).sort(), ['email', 'password', 'token', 'uuid']);
      for (const value of Object.values(creds[who])) assert.ok(typeof value === 'string' && value.length > 0);
    }
  });

  it('writes commented settings templates into the config directory', () => {
    for (const file of ['00-common.conf', '10-astakos.conf']) {
      const text = readFileSync(join(configDir, file), 'utf8');
      const settingLines = text.split('\n').filter((l) => l.includes(' = '));
      assert.ok(settingLines.length > 0, `${file} lists no settings`);
      assert.ok(settingLines.every((l) => l.startsWith('#')), `${file} has an uncommented setting`);
    }
    assert.match(readFileSync(join(configDir, '10-astakos.conf'), 'utf8'), /^#astakos\.token_ttl_hours = 720$/m);
  });

  it('lets the demo user get a token with its uuid and API token (the Synnefo way) and a catalog with identity', async () => {
    const res = await tokens(up.url, JSON.stringify({ auth: { passwordCredentials: { username: creds.demo.uuid, password: creds.demo.token } } }));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.access.token.id, creds.demo.token);
    assert.equal(res.json.access.user.id, creds.demo.uuid);
    const identity = res.json.access.serviceCatalog.find((s: { type: string }) => s.type === 'identity');
    assert.ok(identity, 'no identity service in the catalog');
    assert.equal(identity.endpoints[0].publicURL, `${up.url}/astakos/identity/v2.0`);
  });

  it('lets the demo user get a token with its email and password (the Keystone way)', async () => {
    const res = await tokens(up.url, JSON.stringify({ auth: { passwordCredentials: { username: creds.demo.email, password: creds.demo.password } } }));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.access.token.id, creds.demo.token);
    assert.equal(res.json.access.user.id, creds.demo.uuid);
  });

  it("leaves the administrator's public placeholder image, which the demo user sees at once", async () => {
    const res = await call(`${up.url}/cyclades/image/v1.0/images/detail`, { token: creds.demo.token });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.images.length, 1);
    const [image] = res.json.images;
    assert.equal(image.owner, creds.admin.uuid);
    assert.equal(image.is_public, true);
    assert.equal(image.size, 1048576);
    assert.equal(image.location, `pithos://${creds.admin.uuid}/images/debian-placeholder.diskdump`);
    assert.deepEqual({ ...image.properties, DESCRIPTION: undefined }, { OS: 'debian', OSFAMILY: 'linux', USERS: 'root', DESCRIPTION: undefined });
    assert.match(image.properties.DESCRIPTION, /^Placeholder image for the simulated backend: 1 MiB of zeros, not bootable$/);
  });

  it("gives the demo user's first server a public address, and a floating IP on request", async () => {
    const compute = `${up.url}/cyclades/compute/v2.0`;
    const [image] = (await call(`${up.url}/cyclades/image/v1.0/images/detail`, { token: creds.demo.token })).json.images;
    const [flavor] = (await call(`${compute}/flavors`, { token: creds.demo.token })).json.flavors;
    const made = await call(`${compute}/servers`, { token: creds.demo.token, json: { server: { name: 'first', imageRef: image.id, flavorRef: flavor.id } } });
    assert.equal(made.status, 202, made.text);
    const publicNet = (await call(`${up.url}/cyclades/network/v2.0/networks`, { token: creds.demo.token })).json.networks.find((n: { public: boolean }) => n.public);
    assert.equal(publicNet.name, 'public');
    await until('an ACTIVE server with an address on the public network', 30_000, async () => {
      const s = (await call(`${compute}/servers/${made.json.server.id}`, { token: creds.demo.token })).json.server;
      return s.status === 'ACTIVE' && s.addresses[publicNet.id]?.[0]?.addr.startsWith('203.0.113.');
    });
    const fip = await call(`${up.url}/cyclades/network/v2.0/floatingips`, { token: creds.demo.token, json: { floatingip: {} } });
    assert.equal(fip.status, 200, fip.text);
    assert.equal((await call(`${up.url}/cyclades/network/v2.0/floatingips/${fip.json.floatingip.id}`, { token: creds.demo.token, method: 'DELETE' })).status, 204);
    assert.equal((await call(`${compute}/servers/${made.json.server.id}`, { token: creds.demo.token, method: 'DELETE' })).status, 204);
  });

  it('refuses a wrong password with a 401 fault', async () => {
    const res = await tokens(up.url, JSON.stringify({ auth: { passwordCredentials: { username: creds.demo.email, password: 'not-the-password' } } }));
    assert.equal(res.status, 401);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(res.json.unauthorized.code, 401);
    assert.equal(typeof res.json.unauthorized.message, 'string');
    assert.ok(res.json.unauthorized.message.length > 0);
  });

  it('answers a body that is not JSON with a 400 badRequest', async () => {
    const res = await tokens(up.url, '{"auth": {');
    assert.equal(res.status, 400);
    assert.equal(res.json.badRequest.code, 400);
    assert.match(res.json.badRequest.message, /JSON/);
  });

  it('stops on SIGTERM and, started again on the same directories, keeps its accounts and says no new passwords', async () => {
    const firstFile = readFileSync(credentialsFile, 'utf8');
    assert.equal(await up.stop(), 0);

    up = await startUp(dataDir, configDir);
    assert.equal(readFileSync(credentialsFile, 'utf8'), firstFile);
    const out = up.stdout();
    assert.ok(out.includes(`logins: see ${credentialsFile}`), out);
    for (const secret of [creds.admin.password, creds.demo.password, creds.demo.token]) assert.ok(!out.includes(secret), 'the banner repeated a credential');

    const res = await tokens(up.url, JSON.stringify({ auth: { passwordCredentials: { username: creds.demo.uuid, password: creds.demo.token } } }));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.access.user.id, creds.demo.uuid);
    assert.equal(await up.stop(), 0);
  });
});
