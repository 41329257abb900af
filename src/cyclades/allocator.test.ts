import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, required, startTestNode, withAstakos, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { ganetiTestbed, registerImage, waitForServer, withCyclades } from '../test/compute.js';
import type { Cyclades } from './service.js';

interface Pair { name: string; add(c: Cyclades): Promise<void>; timeoutMs: number }

const testbed = ganetiTestbed();
if (testbed.length < 2 && required('ganeti-pair')) throw new Error('two Ganeti clusters are required (SNF_TEST_REQUIRE): scripts/ganeti-testbed.sh up 2');
const pairs: Pair[] = [
  { name: 'two simulated clusters', timeoutMs: 20_000, add: async (c) => {
    for (const n of [1, 2]) await c.backends.add({ clustername: `pair${n}-${process.pid}.fake`, driver: 'fake' });
  } },
];
if (testbed.length >= 2) {
  pairs.push({ name: `two Ganeti clusters (${testbed.slice(0, 2).map((g) => g.cluster).join(', ')})`, timeoutMs: 60_000, add: async (c) => {
    for (const g of testbed.slice(0, 2)) {
      const url = new URL(g.url);
      await c.backends.add({ clustername: url.hostname, port: Number(url.port || 5080), driver: 'ganeti', username: g.user, password: g.password, insecure: true });
    }
  } });
}

for (const pair of pairs) describe(`the allocator over ${pair.name}`, () => {
  let t: TestNode;
  let u: StoreUser;
  let image: string;
  const prefix = `snfa${process.pid}-`;
  before(async () => {
    t = await startTestNode({ settings: { 'cyclades.fake_job_ms': 20, 'cyclades.instance_prefix': prefix } });
    await withCyclades(t, async (c) => {
      await pair.add(c);
      await c.flavors.create([1], [256], [1], ['file']);
      // Real clusters carry whatever load other users left on them: start both from the same
      // figures, so what is tested is how the allocator spreads a burst, not their history.
      for (const b of await c.backends.list()) {
        await c.store.updateBackend(Number(b.id), { mfree: 16384, mtotal: 16384, dfree: 100_000, dtotal: 100_000, ctotal: 4, pinst_cnt: 0, updated_at: Date.now() });
      }
    });
    await withAstakos(t, (a) => a.resources.modify('cyclades.vm', { baseDefault: 10, updateExisting: true }));
    u = await storeUser(t, 'alloc');
    image = await registerImage(t, u);
  });
  after(async () => {
    // Real clusters outlive the suite: remove the servers it made.
    for (const s of (await call(`${t.url}/cyclades/compute/v2.0/servers`, { token: u.token })).json?.servers ?? []) {
      await call(`${t.url}/cyclades/compute/v2.0/servers/${s.id}`, { method: 'DELETE', token: u.token });
      await waitForServer(t, u.token, s.id, ['DELETED'], pair.timeoutMs).catch(() => undefined);
    }
    await t.close();
  });

  const create = async (name: string) => {
    const res = await call(`${t.url}/cyclades/compute/v2.0/servers`, { token: u.token, json: { server: { name, imageRef: image, flavorRef: 1 } } });
    assert.equal(res.status, 202, res.text);
    return res.json.server.id as number;
  };
  const placement = () => withCyclades(t, async (c) => {
    const rows = await c.store.allServers({ deleted: false });
    return new Map(rows.map((r) => [Number(r.id), Number(r.backend_id)]));
  });

  it('spreads new servers over the clusters, and skips a drained one', async () => {
    const ids = [await create('a'), await create('b'), await create('c'), await create('d')];
    for (const id of ids) await waitForServer(t, u.token, id, ['ACTIVE'], pair.timeoutMs);
    const placed = await placement();
    const counts = new Map<number, number>();
    for (const id of ids) counts.set(placed.get(id)!, (counts.get(placed.get(id)!) ?? 0) + 1);
    assert.equal(counts.size, 2, `both clusters got servers: ${JSON.stringify([...placed])}`);

    const [first] = [...counts.keys()].sort();
    await withCyclades(t, (c) => c.backends.modify(first!, { drained: true }));
    const late = await create('e');
    assert.notEqual((await placement()).get(late), first, 'a drained backend takes no new servers');
    await waitForServer(t, u.token, late, ['ACTIVE'], pair.timeoutMs);
  });
});
