import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { registerImage, startComputeNode, openstackAs, openstackMissing } from '../test/compute.js';

describe('the Debian openstack client against our image and volume APIs', { skip: openstackMissing }, () => {
  let t: TestNode;
  let u: StoreUser;
  let image: string;
  before(async () => {
    t = await startComputeNode('oscvol');
    u = await storeUser(t, 'oscvol');
    image = await registerImage(t, u, 'debian-osc');
  });
  after(() => t.close());

  const { run: openstack, json } = openstackAs(() => t, () => u);

  it('image list and show', async () => {
    const images = await json('image', 'list');
    assert.ok(images.some((i: { ID: string; Name: string }) => i.ID === image && i.Name === 'debian-osc'), JSON.stringify(images));
    const shown = await json('image', 'show', image);
    assert.equal(shown.name, 'debian-osc');
    assert.equal(shown.disk_format, 'diskdump');
  });

  it('volume create, list, show, set and delete', async () => {
    const types = await json('volume', 'type', 'list');
    assert.deepEqual(types.map((x: { Name: string }) => x.Name), ['file']);
    const made = await json('volume', 'create', '--size', '1', '--description', 'from osc', 'osc-vol');
    assert.equal(made.name, 'osc-vol');
    assert.equal(made.size, 1);
    const listed = await json('volume', 'list');
    assert.deepEqual(listed.map((v: { Name: string; Status: string; Size: number }) => [v.Name, v.Status, v.Size]), [['osc-vol', 'available', 1]]);
    const shown = await json('volume', 'show', 'osc-vol');
    assert.equal(shown.description, 'from osc');
    await openstack('volume', 'set', '--name', 'renamed', String(made.id));
    assert.equal((await call(`${t.url}/cyclades/volume/v2.0/volumes/${made.id}`, { token: u.token })).json.volume.display_name, 'renamed');
    await openstack('volume', 'delete', 'renamed');
    assert.equal((await call(`${t.url}/cyclades/volume/v2.0/volumes/${made.id}`, { token: u.token })).json.volume.status, 'deleted');
    assert.deepEqual(await json('volume', 'list'), []);
  });

  it('server add volume and server remove volume', async () => {
    const server = await json('server', 'create', '--image', image, '--flavor', '1', 'osc-srv');
    const sid = String(server.id);
    const deadline = Date.now() + 20_000;
    while ((await call(`${t.url}/cyclades/compute/v2.0/servers/${sid}`, { token: u.token })).json.server.status !== 'ACTIVE') {
      assert.ok(Date.now() < deadline, 'server ACTIVE');
      await new Promise((r) => setTimeout(r, 50));
    }
    const volume = await json('volume', 'create', '--size', '1', 'osc-data');
    await openstack('server', 'add', 'volume', sid, String(volume.id));
    const status = async () => (await call(`${t.url}/cyclades/volume/v2.0/volumes/${volume.id}`, { token: u.token })).json.volume.status as string;
    while ((await status()) !== 'in_use') {
      assert.ok(Date.now() < deadline + 20_000, 'volume in use');
      await new Promise((r) => setTimeout(r, 50));
    }
    await openstack('server', 'remove', 'volume', sid, String(volume.id));
    while ((await status()) !== 'available') {
      assert.ok(Date.now() < deadline + 40_000, 'volume available');
      await new Promise((r) => setTimeout(r, 50));
    }
    await openstack('server', 'delete', sid);
  });
});
