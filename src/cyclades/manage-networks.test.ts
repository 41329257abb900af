import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { call, startTestNode, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { adminTool, registerImage, waitForServer, withCyclades } from '../test/compute.js';
import { FakeBackend } from './backends/fake.js';
import { waitForJobs } from './logic/reconcile-networks.js';

/** The network commands of the admin tool, run as an operator runs them beside a live node. */
describe('synnefo manage: networks, subnets, ports, floating IPs, pools, reconciliation', () => {
  let t: TestNode;
  let u: StoreUser;
  const cluster = `netmanage-${process.pid}.fake`;
  let publicId: number;
  let privateId: number;
  before(async () => {
    t = await startTestNode({ settings: { 'cyclades.fake_job_ms': 20, 'cyclades.instance_prefix': 'snfn-' } });
    u = await storeUser(t, 'netmanage');
  });
  after(() => t.close());

  const { ok, json, refused } = adminTool(() => t);
  const fakeCluster = () => new FakeBackend({ clustername: cluster, stateFile: join(t.dataDir, 'fake-ganeti', `${cluster}.db`), jobMs: 0 });

  it('creates, shows, resizes, reserves in and removes the bridge pool; makes the MAC-prefix pool', async () => {
    const bridge = await json('pool-create', '--type', 'bridge', '--size', '4', '--base', 'prv');
    assert.deepEqual([bridge.type, bridge.first, bridge.last, bridge.available], ['bridge', 'prv1', 'prv4', 4]);
    await refused(/already exists/, 'pool-create', '--type', 'bridge', '--size', '4', '--base', 'prv');
    await refused(/Invalid pool type/, 'pool-create', '--type', 'vlan', '--size', '4');
    await refused(/--size takes an integer/, 'pool-create', '--type', 'mac-prefix', '--size', 'many');
    assert.ok((await json('pool-list')).some((p: { id: number }) => p.id === bridge.id));
    assert.match(await ok('pool-show', String(bridge.id)), /Available map[^\n]*\n\.\.\.\.\n/);

    const grown = await json('pool-modify', String(bridge.id), '--size', '6', '--add-reserved', 'prv2');
    assert.deepEqual([grown.size, grown.available, grown.reserved, grown.reserved_map, grown.available_map], [6, 5, 1, '.X....', '.X....']);
    await refused(/does not belong to pool/, 'pool-modify', String(bridge.id), '--add-reserved', 'eth0');
    assert.match(await ok('pool-remove', String(bridge.id)), /removed/);
    assert.equal((await json('pool-list', '--type', 'bridge')).length, 0);

    const mac = await json('pool-create', '--type', 'mac-prefix', '--size', '64');
    assert.deepEqual([mac.type, mac.base, mac.first, mac.available], ['mac-prefix', 'aa:00:0', 'aa:00:0', 63], 'the first prefix stays with public networks');
  });

  it('creates a public floating-IP network on every backend, and refuses what Synnefo refuses', async () => {
    await ok('backend-add', '--clustername', cluster, '--driver', 'fake');
    await refused(/flavor is required/, 'network-create', '--name', 'x');
    await refused(/Cannot use gateway without subnet/, 'network-create', '--name', 'x', '--flavor', 'CUSTOM', '--public', '--gateway', '192.0.2.1');
    await refused(/Cannot set DHCP without subnet or subnet6/, 'network-create', '--name', 'x', '--flavor', 'CUSTOM', '--public', '--dhcp', 'true');
    await refused(/'user' is required for private networks/, 'network-create', '--name', 'x', '--flavor', 'CUSTOM');
    await refused(/IP_LESS_ROUTED' network without subnet/, 'network-create', '--name', 'x', '--flavor', 'IP_LESS_ROUTED', '--user', u.uuid);
    await refused(/Invalid flavor/, 'network-create', '--name', 'x', '--flavor', 'VLAN', '--public');

    const net = await json('network-create', '--name', 'internet', '--flavor', 'CUSTOM', '--public', '--link', 'br-pub',
      '--subnet', '198.51.100.0/24', '--gateway', '198.51.100.1', '--dhcp', 'true', '--floating-ip-pool', 'true');
    publicId = net.id;
    assert.deepEqual([net.public, net.floating_ip_pool, net.ipv4_subnet, net.ipv4_gateway, net.link], [true, true, '198.51.100.0/24', '198.51.100.1', 'br-pub']);
    assert.deepEqual(net.backends.map((b: { operstate: string }) => b.operstate), ['ACTIVE'], 'its creation jobs ran and were applied');

    assert.ok((await json('network-list', '--public')).some((n: { id: number }) => n.id === publicId));
    const seen = await json('network-inspect', String(publicId), '--backends');
    assert.equal(seen.subnets[0].name, `IPv4 Subnet of Network ${publicId}`);
    assert.deepEqual(seen.subnets[0].allocation_pools, ['198.51.100.2-198.51.100.254']);
    assert.deepEqual([seen.subnets[0].free, seen.subnets[0].total], [253, 253]);
    assert.equal(seen.backends[0].operstate, 'ACTIVE');
    assert.deepEqual([seen.backend_view[0].state, seen.backend_view[0].groups], ['present', ['default:bridged:br-pub']]);
    assert.match(await ok('network-inspect', String(publicId)), /Backends:\n.*operstate/);

    const drained = await json('network-modify', String(publicId), '--drained', 'true', '--add-reserved-ips', '198.51.100.10');
    assert.equal(drained.drained, true);
    assert.equal((await json('network-inspect', String(publicId))).subnets[0].free, 252);
    await ok('network-modify', String(publicId), '--drained', 'false', '--remove-reserved-ips', '198.51.100.10');
    await refused(/UUID/, 'network-modify', String(publicId), '--user', 'someone@example.org');
  });

  it("adds a subnet to a user's network and makes and removes a port of theirs", async () => {
    const res = await call(`${t.url}/cyclades/network/v2.0/networks`, { token: u.token, json: { network: { name: 'lan', type: 'MAC_FILTERED' } } });
    assert.equal(res.status, 201, res.text);
    privateId = Number(res.json.network.id);
    const subnet = await json('subnet-create', '--network', String(privateId), '--cidr', '10.0.5.0/24', '--name', 'lan4', '--dns', '192.0.2.53');
    assert.deepEqual([subnet.user, subnet.gateway, subnet.allocation_pools, subnet.dns_nameservers], [u.uuid, '10.0.5.1', ['10.0.5.2-10.0.5.254'], ['192.0.2.53']]);
    await refused(/Only one subnet of IPv4/, 'subnet-create', '--network', String(privateId), '--cidr', '10.0.6.0/24');
    assert.equal((await json('subnet-list', '--network', String(privateId))).length, 1);
    await ok('subnet-modify', String(subnet.id), '--name', 'office');
    assert.equal((await json('subnet-inspect', String(subnet.id))).name, 'office');
    const listed = await call(`${t.url}/cyclades/network/v2.0/subnets/${subnet.id}`, { token: u.token });
    assert.equal(listed.json.subnet.name, 'office', 'the user sees the subnet the operator made');

    await refused(/--user is required unless --server/, 'port-create', '--network', String(privateId));
    const port = await json('port-create', '--network', String(privateId), '--user', u.uuid, '--name', 'spare', '--ipv4-address', '10.0.5.7');
    assert.deepEqual([port.user, port.state, port.ipv4, port.name], [u.uuid, 'DOWN', ['10.0.5.7'], 'spare']);
    await refused(/already used/, 'port-create', '--network', String(privateId), '--user', u.uuid, '--ipv4-address', '10.0.5.7');
    assert.deepEqual((await json('port-list', '--user', u.uuid)).map((p: { id: number }) => p.id), [port.id]);
    assert.equal((await json('port-inspect', String(port.id))).nic_name, `snfn-nic-${port.id}`);
    assert.match(await ok('port-remove', String(port.id)), /removed/);
    assert.equal((await json('port-list', '--network', String(privateId))).length, 0);
    assert.equal((await json('subnet-inspect', String(subnet.id))).free, 253, 'its address went back to the pool');
  });

  it('allocates, lists and releases floating IPs of a user', async () => {
    await refused(/--address needs --network/, 'floating-ip-create', '--user', u.uuid, '--address', '198.51.100.9');
    const fip = await json('floating-ip-create', '--user', u.uuid, '--network', String(publicId));
    assert.deepEqual([fip.address, fip.network, fip.user, fip.project], ['198.51.100.2', publicId, u.uuid, u.uuid]);
    const mine = await json('floating-ip-list', '--user', u.uuid);
    assert.deepEqual(mine.map((f: { id: number }) => f.id), [fip.id]);
    await refused(/is not attached/, 'floating-ip-detach', String(fip.id));
    assert.match(await ok('floating-ip-remove', String(fip.id)), /released/);
    assert.equal((await json('floating-ip-list')).length, 0);
  });

  it('finds a network removed behind its back and an orphan, fixes both, and then finds everything in sync', async () => {
    assert.match(await ok('reconcile-networks'), /Everything in sync/);
    const fake = fakeCluster();
    assert.ok(fake.removeNetworkBehindBack(`snfn-net-${publicId}`));
    const [added] = await waitForJobs(fake, [await fake.addNetwork({ name: 'snfn-net-9999', network: '10.9.0.0/24', gateway: null, network6: null, gateway6: null, macPrefix: null, tags: [], conflictsCheck: false })], 30);
    assert.equal(added!.status, 'success');
    await fake.close();

    const drift = await json('reconcile-networks');
    assert.deepEqual(drift.map((d: { kind: string; network: number; fixed: boolean }) => [d.kind, d.network, d.fixed]), [['missing', publicId, false], ['orphan', 9999, false]]);
    const fixed = await json('reconcile-networks', '--fix');
    assert.deepEqual(fixed.map((d: { kind: string; fixed: boolean }) => [d.kind, d.fixed]), [['missing', true], ['orphan', true]]);
    assert.match(await ok('reconcile-networks'), /Everything in sync/);
    const seen = await json('network-inspect', String(publicId), '--backends');
    assert.deepEqual([seen.backends[0].operstate, seen.backend_view[0].state], ['ACTIVE', 'present']);
  });

  it('reports pools that disagree with what holds their values, and fixes them', async () => {
    assert.match(await ok('reconcile-pools'), /All pools are consistent/);
    const prefix = (await json('network-inspect', String(privateId))).mac_prefix as string;
    await withCyclades(t, async (c) => {
      await c.networks.pools.release('mac_prefix', prefix);
      await c.networks.pools.allocateAddress(publicId);
    });
    const drift = await json('reconcile-pools');
    assert.deepEqual(drift.map((d: { type: string; used_unallocated: string[]; allocated_unused: string[] }) => [d.type, d.used_unallocated, d.allocated_unused]),
      [['mac-prefix', [prefix], []], ['ipv4', [], ['198.51.100.2']]]);
    assert.ok((await json('reconcile-pools', '--fix')).every((d: { fixed: boolean }) => d.fixed));
    assert.match(await ok('reconcile-pools'), /All pools are consistent/);
  });

  it("attaches a port and a floating IP to a user's server, and takes them off again", async () => {
    await ok('flavor-create', '--cpus', '1', '--rams', '512', '--disks', '1');
    const image = await registerImage(t, u);
    const res = await call(`${t.url}/cyclades/compute/v2.0/servers`, { token: u.token, json: { server: { name: 'web', imageRef: image, flavorRef: 1, networks: [] } } });
    assert.equal(res.status, 202, res.text);
    const sid = Number(res.json.server.id);
    await waitForServer(t, u.token, sid, ['ACTIVE']);

    const fip = await json('floating-ip-create', '--user', u.uuid, '--network', String(publicId));
    assert.match(await ok('floating-ip-attach', String(fip.id), '--server', String(sid)), /ACTIVE/);
    assert.equal((await json('floating-ip-list', '--user', u.uuid))[0].server, sid);
    const port = await json('port-create', '--network', String(privateId), '--server', String(sid), '--name', 'lan');
    assert.deepEqual([port.user, port.server, port.state, port.ipv4.length], [u.uuid, sid, 'ACTIVE', 1]);
    assert.match(port.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'the backend reported its NIC');
    const shown = await waitForServer(t, u.token, sid, ['ACTIVE']);
    assert.deepEqual(Object.keys(shown.addresses).sort(), [String(privateId), String(publicId)].sort());

    assert.match(await ok('floating-ip-detach', String(fip.id)), /removed/);
    assert.equal((await json('floating-ip-list', '--user', u.uuid))[0].server, null, 'the address stays with its owner');
    assert.match(await ok('port-remove', String(port.id)), /removed/);
    const fake = fakeCluster();
    assert.deepEqual((await fake.instance(`snfn-${sid}`))!.nics, []);
    await fake.close();
    await ok('floating-ip-remove', String(fip.id));
    assert.equal((await call(`${t.url}/cyclades/compute/v2.0/servers/${sid}`, { token: u.token, method: 'DELETE' })).status, 204);
    await waitForServer(t, u.token, sid, ['DELETED']);
  });

  it('removes networks: at once when on no backend, after their removal jobs otherwise', async () => {
    assert.match(await ok('network-remove', String(privateId), String(publicId)), new RegExp(`Network ${privateId} removed\\.\\nNetwork ${publicId} removed\\.`));
    assert.equal((await json('network-list')).length, 0);
    assert.equal((await json('network-list', '--deleted')).length, 2);
    const fake = fakeCluster();
    assert.equal((await fake.listNetworks()).length, 0);
    await fake.close();
    assert.match(await ok('reconcile-networks'), /Everything in sync/);
    assert.match(await ok('reconcile-pools'), /All pools are consistent/);
  });
});
