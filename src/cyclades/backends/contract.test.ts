import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ganetiTestbed } from '../../test/compute.js';
import { isFinal, type ComputeBackend, type InstanceInfo, type InstanceSpec } from './compute-backend.js';
import { FakeBackend } from './fake.js';
import { GanetiBackend } from './ganeti.js';

/** Every driver must behave the same to the service: one contract, run against each. */
const dir = mkdtempSync(join(tmpdir(), 'snf-contract-'));
const drivers: { name: string; make: () => ComputeBackend; link: string }[] = [
  { name: 'fake (simulated)', link: 'br0', make: () => new FakeBackend({ clustername: `contract-${process.pid}.fake`, stateFile: join(dir, 'fake.db'), jobMs: 10 }) },
  ...ganetiTestbed().map((g) => {
    const url = new URL(g.url);
    return { name: `ganeti ${g.cluster}`, link: 'br0', make: () => new GanetiBackend({ host: url.hostname, port: Number(url.port || 5080), username: g.user, password: g.password, insecure: true, timeoutMs: 30_000 }) };
  }),
];
after(() => rmSync(dir, { recursive: true, force: true }));

async function finish(d: ComputeBackend, job: number): Promise<{ status: string; message: string }> {
  let s = await d.job(job);
  while (!isFinal(s.status)) s = await d.waitForJobChange(job, s.status, 30);
  return s;
}

