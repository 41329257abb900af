import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, runCli, startTestNode, withAstakos, type CliResult, type TestNode } from '../test/harness.js';

function assertFails(r: CliResult, message: string): void {
  assert.notEqual(r.code, 0, `expected a failure, got:\n${r.stdout}`);
  assert.ok(r.stderr.includes(message), `stderr lacks "${message}":\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'a user error printed a stack trace');
}

describe('snf, the end-user client, logging in', () => {
  let t: TestNode;
  let uuid: string;
  let token: string;
  const dir = mkdtempSync(join(tmpdir(), 'snf-client-'));
  let configs = 0;
  /** A client configuration file of its own for each scenario. */
  const newConfig = () => join(dir, `config-${++configs}`, 'config.json');
  const snf = (config: string, args: string[], env?: Record<string, string>) => runCli('snf', ['--config', config, ...args], env ? { env } : {});

  before(async () => {
    t = await startTestNode();
    ({ user: { uuid }, token } = await withAstakos(t, (a) =>
      a.accounts.createUser({ email: 'ada@example.org', password: 'analytical-engine', firstName: 'Ada', lastName: 'Lovelace', active: true })));
  });
  after(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a user logs in with an API token and whoami shows who they are and the services on offer', async () => {
    const config = newConfig();
    const login = await snf(config, ['login', '--url', t.url, '--token', token]);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, new RegExp(`logged in as Ada Lovelace \\(${uuid}\\)`));
    assert.equal(statSync(config).mode & 0o777, 0o600, 'the saved token is readable by others');
    assert.deepEqual(JSON.parse(readFileSync(config, 'utf8')), { url: `${t.url}/astakos/identity/v2.0`, token, uuid });

    const whoami = await snf(config, ['whoami']);
    assert.equal(whoami.code, 0, whoami.stderr);
    assert.match(whoami.stdout, new RegExp(`^uuid:\\s+${uuid}$`, 'm'));
    assert.match(whoami.stdout, /^name:\s+Ada Lovelace$/m);
    assert.match(whoami.stdout, new RegExp(`^\\s+identity\\s+${t.url}/astakos/identity/v2\\.0$`, 'm'));
  });

  it('whoami --json prints the whole access document', async () => {
    const config = newConfig();
    assert.equal((await snf(config, ['login', '--url', t.url, '--token', token])).code, 0);
    const r = await snf(config, ['whoami', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const access = JSON.parse(r.stdout);
    assert.equal(access.user.id, uuid);
    assert.equal(access.token.id, token);
    assert.ok(access.serviceCatalog.some((s: { type: string }) => s.type === 'identity'));
  });

  it('a user logs in with email and password, on the command line or from SNF_PASSWORD', async () => {
    const config = newConfig();
    const r = await snf(config, ['login', '--url', t.url, '--email', 'ada@example.org', '--password', 'analytical-engine']);
    assert.equal(r.code, 0, r.stderr);
    assert.match((await snf(config, ['whoami'])).stdout, new RegExp(`^uuid:\\s+${uuid}$`, 'm'));

    const fromEnv = newConfig();
    const e = await snf(fromEnv, ['login', '--url', t.url, '--email', 'ada@example.org'], { SNF_PASSWORD: 'analytical-engine' });
    assert.equal(e.code, 0, e.stderr);
    assert.equal(JSON.parse(readFileSync(fromEnv, 'utf8')).token, token);
  });

  it("a wrong token is refused with the cloud's 401 message and nothing is saved", async () => {
    const config = newConfig();
    assertFails(await snf(config, ['login', '--url', t.url, '--token', 'not-a-token']), 'error: 401 Invalid token');
    assert.ok(!existsSync(config));
  });

  it('a wrong password is refused with the 401 message', async () => {
    assertFails(await snf(newConfig(), ['login', '--url', t.url, '--email', 'ada@example.org', '--password', 'difference-engine']), '401 Invalid email or password');
  });

  it('whoami before any login says the user is not logged in', async () => {
    assertFails(await snf(newConfig(), ['whoami']), 'error: not logged in');
  });

  it('logging in to an address where no cloud answers says the connection was refused', async () => {
    const port = await freePort();
    assertFails(await snf(newConfig(), ['login', '--url', `http://127.0.0.1:${port}`, '--token', token]), `error: connect ECONNREFUSED 127.0.0.1:${port}`);
  });
});
