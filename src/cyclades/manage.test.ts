import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestNode, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { adminTool, registerImage, waitForServer } from '../test/compute.js';
import { call } from '../test/harness.js';
import { join } from 'node:path';
import { FakeBackend } from './backends/fake.js';

/** The compute commands of the admin tool, run as an operator runs them beside a live node. */
describe('synnefo manage: backends, flavors, servers, reconciliation', () => {
  let t: TestNode;
  let u: StoreUser;
  const cluster = `manage-${process.pid}.fake`;
  before(async () => {
    t = await startTestNode({ settings: { 'cyclades.fake_job_ms': 20, 'cyclades.instance_prefix': 'snfm-' } });
    u = await storeUser(t, 'manage');
  });
  after(() => t.close());

  const { run: manage, ok, json } = adminTool(() => t);

  it('adds a simulated backend and flavors, lists them, and refuses bad input', async () => {
    const b = await json('backend-add', '--clustername', cluster, '--driver', 'fake');
    assert.equal(b.driver, 'fake (simulated)');
    assert.ok(b.mtotal > 0, 'its capacity was read from the cluster');
    assert.match(await ok('backend-list'), /fake \(simulated\)/);
    const made = await json('flavor-create', '--cpus', '1,2', '--rams', '512', '--disks', '1', '--disk-templates', 'file');
    assert.deepEqual(made.map((f: { name: string }) => f.name), ['C1R512D1file', 'C2R512D1file']);
    assert.match(await ok('flavor-create', '--cpus', '1', '--rams', '512', '--disks', '1'), /No new flavors/);
    assert.equal((await manage('flavor-create', '--cpus', 'x', '--rams', '512', '--disks', '1')).code === 0, false);
    assert.equal((await manage('backend-add', '--clustername', cluster, '--driver', 'fake')).code === 0, false, 'the same cluster twice');
    assert.match(await ok('flavor-modify', '2', '--deleted', 'true'), /deleted=true/);
    assert.equal((await json('flavor-list')).length, 1);
  });

  it('shows and inspects a server, finds drift and fixes it, imports an instance', async () => {
    const image = await registerImage(t, u);
    const res = await call(`${t.url}/cyclades/compute/v2.0/servers`, { token: u.token, json: { server: { name: 'ops', imageRef: image, flavorRef: 1 } } });
    assert.equal(res.status, 202, res.text);
    const id = res.json.server.id as number;
    await waitForServer(t, u.token, id, ['ACTIVE']);
    const listed = await json('server-list');
    assert.ok(listed.some((s: { id: number; backend: string }) => s.id === id && s.backend.includes('(simulated)')));
    const inspected = await json('server-inspect', String(id));
    assert.equal(inspected.instance_name, `snfm-${id}`);
    assert.equal(inspected.backend_view.running, true);
    assert.match(inspected.commissions.join(' '), /BUILD accept/);
    assert.match(await ok('reconcile-servers'), /Everything in sync/);

    // An operator stops the instance behind the service's back: reconcile sees it and follows the cluster.
    const fake = new FakeBackend({ clustername: cluster, stateFile: join(t.dataDir, 'fake-ganeti', `${cluster}.db`), jobMs: 0 });
    fake.alterBehindBack(`snfm-${id}`, { running: false, adminState: 'down', status: 'ADMIN_down' });
    fake.addBehindBack('legacy-vm', { vcpus: 1, memoryMiB: 512, diskTemplate: 'file' });
    await fake.close();
    const drift = await json('reconcile-servers');
    assert.deepEqual(drift.map((d: { kind: string; server: number }) => [d.kind, d.server]), [['state', id]]);
    await ok('reconcile-servers', '--fix');
    await waitForServer(t, u.token, id, ['STOPPED']);

    const imported = await ok('server-import', 'legacy-vm', '--backend', '1', '--user', u.uuid, '--flavor', '1', '--image', image, '--name', 'legacy');
    const newId = Number(/as server (\d+)/.exec(imported)![1]);
    const shown = await waitForServer(t, u.token, newId, ['ACTIVE']);
    assert.equal(shown.name, 'legacy');
    assert.match(await ok('reconcile-servers'), /Everything in sync/);
    assert.match(await ok('reconcile-commissions-cyclades', '--older-than', '0'), /No pending commissions/);
    assert.match(await ok('server-modify', String(newId), '--suspended', 'true'), /updated/);
    const refused = await call(`${t.url}/cyclades/compute/v2.0/servers/${newId}/action`, { token: u.token, json: { shutdown: {} } });
    assert.equal(refused.status, 403, 'a suspended server takes no user action');
  });
});
