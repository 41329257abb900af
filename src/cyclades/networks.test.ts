import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, dbTargets, startTestNode, withAstakos, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { computeQuota, driversUnderTest, memberProjects, pollUntil, registerImage, waitForServer, withCyclades } from '../test/compute.js';
import { InProcessQuotaClient } from '../astakos/logic/quota-client.js';
import { bootstrapNetworks } from './service.js';
import { mac2eui64 } from './logic/networks.js';

const PUBLIC_CIDR = '10.9.0.0/24';

for (const db of dbTargets()) describe(`networks, subnets, ports and floating IPs, ${db.name}`, () => {
  let t: TestNode;
  let net: string;
  let compute: string;
  let alice: StoreUser;
  let bob: StoreUser;
  let image: string;
  let publicId: string;
  const as = (u: { token: string }) => ({
    get: (path: string) => call(`${net}${path}`, { token: u.token }),
    post: (path: string, json: unknown) => call(`${net}${path}`, { token: u.token, method: 'POST', json }),
    put: (path: string, json: unknown) => call(`${net}${path}`, { token: u.token, method: 'PUT', json }),
    del: (path: string) => call(`${net}${path}`, { token: u.token, method: 'DELETE' }),
  });
  const server = async (u: StoreUser, name: string, networks?: unknown) => {
    const res = await call(`${compute}/servers`, { token: u.token, json: { server: { name, imageRef: image, flavorRef: 1, ...(networks === undefined ? {} : { networks }) } } });
    assert.equal(res.status, 202, res.text);
    return (await waitForServer(t, u.token, res.json.server.id, ['ACTIVE'])) as { id: number; addresses: Record<string, { addr: string; version: number; 'OS-EXT-IPS:type': string; 'OS-EXT-IPS-MAC:mac_addr': string }[]> };
  };
  /** Polls a server until `check` holds for it. */
  const until = (u: StoreUser, id: number, check: (s: any) => boolean, what: string) =>
    pollUntil(async () => (await call(`${compute}/servers/${id}`, { token: u.token })).json.server, check, `server ${id}: ${what}`);

  before(async () => {
    t = await startTestNode({ db, settings: { 'cyclades.fake_job_ms': 20, 'cyclades.public_network_cidr': PUBLIC_CIDR } });
    net = `${t.url}/cyclades/network/v2.0`;
    compute = `${t.url}/cyclades/compute/v2.0`;
    await withCyclades(t, async (c) => {
      await c.backends.add({ clustername: `net-${db.name}-${process.pid}.fake`, driver: 'fake' });
      await c.flavors.create([1], [512], [1], ['file']);
      await bootstrapNetworks(c, t.node.context.settings);
    });
    alice = await storeUser(t, 'alice');
    bob = await storeUser(t, 'bob');
    image = await registerImage(t, alice, 'debian', true);
    const nets = await as(alice).get('/networks');
    assert.equal(nets.status, 200, nets.text);
    publicId = nets.json.networks.find((n: { public: boolean }) => n.public).id;
  });
  after(() => t?.close());

  it('answers only authenticated requests, and with a version list without a token', async () => {
    assert.equal((await call(`${net}/networks`, { token: 'not-a-token' })).status, 401);
    assert.equal((await call(`${net}/networks`)).status, 401);
    const v = await call(`${t.url}/cyclades/network/`);
    assert.equal(v.status, 200);
    assert.equal(v.json.versions[0].id, 'v2.0');
    assert.deepEqual((await as(alice).get('/extensions')).json, { extensions: [] });
    assert.equal((await as(alice).get('/extensions/tag-ports-during-bulk-creation')).status, 404);
  });

  it("two users' private networks never share a MAC prefix, and neither sees the other's", async () => {
    const made = await Promise.all([alice, bob, alice, bob, alice, bob].map((u, i) => as(u).post('/networks', { network: { name: `n${i}`, type: 'MAC_FILTERED' } })));
    for (const r of made) assert.equal(r.status, 201, r.text);
    const ids = made.map((r) => Number(r.json.network.id));
    const prefixes = await withCyclades(t, async (c) => Promise.all(ids.map(async (id) => (await c.networks.store.network(id))!.mac_prefix)));
    assert.equal(new Set(prefixes).size, prefixes.length, `distinct prefixes: ${prefixes.join(' ')}`);
    assert.ok(prefixes.every((p) => p && p !== 'aa:00:0'), 'the public prefix is never handed to a private network');
    const bobs = made[1]!.json.network.id;
    assert.equal((await as(alice).get(`/networks/${bobs}`)).status, 404);
    assert.equal((await as(alice).del(`/networks/${bobs}`)).status, 404);
    assert.equal((await as(alice).post('/ports', { port: { network_id: bobs } })).status, 404);
    assert.equal((await as(alice).post('/subnets', { subnet: { network_id: bobs, cidr: '10.1.0.0/24' } })).status, 403);
    const listed = (await as(alice).get('/networks')).json.networks.map((n: { id: string }) => n.id);
    assert.ok(!listed.includes(bobs) && listed.includes(publicId));
    for (const [k, r] of made.entries()) assert.equal((await as(k % 2 ? bob : alice).del(`/networks/${r.json.network.id}`)).status, 204);
  });

  it('validates what it is given', async () => {
    const a = as(alice);
    assert.equal((await a.post('/networks', { nope: {} })).status, 400);
    assert.equal((await a.post('/networks', { network: { type: 'NOPE' } })).status, 400);
    assert.equal((await a.post('/networks', { network: { type: 'CUSTOM' } })).status, 403, 'only MAC_FILTERED is open to users');
    assert.equal((await a.post('/networks', { network: { name: 'x'.repeat(129) } })).status, 400);
    assert.equal((await call(`${net}/networks`, { token: alice.token, method: 'POST', body: '{not json', headers: { 'content-type': 'application/json' } })).status, 400);
    const n = (await a.post('/networks', { network: { name: 'v' } })).json.network;
    assert.equal(n.type, 'MAC_FILTERED', 'the openstack client sends no type');
    assert.equal((await a.post('/subnets', { subnet: { network_id: n.id, cidr: '10.2.0.0/30' } })).status, 413);
    assert.equal((await a.post('/subnets', { subnet: { network_id: n.id, cidr: '10.2.0.1/24' } })).status, 400, 'host bits set');
    assert.equal((await a.post('/subnets', { subnet: { network_id: n.id, cidr: '10.2.0.0/24', gateway_ip: '10.3.0.1' } })).status, 400);
    assert.equal((await a.post('/subnets', { subnet: { network_id: n.id, cidr: '10.2.0.0/24', allocation_pools: [{ start: '10.2.0.1', end: '10.2.0.9' }] } })).status, 409, 'gateway in pool');
    const s = await a.post('/subnets', { subnet: { network_id: n.id, cidr: '10.2.0.0/24', allocation_pools: [{ start: '10.2.0.10', end: '10.2.0.20' }], enable_dhcp: false } });
    assert.equal(s.status, 201, s.text);
    assert.deepEqual([s.json.subnet.gateway_ip, s.json.subnet.allocation_pools, s.json.subnet.enable_dhcp], ['10.2.0.1', [{ start: '10.2.0.10', end: '10.2.0.20' }], false]);
    assert.equal((await a.post('/subnets', { subnet: { network_id: n.id, cidr: '10.4.0.0/24' } })).status, 400, 'one IPv4 subnet per network');
    const v6 = await a.post('/subnets', { subnet: { network_id: n.id, cidr: '2001:db8:1:2::/64', ip_version: 6 } });
    assert.equal(v6.status, 201, v6.text);
    assert.equal(v6.json.subnet.gateway_ip, '2001:db8:1:2::1');
    assert.equal((await a.del(`/subnets/${s.json.subnet.id}`)).status, 400);
    assert.equal((await a.put(`/subnets/${s.json.subnet.id}`, { subnet: { name: 'renamed' } })).json.subnet.name, 'renamed');
    assert.equal((await a.post('/ports', { port: { network_id: n.id, fixed_ips: [{ ip_address: '10.2.0.30' }] } })).status, 400, 'outside the pools');
    assert.equal((await a.post('/ports', { port: { network_id: n.id, fixed_ips: [{ ip_address: 'nope' }] } })).status, 400);
    const p = await a.post('/ports', { port: { network_id: n.id, fixed_ips: [{ ip_address: '10.2.0.15' }], name: 'p' } });
    assert.equal(p.status, 201, p.text);
    assert.deepEqual(p.json.port.fixed_ips, [{ ip_address: '10.2.0.15', subnet: s.json.subnet.id }]);
    assert.equal((await a.post('/ports', { port: { network_id: n.id, fixed_ips: [{ ip_address: '10.2.0.15' }] } })).status, 409, 'taken');
    assert.equal((await as(bob).del(`/ports/${p.json.port.id}`)).status, 404);
    assert.equal((await a.del(`/ports/${p.json.port.id}`)).status, 204);
    assert.equal((await a.del(`/networks/${n.id}`)).status, 204);
  });

  it('hands every one of 500 concurrent ports on a /24 a distinct address, and the rest a clear "no free address"', async () => {
    const a = as(alice);
    const n = (await a.post('/networks', { network: { name: 'crowd', type: 'MAC_FILTERED' } })).json.network;
    assert.equal((await a.post('/subnets', { subnet: { network_id: n.id, cidr: '10.50.0.0/24' } })).status, 201);
    const results = await Promise.all(Array.from({ length: 500 }, () => a.post('/ports', { port: { network_id: n.id } })));
    const ok = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status !== 201);
    const addresses = ok.map((r) => r.json.port.fixed_ips[0].ip_address as string);
    assert.equal(ok.length, 253, 'every address of 10.50.0.2-254 once');
    assert.equal(new Set(addresses).size, 253);
    assert.ok(!addresses.includes('10.50.0.1') && !addresses.includes('10.50.0.0') && !addresses.includes('10.50.0.255'));
    for (const r of refused) {
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.conflict.message, `No more IP addresses available on network ${n.id}`);
    }
    const del = await a.del(`/networks/${n.id}`);
    assert.equal(del.status, 409, 'a network with ports stays');
    assert.match(del.json.conflict.message, /There are ports still configured/);
    await Promise.all(ok.map((r) => a.del(`/ports/${r.json.port.id}`)));
    assert.equal((await a.post('/ports', { port: { network_id: n.id } })).status, 201, 'released addresses are handed out again');
  });

  it('refuses a network over quota and leaves nothing pending', async () => {
    const u = await storeUser(t, 'capped');
    const limit = (await computeQuota(t, u))['cyclades.network.private']!.limit;
    for (let i = 0; i < limit; i++) assert.equal((await as(u).post('/networks', { network: { name: `q${i}` } })).status, 201);
    const over = await as(u).post('/networks', { network: { name: 'one too many' } });
    assert.equal(over.status, 413, over.text);
    const q = (await computeQuota(t, u))['cyclades.network.private']!;
    assert.deepEqual([q.usage, q.pending], [limit, 0]);
    assert.equal((await as(u).get('/networks')).json.networks.filter((n: { public: boolean }) => !n.public).length, limit);
    const first = (await as(u).get('/networks')).json.networks.find((n: { public: boolean }) => !n.public);
    assert.equal((await as(u).del(`/networks/${first.id}`)).status, 204);
    assert.equal((await computeQuota(t, u))['cyclades.network.private']!.usage, limit - 1, 'a network never on a backend is gone at once');
    assert.equal((await as(u).get(`/networks/${first.id}`)).json.network.status, 'DELETED');
  });

  it('gives a new server a public address by default, and a private one on request, with MACs of the network', async () => {
    const a = as(alice);
    const priv = (await a.post('/networks', { network: { name: 'lan' } })).json.network;
    await a.post('/subnets', { subnet: { network_id: priv.id, cidr: '10.60.0.0/24' } });
    const s = await server(alice, 'two-nics');
    const pub = s.addresses[publicId];
    assert.ok(pub?.length === 1 && pub[0]!.addr.startsWith('10.9.0.'), JSON.stringify(s.addresses));
    const p = await server(alice, 'private', [{ uuid: priv.id, fixed_ip: '10.60.0.77' }]);
    await until(alice, p.id, (x) => x.addresses[priv.id]?.[0]?.addr === '10.60.0.77', 'private address');
    const got = (await call(`${compute}/servers/${p.id}`, { token: alice.token })).json.server;
    const prefix = await withCyclades(t, async (c) => (await c.networks.store.network(Number(priv.id)))!.mac_prefix);
    assert.ok(got.addresses[priv.id][0]['OS-EXT-IPS-MAC:mac_addr'].startsWith(prefix), `${got.addresses[priv.id][0]['OS-EXT-IPS-MAC:mac_addr']} has ${prefix}`);
    assert.equal(got.attachments.length, 1);
    const ports = (await a.get('/ports')).json.ports.filter((x: { device_id: string }) => x.device_id === String(p.id));
    assert.equal(ports[0].status, 'ACTIVE');
    assert.equal((await a.del(`/networks/${priv.id}`)).status, 409);
    assert.equal((await call(`${compute}/servers/${p.id}`, { token: alice.token, method: 'DELETE' })).status, 204);
    await waitForServer(t, alice.token, p.id, ['DELETED']);
    assert.equal((await a.get('/ports')).json.ports.filter((x: { device_id: string }) => x.device_id === String(p.id)).length, 0, 'ports go with their server');
    const del = await a.del(`/networks/${priv.id}`);
    assert.equal(del.status, 204, del.text);
    await pollUntil(async () => (await a.get(`/networks/${priv.id}`)).json.network.status, (x) => x === 'DELETED', 'the network is removed from its backend, then DELETED');
    await call(`${compute}/servers/${s.id}`, { token: alice.token, method: 'DELETE' });
  });

  it('moves a floating IP from one server to another, and releases it only when detached', async () => {
    const a = as(alice);
    const fip = await a.post('/floatingips', { floatingip: { floating_network_id: publicId } });
    assert.equal(fip.status, 200, fip.text);
    const address = fip.json.floatingip.floating_ip_address as string;
    assert.ok(address.startsWith('10.9.0.'));
    assert.equal((await computeQuota(t, alice))['cyclades.floating_ip']!.usage, 1);
    assert.equal((await as(bob).get(`/floatingips/${fip.json.floatingip.id}`)).status, 404);
    assert.equal((await as(bob).del(`/floatingips/${fip.json.floatingip.id}`)).status, 404);
    const one = await server(alice, 'one', []);
    const two = await server(alice, 'two', []);
    const act = (id: number, json: unknown) => call(`${compute}/servers/${id}/action`, { token: alice.token, json });
    assert.equal((await act(one.id, { addFloatingIp: { address } })).status, 202);
    await until(alice, one.id, (x) => x.addresses[publicId]?.[0]?.addr === address && x.addresses[publicId][0]['OS-EXT-IPS:type'] === 'floating', 'floating IP on the first server');
    assert.equal((await a.get(`/floatingips/${fip.json.floatingip.id}`)).json.floatingip.instance_id, String(one.id));
    assert.equal((await a.del(`/floatingips/${fip.json.floatingip.id}`)).status, 409, 'attached');
    assert.equal((await act(two.id, { addFloatingIp: { address } })).status, 409, 'in use');
    assert.equal((await act(one.id, { removeFloatingIp: { address } })).status, 202);
    await until(alice, one.id, (x) => !x.addresses[publicId], 'floating IP gone from the first server');
    assert.equal((await act(two.id, { addFloatingIp: { address } })).status, 202);
    await until(alice, two.id, (x) => x.addresses[publicId]?.[0]?.addr === address, 'floating IP on the second server');
    // Deleting the server detaches the address; it stays allocated to its owner.
    assert.equal((await call(`${compute}/servers/${two.id}`, { token: alice.token, method: 'DELETE' })).status, 204);
    await waitForServer(t, alice.token, two.id, ['DELETED']);
    assert.equal((await a.get(`/floatingips/${fip.json.floatingip.id}`)).json.floatingip.port_id, null);
    assert.equal((await a.del(`/floatingips/${fip.json.floatingip.id}`)).status, 204);
    assert.equal((await computeQuota(t, alice))['cyclades.floating_ip']!.usage, 0);
    await call(`${compute}/servers/${one.id}`, { token: alice.token, method: 'DELETE' });
  });

  it('connects a server to a public network only through a floating IP of the user', async () => {
    const a = as(alice);
    assert.equal((await a.post('/ports', { port: { network_id: publicId } })).status, 400);
    const res = await call(`${compute}/servers`, { token: alice.token, json: { server: { name: 'nofip', imageRef: image, flavorRef: 1, networks: [{ uuid: publicId }] } } });
    assert.equal(res.status, 409, res.text);
    assert.match(res.json.conflict.message, /Please create a floating IP/);
    assert.equal((await a.del(`/networks/${publicId}`)).status, 403);
    assert.equal((await a.put(`/networks/${publicId}`, { network: { name: 'mine' } })).status, 403);
  });

  it('adds and removes NICs through os-interface, a job each', async () => {
    const a = as(alice);
    const lan = (await a.post('/networks', { network: { name: 'iface' } })).json.network;
    await a.post('/subnets', { subnet: { network_id: lan.id, cidr: '10.61.0.0/24' } });
    const s = await server(alice, 'iface', []);
    const iface = (path = '', init: Parameters<typeof call>[1] = {}) => call(`${compute}/servers/${s.id}/os-interface${path}`, { token: alice.token, ...init });
    const added = await iface('', { json: { interfaceAttachment: { net_id: lan.id } } });
    assert.equal(added.status, 200, added.text);
    const portId = added.json.interfaceAttachment.port_id as string;
    await until(alice, s.id, (x) => x.addresses[lan.id]?.[0]?.addr === '10.61.0.2', 'NIC hot-plugged');
    const listed = await iface();
    assert.deepEqual(listed.json.interfaceAttachments.map((i: { port_id: string; port_state: string }) => [i.port_id, i.port_state]), [[portId, 'ACTIVE']]);
    const spare = (await a.post('/ports', { port: { network_id: lan.id } })).json.port;
    assert.equal((await iface('', { json: { interfaceAttachment: { port_id: spare.id } } })).status, 200);
    assert.equal((await call(`${compute}/servers/${s.id}/os-interface`, { token: bob.token })).status, 404);
    assert.equal((await iface(`/${portId}`, { method: 'DELETE' })).status, 202);
    await until(alice, s.id, (x) => x.attachments.length === 1 && x.attachments[0].id === spare.id, 'one NIC removed, the other attached');
    assert.equal((await a.get(`/ports/${portId}`)).status, 404, 'a removed NIC takes its port with it');
    assert.equal((await call(`${compute}/servers/${s.id}`, { token: alice.token, method: 'DELETE' })).status, 204);
    await waitForServer(t, alice.token, s.id, ['DELETED']);
  });

  it('a failed server create leaves the ports the user named as they were, and a port goes to one server only', async () => {
    const a = as(alice);
    const lan = (await a.post('/networks', { network: { name: 'keep' } })).json.network;
    await a.post('/subnets', { subnet: { network_id: lan.id, cidr: '10.63.0.0/24' } });
    const p = (await a.post('/ports', { port: { network_id: lan.id, fixed_ips: [{ ip_address: '10.63.0.77' }] } })).json.port;
    const create = (name: string, networks: unknown) => call(`${compute}/servers`, { token: alice.token, json: { server: { name, imageRef: image, flavorRef: 1, networks } } });
    assert.equal((await create('bad', [{ port: p.id }, { uuid: '999999' }])).status, 404);
    const kept = await a.get(`/ports/${p.id}`);
    assert.equal(kept.status, 200, 'the named port survives the failed create');
    assert.equal(kept.json.port.fixed_ips[0].ip_address, '10.63.0.77');
    assert.equal((await create('twice', [{ port: p.id }, { port: p.id }])).status, 400);
    const one = await server(alice, 'one-port', []);
    const two = await server(alice, 'other-port', []);
    const attach = (id: number) => call(`${compute}/servers/${id}/os-interface`, { token: alice.token, json: { interfaceAttachment: { port_id: p.id } } });
    const results = await Promise.all([attach(one.id), attach(two.id)]);
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 409], 'one attach wins, the other is refused');
    assert.equal((await create('taken', [{ port: p.id }])).status, 409);
    for (const s of [one, two]) await call(`${compute}/servers/${s.id}`, { token: alice.token, method: 'DELETE' });
  });

  it('gives a server at most eight NICs, also to concurrent attaches', async () => {
    const a = as(alice);
    const lan = (await a.post('/networks', { network: { name: 'many' } })).json.network;
    await a.post('/subnets', { subnet: { network_id: lan.id, cidr: '10.64.0.0/24' } });
    const s = await server(alice, 'eight', []);
    const ports = await Promise.all(Array.from({ length: 9 }, () => a.post('/ports', { port: { network_id: lan.id } })));
    const results = await Promise.all(ports.map((p) => call(`${compute}/servers/${s.id}/os-interface`, { token: alice.token, json: { interfaceAttachment: { port_id: p.json.port.id } } })));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 200, 200, 200, 400]);
    assert.equal((await call(`${compute}/servers/${s.id}`, { token: alice.token, method: 'DELETE' })).status, 204);
    await waitForServer(t, alice.token, s.id, ['DELETED']);
  });

  it('undoes the claim of a port a stopped process left attaching without a job', async () => {
    const carol = await storeUser(t, 'carol');
    const a = as(carol);
    const lan = (await a.post('/networks', { network: { name: 'claims' } })).json.network;
    const p = (await a.post('/ports', { port: { network_id: lan.id } })).json.port;
    const s = await server(carol, 'claimer', []);
    await withCyclades(t, async (c) => {
      await c.networks.store.updatePort(Number(p.id), { server_id: s.id, state: 'BUILD', device_owner: 'vm', job_action: 'ADD', updated_at: Date.now() - 10 * 60_000 });
      await c.dispatcher.rescan();
    });
    const after = (await a.get(`/ports/${p.id}`)).json.port;
    assert.deepEqual([after.status, after.device_id], ['DOWN', null]);
    assert.equal((await a.del(`/ports/${p.id}`)).status, 204);
    await call(`${compute}/servers/${s.id}`, { token: carol.token, method: 'DELETE' });
  });

  it("sets a NIC's firewall profile as Ganeti instance tags", async () => {
    const dave = await storeUser(t, 'dave');
    const a = as(dave);
    const lan = (await a.post('/networks', { network: { name: 'fw' } })).json.network;
    await a.post('/subnets', { subnet: { network_id: lan.id, cidr: '10.65.0.0/24' } });
    const s = await server(dave, 'fw', [{ uuid: lan.id }]);
    const nic = (await a.get('/ports')).json.ports.find((p: { device_id: string }) => p.device_id === String(s.id)).id as string;
    const act = (json: unknown) => call(`${compute}/servers/${s.id}/action`, { token: dave.token, json });
    const tags = async () => withCyclades(t, async (c) => (await c.backends.driver((await c.backends.list())[0]!).instance(`snf-${s.id}`))!.tags.filter((x) => x.startsWith('synnefo:network:')));
    const until = (want: string[]) => pollUntil(tags, (x) => JSON.stringify(x) === JSON.stringify(want), `tags ${JSON.stringify(want)}`);
    assert.equal((await act({ firewallProfile: { profile: 'ENABLED', nic } })).status, 202);
    await until([`synnefo:network:snf-nic-${nic}:protected`]);
    assert.equal((await act({ firewallProfile: { profile: 'PROTECTED', nic } })).status, 202);
    await until([`synnefo:network:snf-nic-${nic}:limited`]);
    const shown = (await call(`${compute}/servers/${s.id}`, { token: dave.token })).json.server;
    assert.equal(shown.attachments[0].firewallProfile, 'PROTECTED');
    assert.equal((await act({ firewallProfile: { profile: 'ENABLED', nic: '999999' } })).status, 404);
    assert.equal((await act({ firewallProfile: { profile: 'OPEN', nic } })).status, 400);
    await call(`${compute}/servers/${s.id}`, { token: dave.token, method: 'DELETE' });
  });

  it('gives a NIC on a dual-stack network the SLAAC (EUI-64) address of its MAC', async () => {
    const erin = await storeUser(t, 'erin');
    const a = as(erin);
    const dual = (await a.post('/networks', { network: { name: 'dual' } })).json.network;
    await a.post('/subnets', { subnet: { network_id: dual.id, cidr: '10.67.0.0/24' } });
    await a.post('/subnets', { subnet: { network_id: dual.id, cidr: '2001:db8:67::/64', ip_version: 6 } });
    const s = await server(erin, 'v6', [{ uuid: dual.id }]);
    const got = await until(erin, s.id, (x) => x.addresses[dual.id]?.length === 2, 'both addresses');
    const [v4, v6] = got.addresses[dual.id] as { version: number; addr: string; 'OS-EXT-IPS-MAC:mac_addr': string }[];
    assert.deepEqual([v4!.version, v4!.addr, v6!.version], [4, '10.67.0.2', 6]);
    assert.equal(v6!.addr, mac2eui64(v6!['OS-EXT-IPS-MAC:mac_addr'], '2001:db8:67::/64'));
    assert.ok(v6!.addr.startsWith('2001:db8:67:0:'), v6!.addr);
    assert.equal(mac2eui64('aa:00:00:12:34:56', '2001:db8:1:2::/64'), '2001:db8:1:2:a800:ff:fe12:3456', "Synnefo's example");
    const port = (await a.get('/ports')).json.ports.find((p: { device_id: string }) => p.device_id === String(s.id));
    assert.deepEqual(port.fixed_ips.map((f: { ip_address: string }) => f.ip_address), ['10.67.0.2', v6!.addr]);
    await call(`${compute}/servers/${s.id}`, { token: erin.token, method: 'DELETE' });
  });

  it('reassign moves a network and a floating IP, with their charges, to another project of the owner', async () => {
    const u = await storeUser(t, 'mover');
    const { project, stranger } = await memberProjects(t, u, ['cyclades.network.private', 'cyclades.floating_ip']);
    const n = (await as(u).post('/networks', { network: { name: 'moving' } })).json.network;
    const f = (await as(u).post('/floatingips', { floatingip: {} })).json.floatingip;
    assert.equal((await as(u).post(`/networks/${n.id}/action`, { reassign: { project: stranger } })).status, 400, 'not a member');
    assert.equal((await as(bob).post(`/networks/${n.id}/action`, { reassign: { project } })).status, 404);
    assert.equal((await as(u).post(`/networks/${n.id}/action`, { reassign: { project } })).status, 200);
    assert.equal((await as(u).post(`/floatingips/${f.id}/action`, { reassign: { project } })).status, 200);
    assert.equal((await as(u).get(`/networks/${n.id}`)).json.network.tenant_id, project);
    assert.equal((await as(u).get(`/floatingips/${f.id}`)).json.floatingip.tenant_id, project);
    const q = await withAstakos(t, (a) => new InProcessQuotaClient('cyclades', a).userQuotas({ users: [u.uuid] }));
    assert.deepEqual([q[u.uuid]![project]!['cyclades.network.private']!.usage, q[u.uuid]![project]!['cyclades.floating_ip']!.usage], [1, 1]);
    assert.deepEqual([q[u.uuid]![u.uuid]!['cyclades.network.private']!.usage, q[u.uuid]![u.uuid]!['cyclades.floating_ip']!.usage], [0, 0]);
    assert.equal((await as(u).del(`/floatingips/${f.id}`)).status, 204);
    assert.equal((await as(u).del(`/networks/${n.id}`)).status, 204);
    const after = await withAstakos(t, (a) => new InProcessQuotaClient('cyclades', a).userQuotas({ users: [u.uuid] }));
    assert.deepEqual([after[u.uuid]![project]!['cyclades.network.private']!.usage, after[u.uuid]![project]!['cyclades.floating_ip']!.usage], [0, 0]);
  });
});

