import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, dbTargets, startTestNode, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { computeQuota, driversUnderTest, registerImage, waitForServer, withCyclades } from '../test/compute.js';
import type { InstanceInfo } from './backends/compute-backend.js';
import { reconcileServers } from './logic/reconcile.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

for (const db of dbTargets()) for (const driver of driversUnderTest(db.name.slice(0, 1))) describe(`servers on the ${driver.name} backend, ${db.name}`, () => {
  let t: TestNode;
  let api: string;
  let owner: StoreUser;
  let image: string;
  let small: number; let large: number; let huge: number;
  const prefix = String(driver.settings['cyclades.instance_prefix']);
  /** The backend's own view of a server's instance. */
  const instance = (id: number) => withCyclades(t, async (c) => {
    const [b] = await c.backends.list();
    return (await c.backends.driver(b!).listInstances()).find((i) => i.name === `${prefix}${id}`) as InstanceInfo | undefined;
  });

  before(async () => {
    t = await startTestNode({ db, settings: driver.settings });
    api = `${t.url}/cyclades/compute/v2.0`;
    await withCyclades(t, async (c) => {
      await driver.addBackend(c);
      await c.flavors.create([1, 2], [1024], [driver.diskGiB], ['file']);
      await c.flavors.create([64], [1024], [driver.diskGiB], ['file']);
      const all = await c.flavors.list();
      small = Number(all.find((f) => f.cpu === 1)!.id);
      large = Number(all.find((f) => f.cpu === 2)!.id);
      huge = Number(all.find((f) => f.cpu === 64)!.id);
    });
    owner = await storeUser(t, 'owner');
    image = await registerImage(t, owner, 'debian', true);
  });
  after(async () => {
    // A real cluster outlives the suite: remove what the suite left on it.
    if (t) await withCyclades(t, (c) => driver.cleanUp(c, prefix)).catch(() => undefined);
    await t?.close();
  });

  const create = (u: { token: string }, body: Record<string, unknown>) => call(`${api}/servers`, { token: u.token, json: { server: body } });
  const action = (u: { token: string }, id: number, json: unknown) => call(`${api}/servers/${id}/action`, { token: u.token, json });

  it('a server goes BUILD -> ACTIVE -> STOPPED -> ACTIVE -> resized -> DELETED, quota following each step', async () => {
    const u = await storeUser(t, 'life');
    const img = await registerImage(t, u);
    const res = await create(u, { name: 'web', imageRef: img, flavorRef: small, metadata: { role: 'web' } });
    assert.equal(res.status, 202, res.text);
    const s = res.json.server;
    assert.equal(typeof s.id, 'number');
    assert.equal(s.status, 'BUILD');
    assert.equal(s['SNF:task_state'], 'BUILDING');
    assert.match(s.adminPass, /^[A-Za-z0-9]{12}$/);
    assert.deepEqual(s.metadata, { role: 'web' });
    assert.equal(s.tenant_id, u.uuid, 'charged to the system project');
    let q = await computeQuota(t, u);
    assert.equal(q['cyclades.vm']!.usage, 1, 'charged at once (usage counts what is pending, as Astakos reports it)');

    const active = await waitForServer(t, u.token, s.id, ['ACTIVE']);
    assert.equal(active.adminPass, undefined, 'the password is shown once');
    q = await computeQuota(t, u);
    assert.deepEqual([q['cyclades.vm']!.usage, q['cyclades.cpu']!.usage, q['cyclades.ram']!.usage, q['cyclades.total_ram']!.usage, q['cyclades.disk']!.usage],
      [1, 1, 1024 * MiB, 1024 * MiB, driver.diskGiB * GiB]);
    assert.equal(q['cyclades.vm']!.pending, 0);
    const made = await instance(s.id);
    assert.deepEqual([made?.running, made?.vcpus, made?.memoryMiB, made?.diskTemplate], [true, 1, 1024, 'file'], 'the backend runs it');

    const refused = await action(u, s.id, { start: {} });
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.json.conflictingRequest.code, 409);

    assert.equal((await action(u, s.id, { shutdown: {} })).status, 202);
    await waitForServer(t, u.token, s.id, ['STOPPED']);
    q = await computeQuota(t, u);
    assert.equal(q['cyclades.cpu']!.usage, 0, 'shutdown releases cpu');
    assert.equal(q['cyclades.ram']!.usage, 0, 'and ram');
    assert.equal(q['cyclades.total_cpu']!.usage, 1, 'but not the totals');
    assert.equal((await instance(s.id))?.running, false, 'the backend stopped it');

    assert.equal((await action(u, s.id, { resize: { flavorRef: 99999 } })).status, 400, 'an unknown flavor');
    assert.equal((await action(u, s.id, { resize: { flavorRef: small } })).status, 400, 'the flavor it already has');
    assert.equal((await action(u, s.id, { resize: {} })).status, 400, 'no flavorRef');
    assert.equal((await action(u, s.id, { resize: { flavorRef: large } })).status, 202);
    const resized = await waitForServer(t, u.token, s.id, ['STOPPED']);
    assert.equal(resized.flavor.id, large);
    q = await computeQuota(t, u);
    assert.equal(q['cyclades.total_cpu']!.usage, 2);
    assert.equal((await instance(s.id))?.vcpus, 2, 'the backend resized it');

    assert.equal((await action(u, s.id, { start: {} })).status, 202);
    await waitForServer(t, u.token, s.id, ['ACTIVE']);
    assert.equal((await computeQuota(t, u))['cyclades.cpu']!.usage, 2);
    assert.equal((await action(u, s.id, { reboot: { type: 'HARD' } })).status, 202);
    await waitForServer(t, u.token, s.id, ['ACTIVE']);

    const before = new Date(Date.now() - 1000).toISOString();
    assert.equal((await call(`${api}/servers/${s.id}`, { method: 'DELETE', token: u.token })).status, 204);
    await waitForServer(t, u.token, s.id, ['DELETED']);
    assert.equal(await instance(s.id), undefined, 'the backend removed it');
    q = await computeQuota(t, u);
    for (const r of ['cyclades.vm', 'cyclades.cpu', 'cyclades.ram', 'cyclades.total_cpu', 'cyclades.total_ram', 'cyclades.disk']) {
      assert.deepEqual([r, q[r]!.usage, q[r]!.pending], [r, 0, 0]);
    }
    assert.deepEqual((await call(`${api}/servers`, { token: u.token })).json.servers, []);
    const changes = await call(`${api}/servers/detail?changes-since=${encodeURIComponent(before)}`, { token: u.token });
    assert.equal(changes.status, 200);
    assert.equal(changes.json.servers[0].status, 'DELETED');
    const later = new Date().toISOString();
    assert.equal((await call(`${api}/servers?changes-since=${encodeURIComponent(later)}`, { token: u.token })).status, 304);
    const afterwards = await action(u, s.id, { start: {} });
    assert.equal(afterwards.status, 400, 'a deleted server takes no action');
  });

  it('actions refused while building are 409 buildInProgress; another user sees nothing', async () => {
    // Long enough that the build is surely still running when the action comes, however busy the machine.
    if (driver.slowBuild) await withCyclades(t, (c) => driver.slowBuild!(c, 3000));
    const res = await create(owner, { name: 'busy', imageRef: image, flavorRef: small });
    const id = res.json.server.id as number;
    const busy = await action(owner, id, { shutdown: {} });
    assert.equal(busy.status, 409, busy.text);
    assert.ok(busy.json.buildInProgress);
    const other = await storeUser(t, 'other');
    assert.equal((await call(`${api}/servers/${id}`, { token: other.token })).status, 404);
    assert.equal((await action(other, id, { reboot: { type: 'SOFT' } })).status, 404);
    assert.equal((await call(`${api}/servers/${id}`, { method: 'DELETE', token: other.token })).status, 404);
    assert.equal((await call(`${api}/servers/${id}`, { token: 'not-a-token' })).status, 401);
    assert.equal((await call(`${api}/servers/${id}/ips`, { token: other.token })).status, 404);
    assert.deepEqual((await call(`${api}/servers/${id}/ips`, { token: owner.token })).json, { addresses: {}, attachments: [] });
    assert.equal((await action(owner, id, { suspend: {} })).status, 403, 'users cannot suspend');
    await waitForServer(t, owner.token, id, ['ACTIVE']);
  });

  it('bad requests are refused with 400 and leave nothing behind', async () => {
    const u = await storeUser(t, 'bad');
    const cases: [unknown, RegExp][] = [
      [{ name: 'x', imageRef: image, flavorRef: 99999 }, /Flavor/],
      [{ name: 'x', imageRef: 'no-such-image', flavorRef: small }, /Image/],
      [{ name: '', imageRef: image, flavorRef: small }, /name/],
      [{ name: 'x', imageRef: image, flavorRef: small, metadata: { k: 1 } }, /metadata/],
      [{ name: 'x', imageRef: image, flavorRef: small, personality: [{ path: 'relative', contents: '' }] }, /personality/],
      [{ name: 'x', imageRef: image, flavorRef: small, key_name: 'nokey' }, /Keypair/],
    ];
    for (const [body, message] of cases) {
      const res = await create(u, body as Record<string, unknown>);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.match(res.json.badRequest.message, message);
    }
    const tooMany = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v']));
    const meta = await create(u, { name: 'x', imageRef: image, flavorRef: small, metadata: tooMany });
    assert.equal(meta.status, 400);
    assert.match(meta.json.badRequest.message, /more than 10 metadata items/);
    const files = Array.from({ length: 6 }, (_, i) => ({ path: `/etc/f${i}`, contents: '' }));
    assert.equal((await create(u, { name: 'x', imageRef: image, flavorRef: small, personality: files })).status, 413, 'more than 5 personality files');
    const big = [{ path: '/etc/big', contents: Buffer.alloc(10241).toString('base64') }];
    assert.equal((await create(u, { name: 'x', imageRef: image, flavorRef: small, personality: big })).status, 413, 'a personality file over 10240 bytes');
    assert.equal((await create(u, { name: 'x', imageRef: image, flavorRef: small, project: '00000000-0000-0000-0000-000000000000' })).status, 403, 'a project the user is not in');
    const notJson = await call(`${api}/servers`, { token: u.token, body: '{oops', headers: { 'content-type': 'application/json' } });
    assert.equal(notJson.status, 400);
    assert.deepEqual((await call(`${api}/servers`, { token: u.token })).json.servers, []);
    const q = await computeQuota(t, u);
    assert.equal(q['cyclades.vm']!.pending + q['cyclades.vm']!.usage, 0);
  });

  it('an over-quota create is 413 with nothing pending and no server', async () => {
    const u = await storeUser(t, 'greedy');
    const res = await create(u, { name: 'big', imageRef: image, flavorRef: huge });
    assert.equal(res.status, 413, res.text);
    assert.ok(res.json.overLimit);
    assert.deepEqual((await call(`${api}/servers`, { token: u.token })).json.servers, []);
    const q = await computeQuota(t, u);
    assert.deepEqual([q['cyclades.cpu']!.usage, q['cyclades.cpu']!.pending, q['cyclades.vm']!.pending], [0, 0, 0]);
  });

  it('a failed creation job leaves the server in ERROR with its commission rejected', async () => {
    const u = await storeUser(t, 'unlucky');
    const failing = await withCyclades(t, (c) => driver.failingFlavor(c));
    const res = await create(u, { name: 'doomed', imageRef: image, flavorRef: failing });
    assert.equal(res.status, 202, res.text);
    const s = await waitForServer(t, u.token, res.json.server.id, ['ERROR', 'ACTIVE']);
    assert.equal(s.status, 'ERROR');
    assert.match(s.fault.message, /not enough memory|not enabled/);
    const diagnostics = await call(`${api}/servers/${s.id}/diagnostics`, { token: u.token });
    assert.equal(diagnostics.status, 200);
    assert.equal(diagnostics.json[0].level, 'ERROR');
    assert.match(diagnostics.json[0].details, /not enough memory|not enabled/);
    const q = await computeQuota(t, u);
    assert.deepEqual([q['cyclades.vm']!.usage, q['cyclades.vm']!.pending, q['cyclades.cpu']!.usage], [0, 0, 0]);
    assert.equal((await call(`${api}/servers/${s.id}`, { method: 'DELETE', token: u.token })).status, 204);
    await waitForServer(t, u.token, s.id, ['DELETED']);
    assert.equal((await computeQuota(t, u))['cyclades.vm']!.usage, 0, 'deleting a failed server releases nothing more');
  });

  it('tags: given at creation, added, checked, replaced and removed, each set on the instance by a job', async () => {
    // With a key too: it travels to the instance as a personality file (a parameter the OS accepts).
    const key = await call(`${api}/os-keypairs`, { token: owner.token, json: { keypair: { name: `k-${driver.name.length}` } } });
    assert.equal(key.status, 201, key.text);
    const res = await create(owner, { name: 'tagged', imageRef: image, flavorRef: small, tags: ['web tier'], key_name: key.json.keypair.name });
    assert.equal(res.status, 202, res.text);
    const id = res.json.server.id as number;
    await waitForServer(t, owner.token, id, ['ACTIVE']);
    const tagsUrl = `${api}/servers/${id}/tags`;
    const settled = async (expect: string[]) => {
      for (let i = 0; i < 400; i++) {
        const r = await call(tagsUrl, { token: owner.token });
        if (r.json.statuses.every((st: string) => st === 'ACTIVE') && JSON.stringify([...r.json.tags].sort()) === JSON.stringify([...expect].sort())) {
          const onCluster = (await instance(id))?.tags ?? [];
          if (expect.every((tag) => onCluster.includes(`cyclades:user:${encodeURIComponent(tag).replace(/%20/g, '+')}`))) return r.json;
        }
        await new Promise((r2) => setTimeout(r2, 50));
      }
      assert.fail(`tags did not settle on ${JSON.stringify(expect)}`);
    };
    await settled(['web tier']);
    assert.deepEqual((await call(`${api}/servers/${id}`, { token: owner.token })).json.server.tags, ['web tier']);

    const added = await call(`${tagsUrl}/db`, { method: 'PUT', token: owner.token });
    assert.equal(added.status, 201);
    assert.equal((await call(`${tagsUrl}/db`, { method: 'PUT', token: owner.token })).status, 204, 'adding it again changes nothing');
    await settled(['web tier', 'db']);
    const one = await call(`${tagsUrl}/db`, { token: owner.token });
    assert.equal(one.status, 204);
    assert.equal(one.headers.get('tag-status'), 'ACTIVE');
    assert.equal((await call(`${tagsUrl}/nope`, { token: owner.token })).status, 404);
    assert.equal((await call(`${tagsUrl}/a,b`, { method: 'PUT', token: owner.token })).status, 400);

    const replaced = await call(tagsUrl, { method: 'PUT', token: owner.token, json: { tags: ['db', 'prod'] } });
    assert.equal(replaced.status, 200, replaced.text);
    await settled(['db', 'prod']);
    assert.equal((await call(`${tagsUrl}/prod`, { method: 'DELETE', token: owner.token })).status, 204);
    await settled(['db']);
    assert.equal((await call(tagsUrl, { method: 'DELETE', token: owner.token })).status, 204);
    await settled([]);
    assert.equal((await call(tagsUrl, { method: 'DELETE', token: owner.token })).status, 404, 'nothing left to delete');
    const other = await storeUser(t, 'tag-other');
    assert.equal((await call(tagsUrl, { token: other.token })).status, 404);
  });

  it('metadata and rename work as Synnefo answers them', async () => {
    const res = await create(owner, { name: 'meta', imageRef: image, flavorRef: small });
    const id = res.json.server.id as number;
    await waitForServer(t, owner.token, id, ['ACTIVE']);
    const m = `${api}/servers/${id}/metadata`;
    assert.equal((await call(m, { token: owner.token, json: { metadata: { a: '1', b: '2' } } })).status, 201);
    assert.deepEqual((await call(m, { token: owner.token })).json.metadata, { a: '1', b: '2' });
    const one = await call(`${m}/a`, { method: 'PUT', token: owner.token, json: { meta: { a: 'x' } } });
    assert.equal(one.status, 201);
    assert.deepEqual(one.json, { meta: { a: 'x' } });
    assert.equal((await call(`${m}/b`, { method: 'DELETE', token: owner.token })).status, 204);
    assert.equal((await call(`${m}/b`, { token: owner.token })).status, 404);
    assert.equal((await call(`${api}/servers/${id}`, { method: 'PUT', token: owner.token, json: { server: { name: 'renamed' } } })).status, 204);
    assert.equal((await call(`${api}/servers/${id}`, { token: owner.token })).json.server.name, 'renamed');
  });

  it('reconcile-servers finds a server whose instance vanished and an orphan instance, and fixes both', async () => {
    const u = await storeUser(t, 'drift');
    const img = await registerImage(t, u);
    const res = await create(u, { name: 'victim', imageRef: img, flavorRef: small });
    const id = res.json.server.id as number;
    await waitForServer(t, u.token, id, ['ACTIVE']);
    const orphan = `${prefix}999999`;
    await withCyclades(t, async (c) => {
      await driver.removeBehindBack(c, `${prefix}${id}`);
      await driver.addOrphan(c, orphan);
    });
    // As the admin tool does: another handle on the same database and the same (simulated) cluster.
    const report = await withCyclades(t, async (c) => {
      const found = await reconcileServers({ ...c, log: t.node.context.log }, { fix: false });
      const fixed = await reconcileServers({ ...c, log: t.node.context.log }, { fix: true });
      return { found, fixed };
    });
    const kinds = (rows: { kind: string; instance: string }[]) => rows.filter((r) => r.instance === `${prefix}${id}` || r.instance === orphan).map((r) => `${r.kind}:${r.instance}`).sort();
    assert.deepEqual(kinds(report.found), [`orphan:${orphan}`, `stale:${prefix}${id}`]);
    assert.ok(report.fixed.every((r) => r.fixed));
    const s = await waitForServer(t, u.token, id, ['DELETED']);
    assert.equal(s.status, 'DELETED');
    const q = await computeQuota(t, u);
    assert.deepEqual([q['cyclades.vm']!.usage, q['cyclades.cpu']!.usage, q['cyclades.vm']!.pending], [0, 0, 0]);
    assert.ok(!(await withCyclades(t, (c) => driver.instanceNames(c))).includes(orphan), 'the orphan was removed from the cluster');
  });
});
