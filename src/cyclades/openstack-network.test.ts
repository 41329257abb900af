import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { startComputeNode, withCyclades, openstackAs, openstackMissing } from '../test/compute.js';
import { bootstrapNetworks } from './service.js';

describe('the Debian openstack client against our network API', { skip: openstackMissing }, () => {
  let t: TestNode;
  let u: StoreUser;
  before(async () => {
    t = await startComputeNode('oscnet', { settings: { 'cyclades.public_network_cidr': '10.11.0.0/24' } });
    await withCyclades(t, (c) => bootstrapNetworks(c, t.node.context.settings));
    u = await storeUser(t, 'oscnet');
  });
  after(() => t.close());

  const { run: openstack, json } = openstackAs(() => t, () => u);

  it('network create, subnet create, port create, floating ip create/list/delete, and the deletes', async () => {
    const net = await json('network', 'create', 'osc-net');
    assert.equal(net.name, 'osc-net');
    assert.equal(net.status, 'ACTIVE');
    const subnet = await json('subnet', 'create', '--network', net.id, '--subnet-range', '10.70.0.0/24', '--allocation-pool', 'start=10.70.0.10,end=10.70.0.50', '--dns-nameserver', '192.0.2.53', 'osc-sub');
    assert.equal(subnet.cidr, '10.70.0.0/24');
    assert.equal(subnet.gateway_ip, '10.70.0.1');
    assert.match(JSON.stringify(subnet.allocation_pools), /10\.70\.0\.10/);
    const port = await json('port', 'create', '--network', net.id, 'osc-port');
    assert.equal(port.name, 'osc-port');
    assert.match(JSON.stringify(port.fixed_ips), /10\.70\.0\.10/, 'the first address of the pool');
    const listed = await json('port', 'list');
    assert.ok(listed.some((p: { ID: string }) => p.ID === port.id));
    const networks = await json('network', 'list');
    assert.ok(networks.some((n: { Name: string }) => n.Name === 'public') && networks.some((n: { ID: string }) => n.ID === net.id));

    const fip = await json('floating', 'ip', 'create', 'public');
    assert.match(fip.floating_ip_address, /^10\.11\.0\./);
    const fips = await json('floating', 'ip', 'list');
    assert.deepEqual(fips.map((f: { 'Floating IP Address': string }) => f['Floating IP Address']), [fip.floating_ip_address]);
    await openstack('floating', 'ip', 'delete', fip.floating_ip_address);
    assert.deepEqual(await json('floating', 'ip', 'list'), []);

    await assert.rejects(openstack('network', 'delete', net.id), /ports still configured/, 'a network with ports is kept');
    await openstack('port', 'delete', 'osc-port');
    await openstack('network', 'delete', 'osc-net');
    const gone = await call(`${t.url}/cyclades/network/v2.0/networks/${net.id}`, { token: u.token });
    assert.equal(gone.json.network.status, 'DELETED');
  });
});
