import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { call, required, startTestNode, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';

const run = promisify(execFile);
const OPENSTACK = '/usr/bin/openstack';
const missing = !existsSync(OPENSTACK);
if (missing && required('openstack')) throw new Error(`${OPENSTACK} is required (SNF_TEST_REQUIRE) but not installed: apt-get install python3-openstackclient`);

describe('the Debian openstack client against the image registry', { skip: missing && `${OPENSTACK} not installed (apt-get install python3-openstackclient)` }, () => {
  let t: TestNode;
  let user: StoreUser;
  let id: string;

  before(async () => {
    t = await startTestNode();
    user = await storeUser(t, 'os-images');
    await call(`${user.base}/images`, { method: 'PUT', token: user.token });
    await call(`${user.base}/images/alpine.diskdump`, { method: 'PUT', token: user.token, body: 'alpine bytes', headers: { 'content-type': 'application/octet-stream' } });
    const r = await call(`${t.url}/cyclades/image/v1.0/images/`, {
      method: 'POST', token: user.token,
      headers: { 'x-image-meta-name': 'Alpine', 'x-image-meta-location': `pithos://${user.uuid}/images/alpine.diskdump`, 'x-image-meta-property-OS': 'alpine' },
    });
    assert.equal(r.status, 200, r.text);
    id = r.headers.get('x-image-meta-id')!;
  });
  after(() => t.close());

  // Synnefo's way in: the user's uuid and API token; the catalog publishes the image service at /cyclades/image.
  const openstack = (...args: string[]) => run(OPENSTACK, [
    '--os-auth-url', `${t.url}/astakos/identity/v2.0`, '--os-identity-api-version', '2',
    '--os-username', user.uuid, `--os-password=${user.token}`, '--os-project-id', user.uuid, ...args,
  ], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' }, timeout: 60_000 });

  for (const version of [[], ['--os-image-api-version', '1']]) {
    const label = version.length ? ' (image API v1 asked for)' : ' (version found by discovery)';

    it(`\`openstack image list\` lists the image${label}`, async () => {
      const { stdout } = await openstack(...version, 'image', 'list', '-f', 'json');
      const rows = JSON.parse(stdout) as { ID: string; Name: string; Status: string }[];
      assert.deepEqual(rows, [{ ID: id, Name: 'Alpine', Status: 'AVAILABLE' }]);
    });

    it(`\`openstack image show\` shows it by id and by name${label}`, async () => {
      for (const ref of [id, 'Alpine']) {
        const { stdout } = await openstack(...version, 'image', 'show', ref, '-f', 'json');
        const shown = JSON.parse(stdout) as Record<string, unknown>;
        assert.equal(shown['id'], id);
        assert.equal(shown['name'], 'Alpine');
        assert.equal(shown['size'], 12);
        assert.equal(shown['owner'], user.uuid);
        assert.equal((shown['properties'] as Record<string, string>)['OS'], 'alpine');
      }
    });
  }

  it('`openstack image show` of an unknown image fails with a not-found message', async () => {
    await assert.rejects(openstack('image', 'show', 'no-such-image'), (err: { stderr: string }) => /No Image found for no-such-image/i.test(err.stderr));
  });
});
