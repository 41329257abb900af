import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { call, startTestNode, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { adminTool, computeQuota, registerImage, waitForServer, withCyclades } from '../test/compute.js';
import { FakeBackend } from './backends/fake.js';

const GiB = 2 ** 30;

/** The volume commands of the admin tool, run as an operator runs them beside a live node. */
describe('synnefo manage: volume types and volumes', () => {
  let t: TestNode;
  let u: StoreUser;
  const cluster = `volmanage-${process.pid}.fake`;
  let fileType: number;
  let fastType: number;
  let alone: number;
  before(async () => {
    t = await startTestNode({ settings: { 'cyclades.fake_job_ms': 20, 'cyclades.instance_prefix': 'snfv-' } });
    u = await storeUser(t, 'volmanage');
  });
  after(() => t.close());

  const { run: manage, ok, json, refused } = adminTool(() => t);
  /** The disks the simulated cluster has on a server's instance. */
  const disksOf = async (server: number) => {
    const fake = new FakeBackend({ clustername: cluster, stateFile: join(t.dataDir, 'fake-ganeti', `${cluster}.db`), jobMs: 0 });
    try { return (await fake.instance(`snfv-${server}`))!.diskNames; } finally { await fake.close(); }
  };
  const diskUsage = async () => (await computeQuota(t, u))['cyclades.disk']!.usage;

  it('creates, lists, shows and changes volume types; a deleted type takes no volumes and its flavors go with it, until restored', async () => {
    await ok('backend-add', '--clustername', cluster, '--driver', 'fake');
    await ok('flavor-create', '--cpus', '1', '--rams', '512', '--disks', '1', '--disk-templates', 'file');
    fileType = (await json('volume-type-list'))[0].id;

    const fast = await json('volume-type-create', '--name', 'fast', '--disk-template', 'plain', '--specs', 'GNT-EXTP:pool=ssd, tier=gold');
    fastType = fast.id;
    assert.deepEqual([fast.name, fast.disk_template, fast.flavors, fast.volumes, fast.deleted, fast.specs], ['fast', 'plain', 0, 0, false, { 'GNT-EXTP:pool': 'ssd', tier: 'gold' }]);
    await refused(/Invalid disk template 'Plain!'/, 'volume-type-create', '--name', 'x', '--disk-template', 'Plain!');
    await refused(/'tier' is not key=value/, 'volume-type-create', '--name', 'x', '--disk-template', 'plain', '--specs', 'tier');
    await refused(/longer than 64/, 'volume-type-create', '--name', 'x', '--disk-template', 'plain', '--specs', `${'k'.repeat(65)}=v`);
    await refused(/'constructor' cannot be a spec key/, 'volume-type-create', '--name', 'x', '--disk-template', 'plain', '--specs', 'constructor=v');
    assert.notEqual((await manage('volume-type-create', '--name', 'x')).code, 0, '--disk-template is required');

    // The new flavors of its disk template take the type.
    await ok('flavor-create', '--cpus', '2', '--rams', '512', '--disks', '2', '--disk-templates', 'plain');
    assert.deepEqual((await json('volume-type-list')).map((x: { id: number; flavors: number }) => [x.id, x.flavors]), [[fileType, 1], [fastType, 1]]);
    assert.match(await ok('volume-type-show', String(fastType)), /disk_template\s*: plain/);
    await refused(/Volume type 999 not found/, 'volume-type-show', '999');
    await refused(/Invalid volume type id 'fast'/, 'volume-type-show', 'fast');

    const changed = await json('volume-type-modify', String(fastType), '--spec-add', 'tier=silver,zone=a', '--spec-delete', 'GNT-EXTP:pool');
    assert.deepEqual(changed.specs, { tier: 'silver', zone: 'a' });
    await refused(/has no spec 'nope'/, 'volume-type-modify', String(fastType), '--spec-delete', 'nope');
    await refused(/Cannot add and delete spec 'zone'/, 'volume-type-modify', String(fastType), '--spec-add', 'zone=b', '--spec-delete', 'zone');
    await refused(/Nothing to change/, 'volume-type-modify', String(fastType));
    await refused(/--deleted takes true or false/, 'volume-type-modify', String(fastType), '--deleted', 'maybe');
    assert.deepEqual((await json('volume-type-show', String(fastType))).specs, { tier: 'silver', zone: 'a' }, 'refused changes left it as it was');

    assert.equal((await json('volume-type-modify', String(fastType), '--deleted', 'true')).deleted, true);
    assert.deepEqual((await json('volume-type-list')).map((x: { id: number }) => x.id), [fileType]);
    assert.deepEqual((await json('volume-type-list', '--deleted')).map((x: { id: number; deleted: boolean }) => [x.id, x.deleted]), [[fileType, false], [fastType, true]]);
    await assert.rejects(withCyclades(t, (c) => c.volumes.resolveType('fast')), /Volume type fast not found/);
    assert.deepEqual((await json('flavor-list', '--deleted')).map((f: { disk_template: string; deleted: boolean }) => [f.disk_template, f.deleted]), [['file', false], ['plain', true]]);
    await refused(/Volume type fast not found/, 'volume-create', '--user', u.uuid, '--size', '1', '--volume-type', 'fast');

    await ok('volume-type-modify', String(fastType), '--deleted', 'false');
    assert.equal(Number((await withCyclades(t, (c) => c.volumes.resolveType('fast'))).id), fastType);
    assert.deepEqual((await json('flavor-list')).map((f: { disk_template: string }) => f.disk_template), ['file', 'plain']);
  });

  it("creates a volume for a user (charged at once), lists, shows and changes it, and refuses bad input", async () => {
    const before = await diskUsage();
    const made = await json('volume-create', '--user', u.uuid, '--size', '2', '--volume-type', 'file', '--name', 'data', '--description', 'scratch');
    alone = made.id;
    assert.deepEqual([made.user, made.project, made.size, made.status, made.type, made.server, made.source, made.name, made.description, made.charged],
      [u.uuid, u.uuid, 2, 'AVAILABLE', fileType, null, 'blank', 'data', 'scratch', 2 * GiB]);
    assert.equal(made.backend_view.state, 'no disk yet (never attached)');
    assert.equal(await diskUsage(), before + 2 * GiB);

    const image = await registerImage(t, u);
    const fromImage = await json('volume-create', '--user', u.uuid, '--size', '1', '--volume-type', String(fileType), '--image', image);
    assert.equal(fromImage.source, `image:${image}`);
    await refused(/Image nope not found/, 'volume-create', '--user', u.uuid, '--size', '1', '--volume-type', 'file', '--image', 'nope');

    assert.deepEqual((await json('volume-list', '--user', u.uuid)).map((v: { id: number }) => v.id), [alone, fromImage.id]);
    assert.deepEqual(await json('volume-list', '--user', 'someone-else'), []);
    const shown = await json('volume-show', String(alone));
    assert.deepEqual([shown.id, shown.type_name, shown.disk_template, shown.metadata], [alone, 'file', 'file', {}]);
    assert.match(await ok('volume-inspect', String(alone)), /As the backend sees it:\ndisk\s*: snfv-vol-/);

    const modified = await json('volume-modify', String(alone), '--name', 'renamed', '--delete-on-termination', 'true');
    assert.deepEqual([modified.name, modified.description, modified.delete_on_termination], ['renamed', 'scratch', true]);
    assert.equal((await json('volume-modify', String(alone), '--description', 'kept')).name, 'renamed', 'a change leaves the others alone');
    await refused(/cannot have 'delete_on_termination' attribute set to 'False'/, 'volume-modify', String(alone), '--delete-on-termination', 'false');
    await refused(/Nothing to update/, 'volume-modify', String(alone));
    await refused(/--delete-on-termination takes true or false/, 'volume-modify', String(alone), '--delete-on-termination', 'sometimes');

    await refused(/Give --user or --server/, 'volume-create', '--size', '1', '--volume-type', 'file');
    await refused(/Give --volume-type/, 'volume-create', '--user', u.uuid, '--size', '1');
    await refused(/--size takes a positive whole number/, 'volume-create', '--user', u.uuid, '--size', '1.5', '--volume-type', 'file');
    await refused(/--size takes a positive whole number/, 'volume-create', '--user', u.uuid, '--size', '0', '--volume-type', 'file');
    await refused(/Maximum volume size is 200GB/, 'volume-create', '--user', u.uuid, '--size', '201', '--volume-type', 'file');
    await refused(/UUID, not an email/, 'volume-create', '--user', u.email, '--size', '1', '--volume-type', 'file');
    await refused(/Server 999 not found/, 'volume-create', '--server', '999', '--size', '1');
    await refused(/Invalid volume id 'abc'/, 'volume-show', 'abc');
    await refused(/Volume 999 not found/, 'volume-show', '999');
    await refused(/Volume 999 not found/, 'volume-detach', '999');
    assert.match(await ok('volume-remove', String(fromImage.id)), new RegExp(`Volume ${fromImage.id} removed\\.`));
    assert.equal(await diskUsage(), before + 2 * GiB, 'the removed volume gave its charge back');
  });

  it("attaches, detaches and removes volumes on a user's server, waiting for the disk jobs", async () => {
    const image = await registerImage(t, u, 'debian-srv');
    const res = await call(`${t.url}/cyclades/compute/v2.0/servers`, { token: u.token, json: { server: { name: 'db', imageRef: image, flavorRef: 1, networks: [] } } });
    assert.equal(res.status, 202, res.text);
    const sid = Number(res.json.server.id);
    await waitForServer(t, u.token, sid, ['ACTIVE']);
    const [root] = await json('volume-list', '--server', String(sid));
    assert.equal(root.index, 0);
    const start = await diskUsage();

    assert.equal(await ok('volume-attach', String(alone), '--server', String(sid)), `Volume ${alone}: IN_USE.\n`);
    const attached = await json('volume-show', String(alone));
    assert.deepEqual([attached.status, attached.server, attached.index, attached.backend_view.state, attached.backend_view.size_mib], ['IN_USE', sid, 1, 'on the instance', 2048]);
    assert.ok((await disksOf(sid)).includes(`snfv-vol-${alone}`));
    await refused(/Cannot attach volume while volume is in 'IN_USE' status/, 'volume-attach', String(alone), '--server', String(sid));

    const onServer = await json('volume-create', '--server', String(sid), '--size', '1', '--name', 'logs');
    assert.deepEqual([onServer.user, onServer.status, onServer.server, onServer.index, onServer.type], [u.uuid, 'IN_USE', sid, 2, fileType]);
    assert.deepEqual(await disksOf(sid), [`snfv-vol-${root.id}`, `snfv-vol-${alone}`, `snfv-vol-${onServer.id}`]);
    await refused(/Cannot create a volume with template 'plain' to a server with volume template 'file'/, 'volume-create', '--server', String(sid), '--size', '1', '--volume-type', 'fast');
    await refused(/belongs to .*, not to nobody/, 'volume-create', '--server', String(sid), '--user', 'nobody', '--size', '1');
    assert.deepEqual((await json('volume-list', '--server', String(sid))).map((v: { id: number; index: number }) => [v.index, v.id]).sort((a: number[], b: number[]) => a[0]! - b[0]!), [[0, root.id], [1, alone], [2, onServer.id]]);

    assert.equal(await ok('volume-detach', String(alone)), `Volume ${alone}: AVAILABLE.\n`);
    assert.deepEqual(await disksOf(sid), [`snfv-vol-${root.id}`, `snfv-vol-${onServer.id}`]);
    const detached = await json('volume-inspect', String(alone));
    assert.deepEqual([detached.status, detached.server, detached.backend_view.state], ['AVAILABLE', null, 'on no instance (kept detached)']);
    await refused(/Volume \d+ is not attached to a server/, 'volume-detach', String(alone));
    await refused(/Cannot detach the root volume/, 'volume-detach', String(root.id));
    await refused(/Cannot delete the root volume/, 'volume-remove', String(root.id));

    assert.equal(await ok('volume-remove', String(onServer.id), String(alone)), `Volume ${onServer.id} removed.\nVolume ${alone} removed.\n`);
    assert.deepEqual(await disksOf(sid), [`snfv-vol-${root.id}`]);
    assert.deepEqual((await json('volume-list', '--server', String(sid))).map((v: { id: number }) => v.id), [root.id]);
    const gone = (await json('volume-list', '--user', u.uuid, '--deleted')).filter((v: { id: number }) => v.id === alone || v.id === onServer.id);
    assert.deepEqual(gone.map((v: { status: string }) => v.status), ['DELETED', 'DELETED']);
    await refused(/has been deleted/, 'volume-modify', String(alone), '--name', 'again');
    assert.equal(await diskUsage(), start - 2 * GiB, "both volumes' charges went back; the root one stays with the server");

    assert.equal((await call(`${t.url}/cyclades/compute/v2.0/servers/${sid}`, { token: u.token, method: 'DELETE' })).status, 204);
    await waitForServer(t, u.token, sid, ['DELETED']);
  });
});
