import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, dbTargets, startTestNode, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { computeQuota, driversUnderTest, pollUntil, registerImage, waitForServer, withCyclades } from '../test/compute.js';
import { bootstrapNetworks } from './service.js';

const GiB = 2 ** 30;

for (const db of dbTargets()) describe(`volumes, ${db.name}`, () => {
  let t: TestNode;
  let u: StoreUser;
  let image: string;
  const vol = (path: string, init: Parameters<typeof call>[1] = {}, who: { token: string } = u) => call(`${t.url}/cyclades/volume/v2.0${path}`, { token: who.token, ...init });
  const compute = (path: string, init: Parameters<typeof call>[1] = {}, who: { token: string } = u) => call(`${t.url}/cyclades/compute/v2.0${path}`, { token: who.token, ...init });
  const disk = async (who: StoreUser = u) => (await computeQuota(t, who))['cyclades.disk']!;
  /** Polls the disk quota until its usage is `bytes` (a deleted server gives its charge back just after it shows DELETED). */
  const usageBecomes = async (bytes: number, what = 'disk usage') => {
    const q = await pollUntil(disk, (x) => x.usage === bytes, what);
    assert.equal(q.pending, 0, 'nothing pending');
  };
  /** Polls a volume until its status is `status`. */
  const until = (id: string, status: string) => pollUntil(async () => (await vol(`/volumes/${id}`)).json.volume.status, (x) => x === status, `volume ${id} to become ${status}`);
  /** The simulated cluster's view of a server's disks. */
  const disks = (server: number) => withCyclades(t, async (c) => {
    const inst = await c.backends.driver((await c.backends.list())[0]!).instance(`snf-${server}`);
    return inst ? inst.diskNames.map((n, i) => [n, inst.diskSizesMiB[i]]) : undefined;
  });

  before(async () => {
    t = await startTestNode({ db, settings: { 'cyclades.fake_job_ms': 20 } });
    await withCyclades(t, async (c) => {
      await c.backends.add({ clustername: `vol-${db.name}-${process.pid}.fake`, driver: 'fake' });
      await c.flavors.create([1], [512], [1], ['file']);
      await bootstrapNetworks(c, t.node.context.settings);
    });
    u = await storeUser(t, 'vols');
    image = await registerImage(t, u, 'debian', true);
  });
  after(() => t?.close());

  it('lists the volume types, one per disk template of the flavors, and the version documents without a token', async () => {
    const types = await vol('/types');
    assert.equal(types.status, 200, types.text);
    assert.deepEqual(types.json.volume_types.map((x: { name: string; 'SNF:disk_template': string }) => [x.name, x['SNF:disk_template']]), [['file', 'file']]);
    const versions = await call(`${t.url}/cyclades/volume`);
    assert.deepEqual(versions.json.versions.map((v: { id: string }) => v.id), ['v2.0', 'v2', 'v3.0']);
    assert.equal((await call(`${t.url}/cyclades/volume/v2.0/volumes`, { token: 'wrong' })).status, 401);
  });

  it('takes a volume creating -> available -> in use -> available -> deleted, with quota following; a root volume stays', async () => {
    const start = (await disk()).usage;
    const made = await vol('/volumes', { json: { volume: { display_name: 'data', size: 2, volume_type: 1, display_description: 'scratch' } } });
    assert.equal(made.status, 202, made.text);
    assert.deepEqual(Object.keys(made.json.volume).sort(), ['display_name', 'id', 'links'], "Synnefo's brief create reply");
    const id = made.json.volume.id as string;
    const shown = (await vol(`/volumes/${id}`)).json.volume;
    assert.deepEqual([shown.status, shown.size, shown.display_description, shown.attachments], ['available', 2, 'scratch', []]);
    assert.equal((await disk()).usage, start + 2 * GiB, 'charged at once');

    const s = await compute('/servers', { json: { server: { name: 'with-vol', imageRef: image, flavorRef: 1, networks: [] } } });
    assert.equal(s.status, 202, s.text);
    const server = s.json.server.id as number;
    const active = await waitForServer(t, u.token, server, ['ACTIVE']);
    assert.equal(active.volumes.length, 1, 'the root volume');
    const root = active.volumes[0] as string;
    assert.equal((await vol(`/volumes/${root}`)).json.volume.status, 'in_use');
    assert.equal((await disk()).usage, start + 3 * GiB);

    const attached = await compute(`/servers/${server}/os-volume_attachments`, { json: { volumeAttachment: { volumeId: id } } });
    assert.equal(attached.status, 202, attached.text);
    await until(id, 'in_use');
    assert.deepEqual(await disks(server), [[`snf-vol-${root}`, 1024], [`snf-vol-${id}`, 2048]]);
    const listed = (await compute(`/servers/${server}/os-volume_attachments`)).json.volumeAttachments.map((a: { volumeId: string }) => a.volumeId);
    assert.deepEqual(listed, [root, id]);

    assert.equal((await compute(`/servers/${server}/os-volume_attachments/${root}`, { method: 'DELETE' })).status, 400, 'a root volume stays');
    assert.equal((await vol(`/volumes/${root}`, { method: 'DELETE' })).status, 400);
    assert.equal((await compute(`/servers/${server}/os-volume_attachments/${id}`, { method: 'DELETE' })).status, 202);
    await until(id, 'available');
    assert.deepEqual(await disks(server), [[`snf-vol-${root}`, 1024]]);
    assert.equal((await disk()).usage, start + 3 * GiB, 'a detached volume stays charged');

    // Attached again: its kept disk, not a new one.
    assert.equal((await compute(`/servers/${server}/os-volume_attachments`, { json: { volumeAttachment: { volumeId: id } } })).status, 202);
    await until(id, 'in_use');
    assert.deepEqual(await disks(server), [[`snf-vol-${root}`, 1024], [`snf-vol-${id}`, 2048]]);
    assert.equal((await vol(`/volumes/${id}`, { method: 'DELETE' })).status, 202, 'deleting an attached volume removes its disk');
    await until(id, 'deleted');
    assert.deepEqual(await disks(server), [[`snf-vol-${root}`, 1024]]);
    assert.equal((await disk()).usage, start + GiB);

    assert.equal((await compute(`/servers/${server}`, { method: 'DELETE' })).status, 204);
    await waitForServer(t, u.token, server, ['DELETED']);
    assert.equal((await vol(`/volumes/${root}`)).json.volume.status, 'deleted', 'the root volume goes with its server');
    await usageBecomes(start);
  });

  it('a volume detached from a server holds its own charge after the server is gone', async () => {
    const start = (await disk()).usage;
    const s = await compute('/servers', {
      json: { server: { name: 'bdm', imageRef: '', flavorRef: 1, networks: [], block_device_mapping_v2: [
        { uuid: image, source_type: 'image', destination_type: 'volume', volume_size: 2, boot_index: '0' },
        { source_type: 'blank', destination_type: 'volume', volume_size: 1 },
        { source_type: 'blank', destination_type: 'volume', volume_size: 1 },
      ] } },
    });
    assert.equal(s.status, 202, s.text);
    const server = s.json.server.id as number;
    const active = await waitForServer(t, u.token, server, ['ACTIVE']);
    assert.equal(active.volumes.length, 3);
    assert.deepEqual((await disks(server))!.map(([, size]) => size), [2048, 1024, 1024]);
    assert.equal((await disk()).usage, start + 4 * GiB);
    // Deleting a volume made with the server gives its share of the server's charge back.
    const gone = active.volumes[2] as string;
    assert.equal((await vol(`/volumes/${gone}`, { method: 'DELETE' })).status, 202);
    await until(gone, 'deleted');
    assert.equal((await disk()).usage, start + 3 * GiB);
    const extra = active.volumes[1] as string;
    assert.equal((await compute(`/servers/${server}/os-volume_attachments/${extra}`, { method: 'DELETE' })).status, 202);
    await until(extra, 'available');
    assert.equal((await compute(`/servers/${server}`, { method: 'DELETE' })).status, 204);
    await waitForServer(t, u.token, server, ['DELETED']);
    await usageBecomes(start + GiB, 'the detached volume keeps its gigabyte');

    // Existing volumes in a mapping: one whose disk the cluster keeps (attached after the creation), one never attached (made with it).
    const fresh = (await vol('/volumes', { json: { volume: { display_name: 'fresh', size: 1 } } })).json.volume.id as string;
    const s2 = await compute('/servers', {
      json: { server: { name: 'bdm-existing', imageRef: image, flavorRef: 1, networks: [], block_device_mapping_v2: [
        { uuid: image, source_type: 'image', destination_type: 'volume', volume_size: 1, boot_index: 0 },
        { uuid: extra, source_type: 'volume', destination_type: 'volume' },
        { uuid: fresh, source_type: 'volume', destination_type: 'volume' },
      ] } },
    });
    assert.equal(s2.status, 202, s2.text);
    const second = s2.json.server.id as number;
    await waitForServer(t, u.token, second, ['ACTIVE']);
    await until(extra, 'in_use');
    const rootOf2 = (await compute(`/servers/${second}`)).json.server.volumes[0] as string;
    assert.deepEqual(await disks(second), [[`snf-vol-${rootOf2}`, 1024], [`snf-vol-${fresh}`, 1024], [`snf-vol-${extra}`, 1024]]);
    assert.equal((await disk()).usage, start + 3 * GiB, 'a new root of 1 GiB; the two volumes keep their own charge');
    assert.equal((await compute('/servers', { json: { server: { name: 'twice', imageRef: image, flavorRef: 1, networks: [], block_device_mapping_v2: [
      { uuid: image, source_type: 'image', volume_size: 1 }, { uuid: extra, source_type: 'volume' }] } } })).status, 400, 'a volume in use');
    assert.equal((await compute(`/servers/${second}`, { method: 'DELETE' })).status, 204);
    await waitForServer(t, u.token, second, ['DELETED']);
    for (const v of [extra, fresh]) assert.equal((await vol(`/volumes/${v}`)).json.volume.status, 'deleted');
    await usageBecomes(start);

    // A detached volume whose disk the cluster keeps: deleting it makes a helper instance take the disk and go with it.
    const lone = (await vol('/volumes', { json: { volume: { display_name: 'lone', size: 1 } } })).json.volume.id as string;
    const s3 = await compute('/servers', { json: { server: { name: 'lone-host', imageRef: image, flavorRef: 1, networks: [] } } });
    await waitForServer(t, u.token, s3.json.server.id, ['ACTIVE']);
    assert.equal((await compute(`/servers/${s3.json.server.id}/os-volume_attachments`, { json: { volumeAttachment: { volumeId: lone } } })).status, 202);
    await until(lone, 'in_use');
    assert.equal((await compute(`/servers/${s3.json.server.id}/os-volume_attachments/${lone}`, { method: 'DELETE' })).status, 202);
    await until(lone, 'available');
    assert.equal((await vol(`/volumes/${lone}`, { method: 'DELETE' })).status, 202);
    await until(lone, 'deleted');
    await compute(`/servers/${s3.json.server.id}`, { method: 'DELETE' });
    await waitForServer(t, u.token, s3.json.server.id, ['DELETED']);
    await usageBecomes(start);
    const leftovers = await withCyclades(t, async (c) => (await c.backends.driver((await c.backends.list())[0]!).listInstances()).filter((i) => i.name.includes('purge')));
    assert.deepEqual(leftovers, [], 'the helper instance is gone');
  });

  it('snapshots a volume into the snapshots container, and makes a volume and a server from the snapshot', async () => {
    const s = await compute('/servers', { json: { server: { name: 'snap-src', imageRef: image, flavorRef: 1, networks: [] } } });
    const server = s.json.server.id as number;
    const active = await waitForServer(t, u.token, server, ['ACTIVE']);
    const root = active.volumes[0] as string;
    const snap = await vol('/snapshots', { json: { snapshot: { volume_id: root, display_name: 'golden', display_description: 'before upgrade' } } });
    assert.equal(snap.status, 202, snap.text);
    const sid = snap.json.snapshot.id as string;
    const shown = await pollUntil(async () => (await vol(`/snapshots/${sid}`)).json.snapshot, (x) => x.status === 'AVAILABLE', 'snapshot written');
    assert.deepEqual([shown.status, shown.display_name, shown.volume_id, shown.size], ['AVAILABLE', 'golden', root, 1]);
    // The snapshot is an object of the user's snapshots container, registered as an image.
    const listing = await call(`${t.url}/pithos/object-store/v1/${u.uuid}/snapshots?format=json`, { token: u.token });
    assert.deepEqual(listing.json.map((o: { name: string }) => o.name), [sid]);
    const images = (await compute('/images/detail')).json.images as { name: string; is_snapshot: boolean }[];
    assert.ok(images.some((i) => i.name === 'golden' && i.is_snapshot), JSON.stringify(images.map((i) => i.name)));
    assert.equal((await vol(`/snapshots/${sid}`, {}, await storeUser(t, 'snap-other'))).status, 404);

    const fromSnap = await vol('/volumes', { json: { volume: { display_name: 'restored', size: 1, snapshot_id: sid } } });
    assert.equal(fromSnap.status, 202, fromSnap.text);
    assert.equal((await vol(`/volumes/${fromSnap.json.volume.id}`)).json.volume.snapshot_id, sid);
    const s2 = await compute('/servers', { json: { server: { name: 'from-snap', imageRef: '', flavorRef: 1, networks: [], block_device_mapping_v2: [{ uuid: sid, source_type: 'snapshot', destination_type: 'volume', volume_size: 1, boot_index: 0 }] } } });
    assert.equal(s2.status, 202, s2.text);
    await waitForServer(t, u.token, s2.json.server.id, ['ACTIVE']);
    assert.equal((await vol(`/snapshots/${sid}`, { method: 'DELETE' })).status, 202);
    assert.equal((await vol(`/snapshots/${sid}`)).status, 404);
    for (const id of [server, s2.json.server.id as number]) await compute(`/servers/${id}`, { method: 'DELETE' });
    assert.equal((await vol(`/volumes/${fromSnap.json.volume.id}`, { method: 'DELETE' })).status, 202);
  });

  it('an image shared with a second user is theirs to boot; a third user cannot see or use it', async () => {
    const owner = await storeUser(t, 'img-owner');
    const member = await storeUser(t, 'img-member');
    const third = await storeUser(t, 'img-third');
    const priv = await registerImage(t, owner, 'private-os');
    assert.equal((await call(`${t.url}/cyclades/image/v1.0/images/${priv}/members/${member.uuid}`, { token: owner.token, method: 'PUT' })).status, 204);
    assert.equal((await compute(`/images/${priv}`, {}, member)).status, 200);
    assert.equal((await compute(`/images/${priv}`, {}, third)).status, 404);
    const made = await compute('/servers', { json: { server: { name: 'borrowed', imageRef: priv, flavorRef: 1, networks: [] } } }, member);
    assert.equal(made.status, 202, made.text);
    await waitForServer(t, member.token, made.json.server.id, ['ACTIVE']);
    assert.equal((await compute('/servers', { json: { server: { name: 'no', imageRef: priv, flavorRef: 1, networks: [] } } }, third)).status, 400);
    await compute(`/servers/${made.json.server.id}`, { method: 'DELETE' }, member);
  });

  it('undoes claims a stopped process left without a job (a port being attached, a volume being attached)', async () => {
    const s = await compute('/servers', { json: { server: { name: 'claims', imageRef: image, flavorRef: 1, networks: [] } } });
    const server = s.json.server.id as number;
    await waitForServer(t, u.token, server, ['ACTIVE']);
    const volId = (await vol('/volumes', { json: { volume: { display_name: 'claimed', size: 1 } } })).json.volume.id as string;
    const long = Date.now() - 10 * 60_000;
    await withCyclades(t, async (c) => {
      await c.volumes.store.updateVolume(Number(volId), { status: 'ATTACHING', server_id: server, disk_index: 1, job_action: 'ADD', updated_at: long });
      await c.dispatcher.rescan();
      const v = (await c.volumes.store.volume(Number(volId)))!;
      assert.deepEqual([v.status, v.server_id, v.job_action], ['AVAILABLE', null, '']);
    });
    assert.equal((await vol(`/volumes/${volId}`, { method: 'DELETE' })).status, 202);
    await compute(`/servers/${server}`, { method: 'DELETE' });
  });

  it('gives one volume to one request: concurrent attaches, and a delete racing an attach', async () => {
    const mk = async (name: string) => {
      const r = await compute('/servers', { json: { server: { name, imageRef: image, flavorRef: 1, networks: [] } } });
      await waitForServer(t, u.token, r.json.server.id, ['ACTIVE']);
      return r.json.server.id as number;
    };
    const [p, q] = [await mk('p'), await mk('q')];
    const id = (await vol('/volumes', { json: { volume: { display_name: 'contested', size: 1 } } })).json.volume.id as string;
    const attach = (server: number) => compute(`/servers/${server}/os-volume_attachments`, { json: { volumeAttachment: { volumeId: id } } });
    const both = await Promise.all([attach(p), attach(q)]);
    assert.deepEqual(both.map((r) => r.status).filter((x) => x === 202), [202], `one attach wins: ${both.map((r) => r.status)}`);
    await until(id, 'in_use');
    const holders = [];
    for (const server of [p, q]) if ((await disks(server))!.some(([n]) => n === `snf-vol-${id}`)) holders.push(server);
    assert.equal(holders.length, 1, 'the disk is on one server');
    const other = (await vol('/volumes', { json: { volume: { display_name: 'raced', size: 1 } } })).json.volume.id as string;
    const race = await Promise.all([vol(`/volumes/${other}`, { method: 'DELETE' }), compute(`/servers/${p}/os-volume_attachments`, { json: { volumeAttachment: { volumeId: other } } })]);
    assert.equal(race.filter((r) => r.status === 202).length, 1, `delete or attach, not both: ${race.map((r) => r.status)}`);
    for (const server of [p, q]) await compute(`/servers/${server}`, { method: 'DELETE' });
  });

  it('attaches a kept volume named in a mapping after a creation that waits for its networks', async () => {
    const lan = (await call(`${t.url}/cyclades/network/v2.0/networks`, { token: u.token, json: { network: { name: 'vol-lan' } } })).json.network;
    await call(`${t.url}/cyclades/network/v2.0/subnets`, { token: u.token, json: { subnet: { network_id: lan.id, cidr: '10.66.0.0/24' } } });
    const holder = await compute('/servers', { json: { server: { name: 'holder', imageRef: image, flavorRef: 1, networks: [] } } });
    await waitForServer(t, u.token, holder.json.server.id, ['ACTIVE']);
    const id = (await vol('/volumes', { json: { volume: { display_name: 'kept', size: 1 } } })).json.volume.id as string;
    assert.equal((await compute(`/servers/${holder.json.server.id}/os-volume_attachments`, { json: { volumeAttachment: { volumeId: id } } })).status, 202);
    await until(id, 'in_use');
    assert.equal((await compute(`/servers/${holder.json.server.id}/os-volume_attachments/${id}`, { method: 'DELETE' })).status, 202);
    await until(id, 'available');
    const s = await compute('/servers', { json: { server: { name: 'netted', imageRef: image, flavorRef: 1, networks: [{ uuid: lan.id }], block_device_mapping_v2: [
      { uuid: image, source_type: 'image', volume_size: 1, boot_index: 0 }, { uuid: id, source_type: 'volume' }] } } });
    assert.equal(s.status, 202, s.text);
    await waitForServer(t, u.token, s.json.server.id, ['ACTIVE']);
    await until(id, 'in_use');
    assert.ok((await disks(s.json.server.id))!.some(([n]) => n === `snf-vol-${id}`));
    for (const server of [holder.json.server.id, s.json.server.id]) await compute(`/servers/${server}`, { method: 'DELETE' });
  });

  it('refuses what it should: other users, bad sizes, over quota (nothing pending), bad mappings', async () => {
    const other = await storeUser(t, 'vols-other');
    const mine = (await vol('/volumes', { json: { volume: { display_name: 'mine', size: 1 } } })).json.volume.id as string;
    assert.equal((await vol(`/volumes/${mine}`, {}, other)).status, 404);
    assert.equal((await vol(`/volumes/${mine}`, { method: 'DELETE' }, other)).status, 404);
    assert.ok(!(await vol('/volumes', {}, other)).json.volumes.some((v: { id: string }) => v.id === mine));
    assert.equal((await vol('/volumes', { json: { volume: { display_name: 'x', size: 0 } } })).status, 400);
    assert.equal((await vol('/volumes', { json: { volume: { display_name: 'x', size: 'big' } } })).status, 400);
    assert.equal((await vol('/volumes', { json: { volume: { size: 1 } } })).status, 400, 'v2.0 needs display_name, as Synnefo');
    assert.equal((await vol('/volumes', { json: { volume: { display_name: 'x', size: 1, volume_type: 99 } } })).status, 400);
    assert.equal((await vol('/volumes', { json: { nope: 1 } })).status, 400);
    const limit = (await disk(other)).limit / GiB;
    const over = await vol('/volumes', { json: { volume: { display_name: 'huge', size: limit + 1 } } }, other);
    assert.ok(over.status === 413 || over.status === 400, over.text);
    const q = await disk(other);
    assert.deepEqual([q.usage, q.pending], [0, 0]);
    assert.equal((await vol('/volumes', {}, other)).json.volumes.length, 0);
    const meta = await vol(`/volumes/${mine}/metadata`, { json: { metadata: { a: '1' } } });
    assert.deepEqual(meta.json.metadata, { a: '1' });
    assert.equal((await vol(`/volumes/${mine}/metadata/nope`, { method: 'DELETE' })).status, 400);
    assert.equal((await vol(`/volumes/${mine}/metadata/a`, { method: 'DELETE' })).status, 200);
    // A volume asked for on a server that cannot take it is not kept (nor charged).
    const stopped = await compute('/servers', { json: { server: { name: 'full', imageRef: image, flavorRef: 1, networks: [] } } });
    await waitForServer(t, u.token, stopped.json.server.id, ['ACTIVE']);
    const tooMany = [];
    for (let i = 0; i < 8; i++) tooMany.push(await vol('/volumes', { json: { volume: { display_name: `v${i}`, size: 1, server_id: stopped.json.server.id } } }));
    assert.deepEqual(tooMany.map((r) => r.status), [202, 202, 202, 202, 202, 202, 202, 400], 'eight disks at most, the root one included');
    const eighth = (await vol('/volumes/detail', { method: 'GET' })).json.volumes.filter((v: { display_name: string }) => v.display_name === 'v7');
    assert.deepEqual(eighth, [], 'the refused volume is not kept');
    assert.equal((await withCyclades(t, (c) => c.volumes.store.volumes(null, { includeDeleted: true }))).find((v) => v.name === 'v7')?.charged ?? 0, 0, 'nor charged');
    await compute(`/servers/${stopped.json.server.id}`, { method: 'DELETE' });
    await waitForServer(t, u.token, stopped.json.server.id, ['DELETED']);
    const bad = await compute('/servers', { json: { server: { name: 'b', imageRef: image, flavorRef: 1, block_device_mapping_v2: [{ source_type: 'blank', volume_size: 1 }] } } });
    assert.equal(bad.status, 400, bad.text);
    assert.equal((await compute('/servers', { json: { server: { name: 'b', imageRef: image, flavorRef: 1, block_device_mapping_v2: [{ uuid: image, source_type: 'image' }] } } })).status, 400, 'volume_size is required');
    assert.equal((await vol(`/volumes/${mine}`, { method: 'DELETE' })).status, 202);
  });
});

