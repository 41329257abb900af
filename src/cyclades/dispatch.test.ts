import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { call, dbTargets, freePort, required, startTestNode, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { computeQuota, registerImage, startComputeNode, waitForServer, withCyclades } from '../test/compute.js';

const AMQP_URL = process.env['SNF_TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672/';

/** Whether a broker answers on the AMQP URL's port. */
async function brokerUp(): Promise<boolean> {
  const u = new URL(AMQP_URL);
  return new Promise((resolve) => {
    const s = connect(Number(u.port || 5672), u.hostname);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
const noBroker = !(await brokerUp());
if (noBroker && required('rabbitmq')) throw new Error(`RabbitMQ is required (SNF_TEST_REQUIRE) but nothing answers at ${new URL(AMQP_URL).host}`);

for (const db of dbTargets()) describe(`a dispatcher in another node, through RabbitMQ, ${db.name}`, { skip: noBroker && 'no RabbitMQ broker (set SNF_TEST_AMQP_URL or start rabbitmq-server)' }, () => {
  let api: TestNode;
  let dispatcher: TestNode | undefined;
  let u: StoreUser;
  let image: string;
  let flavor: number;
  const settings = { 'cyclades.bus': 'amqp', 'cyclades.amqp_url': AMQP_URL, 'cyclades.fake_job_ms': 30, 'cyclades.instance_prefix': `snfq${process.pid}-` };

  before(async () => {
    api = await startTestNode({ db, roles: ['astakos', 'pithos', 'cyclades'], settings });
    await withCyclades(api, async (c) => {
      await c.backends.add({ clustername: `amqp-${db.name}-${process.pid}.fake`, driver: 'fake' });
      [flavor] = (await c.flavors.create([1], [512], [1], ['file'])).map((f) => Number(f.id));
    });
    u = await storeUser(api, 'amqp');
    image = await registerImage(api, u);
  });
  after(async () => { await dispatcher?.stop(); await api?.close(); });

  it('servers created on an API node without a dispatcher stay in BUILD until a dispatcher node applies their jobs', async () => {
    const res = await call(`${api.url}/cyclades/compute/v2.0/servers`, { token: u.token, json: { server: { name: 'remote', imageRef: image, flavorRef: flavor } } });
    assert.equal(res.status, 202, res.text);
    const id = res.json.server.id as number;
    await new Promise((r) => setTimeout(r, 300));
    const waiting = await call(`${api.url}/cyclades/compute/v2.0/servers/${id}`, { token: u.token });
    assert.equal(waiting.json.server.status, 'BUILD', 'nobody applied the job yet');

    // The dispatcher node shares the database and data directory, and listens on the broker.
    dispatcher = await startTestNode({ roles: ['astakos', 'dispatcher'], reuse: api, settings });
    await waitForServer(api, u.token, id, ['ACTIVE']);
    assert.equal((await computeQuota(api, u))['cyclades.vm']!.pending, 0, 'the commission was accepted');

    // A later job reaches the running dispatcher through the broker.
    assert.equal((await call(`${api.url}/cyclades/compute/v2.0/servers/${id}/action`, { token: u.token, json: { shutdown: {} } })).status, 202);
    await waitForServer(api, u.token, id, ['STOPPED'], 10_000);
  });
});

describe('an unreachable Ganeti RAPI during create', () => {
  let t: TestNode;
  let u: StoreUser;
  before(async () => {
    t = await startTestNode({ settings: { 'cyclades.job_retry_limit': 2, 'cyclades.rapi_timeout_ms': 500 } });
    const port = await freePort();
    await withCyclades(t, async (c) => {
      // Nothing listens on this port: every RAPI request fails to connect.
      const id = Number((await c.store.addBackend({ clustername: '127.0.0.1', driver: 'ganeti', port, username: 'x', password_sealed: '', insecure: 1, drained: 0, offline: 0,
        disk_templates: '["file"]', hypervisor: 'kvm', mfree: 4096, mtotal: 4096, dfree: 100_000, dtotal: 100_000, ctotal: 4, pinst_cnt: 0, updated_at: Date.now(), created_at: Date.now() })));
      assert.ok(id > 0);
      await c.flavors.create([1], [512], [1], ['file']);
    });
    u = await storeUser(t, 'unreachable');
  });
  after(() => t.close());

  it('is retried, then the server goes to ERROR with the reason and nothing stays pending', async () => {
    const image = await registerImage(t, u);
    const res = await call(`${t.url}/cyclades/compute/v2.0/servers`, { token: u.token, json: { server: { name: 'lost', imageRef: image, flavorRef: 1 } } });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.json.server.status, 'BUILD', 'accepted while the backend is retried');
    const s = await waitForServer(t, u.token, res.json.server.id, ['ERROR'], 30_000);
    assert.match(s.fault.message, /Could not create the server on its backend: .*ECONNREFUSED/);
    const q = await computeQuota(t, u);
    assert.deepEqual([q['cyclades.vm']!.usage, q['cyclades.vm']!.pending, q['cyclades.cpu']!.usage], [0, 0, 0]);
  });
});

describe('a creation interrupted before it reached its backend', () => {
  let t: TestNode;
  before(async () => {
    t = await startComputeNode('interrupted', { settings: { 'cyclades.build_timeout_s': 1 } });
  });
  after(() => t.close());

  it('is put in ERROR by the dispatcher, its commission rejected', async () => {
    const u = await storeUser(t, 'interrupted');
    // What a node killed between recording the server and submitting its job leaves behind.
    const id = await withCyclades(t, async (c) => {
      const serial = await c.charges.issue({ id: 0, user_id: u.uuid, project: u.uuid }, 'create', { 'cyclades.vm': 1 });
      const now = Date.now() - 5000;
      const sid = await c.store.addServer({
        user_id: u.uuid, project: u.uuid, name: 'orphaned build', flavor_id: 1, target_flavor_id: null, image_id: 'x', image: '{"id":"x"}', backend_id: 1,
        operstate: 'BUILD', action: 'BUILD', task_state: 'BUILDING', job_id: null, job_opcode: '', job_status: '', job_log: '', backend_time: 0, serial,
        buildpercentage: 0, suspended: 0, deleted: 0, key_names: '[]', charged: '{}', firewall_profile: '', error_reason: '', created_at: now, updated_at: now,
      });
      await c.store.transaction((tx) => c.charges.record(tx, serial, sid, 'BUILD', { 'cyclades.vm': 1 }));
      return sid;
    });
    assert.equal((await computeQuota(t, u))['cyclades.vm']!.pending, 1);
    const s = await waitForServer(t, u.token, id, ['ERROR'], 15_000);
    assert.match(s.fault.message, /interrupted/);
    assert.equal((await computeQuota(t, u))['cyclades.vm']!.pending, 0);
  });
});