/** The same service on a real Ganeti cluster: networks made there by RAPI jobs, NICs on them. */
for (const driver of driversUnderTest('n').filter((d) => d.name !== 'fake')) describe(`networks on the ${driver.name} backend`, () => {
  let t: TestNode;
  let u: StoreUser;
  let image: string;
  const prefix = String(driver.settings['cyclades.instance_prefix']);
  const net = (path: string, init: Parameters<typeof call>[1] = {}) => call(`${t.url}/cyclades/network/v2.0${path}`, { token: u.token, ...init });
  const compute = (path: string, init: Parameters<typeof call>[1] = {}) => call(`${t.url}/cyclades/compute/v2.0${path}`, { token: u.token, ...init });
  const ganeti = <T>(f: (d: import('./backends/compute-backend.js').ComputeBackend) => Promise<T>) =>
    withCyclades(t, async (c) => f(c.backends.driver((await c.backends.list())[0]!)));
  const until = async <T>(f: () => Promise<T | undefined>, what: string): Promise<T> => (await pollUntil(f, (v) => !!v, what, 120_000, 250))!;

  before(async () => {
    t = await startTestNode({ settings: { ...driver.settings, 'cyclades.public_network_cidr': '10.12.0.0/24' } });
    await withCyclades(t, async (c) => {
      await driver.addBackend(c);
      await c.flavors.create([1], [512], [driver.diskGiB], ['file']);
      await bootstrapNetworks(c, t.node.context.settings);
    });
    u = await storeUser(t, 'gnt-net');
    image = await registerImage(t, u, 'debian', true);
  });
  after(async () => {
    if (t) await withCyclades(t, (c) => driver.cleanUp(c, prefix)).catch(() => undefined);
    await t?.close();
  });

  it('creates the public network on the cluster, a private one when a NIC needs it, and removes it when deleted', async () => {
    const publicId = (await net('/networks')).json.networks.find((n: { public: boolean }) => n.public).id as string;
    const onCluster = await until(async () => (await ganeti((d) => d.listNetworks())).find((n) => n.name === `${prefix}net-${publicId}` && n.groups.length > 0), 'public network connected on the cluster');
    assert.equal(onCluster.network, '10.12.0.0/24');
    assert.equal(onCluster.groups[0]!.link, 'br0');

    const lan = (await net('/networks', { json: { network: { name: 'lan' } } })).json.network;
    assert.equal((await net('/subnets', { json: { subnet: { network_id: lan.id, cidr: '10.62.0.0/24' } } })).status, 201);
    assert.ok(!(await ganeti((d) => d.listNetworks())).some((n) => n.name === `${prefix}net-${lan.id}`), 'not on the cluster before a NIC needs it');

    const made = await compute('/servers', { json: { server: { name: 'gnt-nics', imageRef: image, flavorRef: 1, networks: [{ uuid: lan.id }] } } });
    assert.equal(made.status, 202, made.text);
    const id = made.json.server.id as number;
    await waitForServer(t, u.token, id, ['ACTIVE'], 180_000);
    const shown = (await compute(`/servers/${id}`)).json.server;
    assert.equal(shown.addresses[lan.id]?.[0]?.addr, '10.62.0.2', JSON.stringify(shown.addresses));
    const mac = shown.addresses[lan.id][0]['OS-EXT-IPS-MAC:mac_addr'] as string;
    const inst = await ganeti((d) => d.instance(`${prefix}${id}`));
    const nic = inst?.nics.find((n) => n.mac === mac);
    assert.equal(nic?.network, `${prefix}net-${lan.id}`, JSON.stringify(inst?.nics));
    assert.equal(nic?.ip, '10.62.0.2');
    const prefixOf = await withCyclades(t, async (c) => (await c.networks.store.network(Number(lan.id)))!.mac_prefix);
    assert.ok(mac.startsWith(prefixOf!), `${mac} under ${prefixOf}`);

    // A floating IP hot-plugged as a second NIC, then unplugged.
    const fip = (await net('/floatingips', { json: { floatingip: {} } })).json.floatingip;
    assert.equal((await compute(`/servers/${id}/action`, { json: { addFloatingIp: { address: fip.floating_ip_address } } })).status, 202);
    await until(async () => (await compute(`/servers/${id}`)).json.server.addresses[publicId], 'floating IP attached on the cluster');
    assert.equal((await ganeti((d) => d.instance(`${prefix}${id}`)))?.nics.length, 2);
    assert.equal((await compute(`/servers/${id}/action`, { json: { removeFloatingIp: { address: fip.floating_ip_address } } })).status, 202);
    await until(async () => !(await compute(`/servers/${id}`)).json.server.addresses[publicId], 'floating IP detached');
    assert.equal((await ganeti((d) => d.instance(`${prefix}${id}`)))?.nics.length, 1);

    assert.equal((await compute(`/servers/${id}`, { method: 'DELETE' })).status, 204);
    await waitForServer(t, u.token, id, ['DELETED'], 180_000);
    assert.equal((await net(`/floatingips/${fip.id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await net(`/networks/${lan.id}`, { method: 'DELETE' })).status, 204);
    await until(async () => (await net(`/networks/${lan.id}`)).json.network.status === 'DELETED', 'network removed from the cluster, then DELETED');
    assert.ok(!(await ganeti((d) => d.listNetworks())).some((n) => n.name === `${prefix}net-${lan.id}`));
  });
});