/** Volumes on a real Ganeti cluster: disks added, detached (kept by the cluster) and attached again by RAPI jobs. */
for (const driver of driversUnderTest('v').filter((d) => d.name !== 'fake')) describe(`volumes on the ${driver.name} backend`, () => {
  let t: TestNode;
  let u: StoreUser;
  let image: string;
  const prefix = String(driver.settings['cyclades.instance_prefix']);
  const vol = (path: string, init: Parameters<typeof call>[1] = {}) => call(`${t.url}/cyclades/volume/v2.0${path}`, { token: u.token, ...init });
  const compute = (path: string, init: Parameters<typeof call>[1] = {}) => call(`${t.url}/cyclades/compute/v2.0${path}`, { token: u.token, ...init });
  const until = (id: string, status: string) => pollUntil(async () => (await vol(`/volumes/${id}`)).json.volume.status, (x) => x === status, `volume ${id} to become ${status}`, 120_000, 250);
  const diskNames = (server: number) => withCyclades(t, async (c) => (await c.backends.driver((await c.backends.list())[0]!).instance(`${prefix}${server}`))?.diskNames);

  before(async () => {
    t = await startTestNode({ settings: driver.settings });
    await withCyclades(t, async (c) => {
      await driver.addBackend(c);
      await c.flavors.create([1], [512], [driver.diskGiB], ['file']);
    });
    u = await storeUser(t, 'gnt-vol');
    image = await registerImage(t, u, 'debian', true);
  });
  after(async () => {
    if (t) await withCyclades(t, (c) => driver.cleanUp(c, prefix)).catch(() => undefined);
    await t?.close();
  });

  it('adds a volume as a new disk, detaches it (kept by the cluster) and attaches it again; it goes with its server', async () => {
    const s = await compute('/servers', { json: { server: { name: 'gnt-vols', imageRef: image, flavorRef: 1, networks: [] } } });
    assert.equal(s.status, 202, s.text);
    const server = s.json.server.id as number;
    const active = await waitForServer(t, u.token, server, ['ACTIVE'], 180_000);
    const root = active.volumes[0] as string;
    assert.deepEqual(await diskNames(server), [`${prefix}vol-${root}`]);
    const id = (await vol('/volumes', { json: { volume: { display_name: 'data', size: 1 } } })).json.volume.id as string;
    assert.equal((await compute(`/servers/${server}/os-volume_attachments`, { json: { volumeAttachment: { volumeId: id } } })).status, 202);
    await until(id, 'in_use');
    assert.deepEqual(await diskNames(server), [`${prefix}vol-${root}`, `${prefix}vol-${id}`]);
    assert.equal((await compute(`/servers/${server}/os-volume_attachments/${id}`, { method: 'DELETE' })).status, 202);
    await until(id, 'available');
    assert.deepEqual(await diskNames(server), [`${prefix}vol-${root}`]);
    assert.equal((await compute(`/servers/${server}/os-volume_attachments`, { json: { volumeAttachment: { volumeId: id } } })).status, 202);
    await until(id, 'in_use');
    assert.deepEqual(await diskNames(server), [`${prefix}vol-${root}`, `${prefix}vol-${id}`]);
    const second = (await vol('/volumes', { json: { volume: { display_name: 'kept', size: 1 } } })).json.volume.id as string;
    assert.equal((await compute(`/servers/${server}/os-volume_attachments`, { json: { volumeAttachment: { volumeId: second } } })).status, 202);
    await until(second, 'in_use');
    assert.equal((await compute(`/servers/${server}/os-volume_attachments/${second}`, { method: 'DELETE' })).status, 202);
    await until(second, 'available');
    // A detached disk has no removal call in Ganeti: a helper instance takes it and is removed with it.
    assert.equal((await vol(`/volumes/${second}`, { method: 'DELETE' })).status, 202);
    await until(second, 'deleted');
    const names = await withCyclades(t, async (c) => (await c.backends.driver((await c.backends.list())[0]!).listInstances()).map((i) => i.name));
    assert.ok(!names.some((n) => n.includes('purge')), `no helper left: ${names.join(' ')}`);
    assert.equal((await compute(`/servers/${server}`, { method: 'DELETE' })).status, 204);
    await waitForServer(t, u.token, server, ['DELETED'], 180_000);
    assert.equal((await vol(`/volumes/${id}`)).json.volume.status, 'deleted');
  });
});
