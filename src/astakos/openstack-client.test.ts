import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { required, startTestNode, withAstakos, type TestNode } from '../test/harness.js';

const run = promisify(execFile);
const OPENSTACK = '/usr/bin/openstack';
const missing = !existsSync(OPENSTACK);
if (missing && required('openstack')) throw new Error(`${OPENSTACK} is required (SNF_TEST_REQUIRE) but not installed: apt-get install python3-openstackclient`);

describe('the Debian openstack client against our identity service', { skip: missing && `${OPENSTACK} not installed (apt-get install python3-openstackclient)` }, () => {
  let t: TestNode;
  let uuid: string;
  let token: string;
  const password = 'open sesame';
  before(async () => {
    t = await startTestNode();
    const made = await withAstakos(t, (a) => a.accounts.createUser({ email: 'os@example.org', password, firstName: 'Open', lastName: 'Stack', active: true }));
    uuid = made.user.uuid;
    token = made.token;
  });
  after(() => t.close());

  const openstack = (...args: string[]) => run(OPENSTACK, [
    '--os-auth-url', `${t.url}/astakos/identity/v2.0`, '--os-identity-api-version', '2', ...args,
  ], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' }, timeout: 60_000 });

  it('`openstack token issue` with email and password prints our token', async () => {
    const { stdout } = await openstack('--os-username', 'os@example.org', '--os-password', password, '--os-project-name', uuid, 'token', 'issue', '-f', 'json');
    const issued = JSON.parse(stdout) as Record<string, string>;
    assert.equal(issued['id'], token);
    assert.equal(issued['user_id'], uuid);
    assert.equal(issued['project_id'], uuid);
  });

  it("`openstack token issue` with Synnefo's uuid and API token", async () => {
    const { stdout } = await openstack('--os-username', uuid, `--os-password=${token}`, '--os-project-id', uuid, 'token', 'issue', '-f', 'json');
    assert.equal((JSON.parse(stdout) as Record<string, string>)['id'], token);
  });

  it('a wrong password makes the client fail with our message', async () => {
    await assert.rejects(openstack('--os-username', 'os@example.org', '--os-password', 'wrong', '--os-project-name', uuid, 'token', 'issue'),
      (err: { stderr: string }) => err.stderr.includes('Invalid email or password') && err.stderr.includes('401'));
  });
});
