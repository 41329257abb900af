import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, startTestNode, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { registerImage, startComputeNode, waitForServer, openstackAs, openstackMissing } from '../test/compute.js';

describe('keypairs', () => {
  let t: TestNode;
  let u: StoreUser;
  before(async () => { t = await startTestNode(); u = await storeUser(t, 'keys'); });
  after(() => t.close());
  const kp = (path = '') => `${t.url}/cyclades/compute/v2.0/os-keypairs${path}`;

  it('generates a pair (private key once), imports a public key, lists, shows, deletes', async () => {
    const made = await call(kp(), { token: u.token, json: { keypair: { name: 'gen' } } });
    assert.equal(made.status, 201, made.text);
    assert.match(made.json.keypair.private_key, /BEGIN RSA PRIVATE KEY/);
    assert.match(made.json.keypair.public_key, /^ssh-rsa AAAA/);
    assert.match(made.json.keypair.fingerprint, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    const pub = made.json.keypair.public_key as string;
    const imported = await call(kp(), { token: u.token, json: { keypair: { name: 'mine', public_key: `${pub.split(' ').slice(0, 2).join(' ')} me@laptop\n` } } });
    assert.equal(imported.status, 201, imported.text);
    assert.equal(imported.json.keypair.private_key, undefined);
    assert.equal(imported.json.keypair.fingerprint, made.json.keypair.fingerprint);
    const list = await call(kp(), { token: u.token });
    assert.deepEqual(list.json.keypairs.map((k: any) => k.keypair.name), ['gen', 'mine']);
    const shown = await call(kp('/mine'), { token: u.token });
    assert.equal(shown.json.keypair.name, 'mine');
    assert.equal((await call(kp(), { token: u.token, json: { keypair: { name: 'mine' } } })).status, 409);
    const bad = await call(kp(), { token: u.token, json: { keypair: { name: 'bad', public_key: 'ssh-rsa not-base64!' } } });
    assert.equal(bad.status, 400);
    const other = await storeUser(t, 'keys-other');
    assert.equal((await call(kp('/mine'), { token: other.token })).status, 404);
    assert.equal((await call(kp('/mine'), { method: 'DELETE', token: u.token })).status, 204);
    assert.equal((await call(kp('/mine'), { token: u.token })).status, 404);
  });
});

describe('the Debian openstack client against our compute API', { skip: openstackMissing }, () => {
  let t: TestNode;
  let u: StoreUser;
  let image: string;
  before(async () => {
    t = await startComputeNode('osc', { flavor: [1, 1024, 10] });
    u = await storeUser(t, 'osc');
    image = await registerImage(t, u, 'debian-osc');
  });
  after(() => t.close());

  const { run: openstack } = openstackAs(() => t, () => u);

  it('flavor list, keypair create, server create/list/show/delete', async () => {
    const flavors = JSON.parse(await openstack('flavor', 'list', '-f', 'json')) as { Name: string; ID: string; RAM: number; VCPUs: number }[];
    assert.deepEqual(flavors.map((f) => [f.Name, f.RAM, f.VCPUs]), [['C1R1024D10file', 1024, 1]]);
    assert.match(await openstack('keypair', 'create', 'osc-key'), /BEGIN RSA PRIVATE KEY/, 'the generated private key is printed');
    assert.equal((await call(`${t.url}/cyclades/compute/v2.0/os-keypairs/osc-key`, { token: u.token })).status, 200);

    const created = JSON.parse(await openstack('server', 'create', '--image', image, '--flavor', flavors[0]!.ID, '--key-name', 'osc-key', 'from-osc', '-f', 'json')) as Record<string, unknown>;
    assert.equal(created['name'], 'from-osc');
    const id = Number(created['id']);
    assert.ok(Number.isInteger(id));
    await waitForServer(t, u.token, id, ['ACTIVE']);
    const list = JSON.parse(await openstack('server', 'list', '-f', 'json')) as { ID: number | string; Name: string; Status: string }[];
    assert.deepEqual(list.map((s) => [Number(s.ID), s.Name, s.Status]), [[id, 'from-osc', 'ACTIVE']]);
    const shown = JSON.parse(await openstack('server', 'show', String(id), '-f', 'json')) as Record<string, unknown>;
    assert.equal(shown['status'], 'ACTIVE');
    assert.equal(shown['SNF:key_names'] !== undefined ? JSON.stringify(shown['SNF:key_names']).includes('osc-key') : true, true);
    await openstack('server', 'delete', String(id));
    await waitForServer(t, u.token, id, ['DELETED']);
  });
});
