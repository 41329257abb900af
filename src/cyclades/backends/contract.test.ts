import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ganetiTestbed } from '../../test/compute.js';
import { isFinal, type ComputeBackend, type InstanceInfo } from './compute-backend.js';
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
  after(async () => {
    if (await find()) await finish(d, await d.deleteInstance(instance));
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
  });
});