for (const { name, make, link } of drivers) describe(`compute backend contract: ${name}`, () => {
  const d = make();
  const instance = `snfc${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const find = async (): Promise<InstanceInfo | undefined> => (await d.listInstances()).find((i) => i.name === instance);
  /** What a scenario made, undone even when it fails half-way. */
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    if (await find()) await finish(d, await d.deleteInstance(instance));
    for (const undo of cleanups) await undo().catch((err: unknown) => console.error(`contract clean-up: ${(err as Error).message}`));
    await d.close();
  });

  it('reports capacity and disk templates', async () => {
    const info = await d.info();
    assert.ok(info.mtotal > 0 && info.dtotal > 0 && info.ctotal > 0);
    assert.ok(info.disk_templates.includes('file'));
  });

  it('creates, stops, resizes, starts, reboots, adds and removes a NIC and a disk, and removes an instance, job by job', async () => {
    const created = await finish(d, await d.createInstance({
      name: instance, vcpus: 1, memoryMiB: 128, diskTemplate: 'file', disks: [{ sizeMiB: 64, name: 'root' }], nics: [],
      os: 'snf-image+default', osparams: { img_id: 'contract', img_format: 'diskdump', img_properties: '{}' }, osparamsSecret: { img_passwd: 'not-stored' }, hvparams: {}, tags: ['synnefo:contract'],
    }));
    assert.equal(created.status, 'success', created.message);
    let i = await find();
    assert.deepEqual([i?.running, i?.vcpus, i?.memoryMiB, i?.diskTemplate, i?.diskSizesMiB], [true, 1, 128, 'file', [64]]);
    assert.ok(i?.tags.includes('synnefo:contract'));

    assert.equal((await finish(d, await d.shutdownInstance(instance))).status, 'success');
    assert.equal((await find())?.running, false);
    assert.equal((await finish(d, await d.resizeInstance(instance, 2, 256))).status, 'success');
    i = await find();
    assert.deepEqual([i?.vcpus, i?.memoryMiB], [2, 256]);

    assert.equal((await finish(d, await d.addNic(instance, { name: 'nic-1', mode: 'bridged', link }))).status, 'success');
    assert.deepEqual((await find())?.nics.map((n) => n.name), ['nic-1']);
    assert.equal((await finish(d, await d.addDisk(instance, { name: 'vol-1', sizeMiB: 32 }))).status, 'success');
    i = await find();
    assert.deepEqual([i?.diskSizesMiB, i?.diskNames], [[64, 32], ['root', 'vol-1']]);
    assert.equal((await finish(d, await d.removeDisk(instance, 'vol-1'))).status, 'success');
    assert.equal((await finish(d, await d.removeNic(instance, 'nic-1'))).status, 'success');
    i = await find();
    assert.deepEqual([i?.nics.length, i?.diskSizesMiB], [0, [64]]);

    assert.equal((await finish(d, await d.startInstance(instance))).status, 'success');
    assert.equal((await find())?.running, true);
    // Ganeti's fake hypervisor has no console; a cluster that has one gives VNC details.
    const info = await d.info();
    try {
      assert.equal((await d.console(instance)).type, 'vnc');
    } catch (err) {
      assert.ok(info.hypervisor === 'fake' && !d.simulated, `console refused: ${(err as Error).message}`);
      assert.match((err as Error).message, /no VNC console/);
    }
    assert.equal((await finish(d, await d.rebootInstance(instance, 'hard'))).status, 'success');

    const again = await finish(d, await d.createInstance({ name: instance, vcpus: 1, memoryMiB: 128, diskTemplate: 'file', disks: [{ sizeMiB: 64 }], nics: [], os: 'snf-image+default', osparams: {}, osparamsSecret: {}, hvparams: {}, tags: [] }));
    assert.equal(again.status, 'error', 'a second instance of the same name is refused by its job');

    assert.equal((await finish(d, await d.deleteInstance(instance))).status, 'success');
    assert.equal(await find(), undefined);
    const gone = await finish(d, await d.deleteInstance(instance));
    assert.equal(gone.status, 'error');
    assert.match(gone.message, /not known|unknown/i, 'removing a missing instance fails with a recognisable message');
    assert.equal(await d.instance(instance), undefined, 'a removed instance is not reported');
  });

  it('detaches a volume, keeping it, attaches it to another instance and back, then removes it for good', async () => {
    const [first, second] = [`${instance}-v1`, `${instance}-v2`];
    const vol = `snfc${process.pid}-vol-${Math.floor(Math.random() * 1e6)}`;
    const disks = async (vm: string) => { const i = await d.instance(vm); return [i?.diskNames, i?.diskSizesMiB]; };
    cleanups.push(async () => {
      // A disk left detached can only go by being attached to an instance that is then removed.
      const holders = (await d.listInstances()).filter((i) => i.name === first || i.name === second);
      if (holders[0] && !holders.some((i) => i.diskNames.includes(vol))) await finish(d, await d.attachDisk(holders[0].name, vol));
      for (const i of holders) await finish(d, await d.deleteInstance(i.name));
    });
    const withRoot = (name: string): InstanceSpec => ({ ...tiny(name), diskTemplate: 'file', disks: [{ sizeMiB: 64, name: 'root' }] });

    assert.equal((await finish(d, await d.createInstance(withRoot(first)))).status, 'success');
    assert.equal((await finish(d, await d.addDisk(first, { name: vol, sizeMiB: 64 }))).status, 'success');
    assert.deepEqual(await disks(first), [['root', vol], [64, 64]]);
    const detached = await finish(d, await d.detachDisk(first, vol));
    assert.equal(detached.status, 'success', detached.message);
    assert.deepEqual(await disks(first), [['root'], [64]], 'a detached disk is off its instance');

    assert.equal((await finish(d, await d.createInstance(withRoot(second)))).status, 'success');
    const attached = await finish(d, await d.attachDisk(second, vol));
    assert.equal(attached.status, 'success', attached.message);
    assert.deepEqual(await disks(second), [['root', vol], [64, 64]], 'the kept disk comes back with its size');

    await assert.rejects(async () => finish(d, await d.attachDisk(first, vol)), /already attached to instance '.*-v2'/, 'a disk on another instance is refused');
    assert.deepEqual([await disks(first), await disks(second)], [[['root'], [64]], [['root', vol], [64, 64]]], 'and stays where it is');

    assert.equal((await finish(d, await d.detachDisk(second, vol))).status, 'success');
    assert.deepEqual(await disks(second), [['root'], [64]]);
    assert.equal((await finish(d, await d.attachDisk(first, vol))).status, 'success');
    assert.deepEqual(await disks(first), [['root', vol], [64, 64]]);

    // Ganeti removes a disk from a running instance only by hot-plugging, which its fake hypervisor cannot.
    assert.equal((await finish(d, await d.shutdownInstance(first))).status, 'success');
    const removed = await finish(d, await d.removeDisk(first, vol));
    assert.equal(removed.status, 'success', removed.message);
    assert.deepEqual(await disks(first), [['root'], [64]]);
    const gone = await finish(d, await d.attachDisk(second, vol));
    assert.equal(gone.status, 'error', 'a removed disk is gone for good');
    assert.match(gone.message, /No disk was found with this name/);

    for (const vm of [first, second]) assert.equal((await finish(d, await d.deleteInstance(vm))).status, 'success');
  });

  it('attaching or detaching a disk the cluster does not have fails by its job', async () => {
    const vm = `${instance}-nodisk`;
    cleanups.push(async () => { if (await d.instance(vm)) await finish(d, await d.deleteInstance(vm)); });
    assert.equal((await finish(d, await d.createInstance({ ...tiny(vm), diskTemplate: 'file', disks: [{ sizeMiB: 64 }] }))).status, 'success');
    const unknown = `snfc${process.pid}-no-such-vol`;
    const attach = await finish(d, await d.attachDisk(vm, unknown));
    assert.equal(attach.status, 'error');
    assert.match(attach.message, new RegExp(`No disk was found with this name: ${unknown}`));
    const detach = await finish(d, await d.detachDisk(vm, unknown));
    assert.equal(detach.status, 'error');
    assert.match(detach.message, new RegExp(`Lookup of disk '${unknown}' failed`));
    assert.deepEqual((await d.instance(vm))?.diskSizesMiB, [64]);
    assert.equal((await finish(d, await d.deleteInstance(vm))).status, 'success');
  });

  it('a job that depends on a failed job fails, naming it, and does nothing', async () => {
    cleanups.push(async () => { if (await d.instance(`${instance}-dep`)) await finish(d, await d.deleteInstance(`${instance}-dep`)); });
    const failed = await d.removeNetwork(`${instance}-no-such-net`);
    const dependent = await d.createInstance({ ...tiny(`${instance}-dep`), nics: [] }, { depends: [failed] });
    const gone = await finish(d, failed);
    assert.equal(gone.status, 'error');
    assert.match(gone.message, /not found|not known|does not exist/i, 'removing a missing network fails with a recognisable message');
    const s = await finish(d, dependent);
    assert.equal(s.status, 'error');
    assert.match(s.message, new RegExp(`\\b${failed}\\b`), s.message);
    assert.equal(await d.instance(`${instance}-dep`), undefined);
  });

  it('adds a network, connects it, puts NICs of an instance on it (jobs chained by depends) and removes it all', async () => {
    const net = `snfc${process.pid}-net-${Math.floor(Math.random() * 1e6)}`;
    const vm = `${instance}-net`;
    cleanups.push(async () => {
      if (await d.instance(vm)) await finish(d, await d.deleteInstance(vm));
      if (!(await d.listNetworks()).some((n) => n.name === net)) return;
      for (const j of await d.disconnectNetwork(net)) await finish(d, j);
      await finish(d, await d.removeNetwork(net));
    });

    const added = await d.addNetwork({ name: net, network: '192.168.77.0/24', gateway: '192.168.77.1', network6: null, gateway6: null, macPrefix: 'aa:00:55', tags: ['synnefo:contract'], conflictsCheck: false });
    const connected = await d.connectNetwork(net, 'bridged', link, { depends: [added] });
    assert.ok(connected.length >= 1, 'one connect job per node group');
    // Submitted at once, as the service does: each job waits for the ones it depends on.
    const created = await d.createInstance({ ...tiny(vm), nics: [{ name: 'nic-0', network: net }] }, { depends: connected });
    const nicAdded = await d.addNic(vm, { name: 'nic-1', network: net }, { depends: [created] });
    for (const j of [added, ...connected, created, nicAdded]) {
      const s = await finish(d, j);
      assert.equal(s.status, 'success', `job ${j}: ${s.message}`);
    }
    assert.equal((await d.job(added)).instance, net, 'a network job names its network');

    const listed = (await d.listNetworks()).find((n) => n.name === net);
    assert.deepEqual([listed?.network, listed?.gateway, listed?.macPrefix], ['192.168.77.0/24', '192.168.77.1', 'aa:00:55']);
    assert.equal(listed?.groups.length, connected.length);
    assert.ok(listed?.groups.every((g) => g.group && g.mode === 'bridged' && g.link === link), JSON.stringify(listed?.groups));
    assert.ok(listed?.tags.includes('synnefo:contract'));
    assert.ok(listed?.reserved.includes('192.168.77.1'), `the gateway is reserved: ${listed?.reserved.join(', ')}`);

    const i = await d.instance(vm);
    assert.deepEqual(i?.nics.map((n) => [n.name, n.network, n.link]), [['nic-0', net, link], ['nic-1', net, link]]);
    assert.ok(i?.nics.every((n) => n.mac.startsWith('aa:00:55:')), `MACs from the network's prefix: ${i?.nics.map((n) => n.mac).join(' ')}`);
    assert.notEqual(i?.nics[0]?.mac, i?.nics[1]?.mac);

    const inUse = await finish(d, await d.removeNetwork(net));
    assert.equal(inUse.status, 'error', 'a network with NICs on it stays');
    assert.ok((await d.listNetworks()).some((n) => n.name === net));

    assert.equal((await finish(d, await d.deleteInstance(vm))).status, 'success');
    const disconnected = await d.disconnectNetwork(net);
    assert.equal(disconnected.length, connected.length);
    const removed = await d.removeNetwork(net, { depends: disconnected });
    for (const j of [...disconnected, removed]) {
      const s = await finish(d, j);
      assert.equal(s.status, 'success', `job ${j}: ${s.message}`);
    }
    assert.equal((await d.listNetworks()).some((n) => n.name === net), false);
    assert.deepEqual(await d.disconnectNetwork(net), [], 'a missing network has nothing to disconnect');
    const gone = await finish(d, await d.removeNetwork(net));
    assert.equal(gone.status, 'error');
    assert.match(gone.message, /not found|not known|does not exist/i);
  });
});

/** A small diskless instance, for the scenarios that are not about disks. */
function tiny(name: string): InstanceSpec {
  return { name, vcpus: 1, memoryMiB: 128, diskTemplate: 'diskless', disks: [], nics: [], os: 'snf-image+default', osparams: {}, osparamsSecret: {}, hvparams: {}, tags: ['synnefo:contract'] };
}
