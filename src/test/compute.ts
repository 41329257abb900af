import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { openAstakos } from '../astakos/service.js';
import { InProcessQuotaClient } from '../astakos/logic/quota-client.js';
import { openCyclades, type Cyclades } from '../cyclades/service.js';
import { isFinal, type ComputeBackend } from '../cyclades/backends/compute-backend.js';
import type { FakeBackend } from '../cyclades/backends/fake.js';
import { call, required, runCli, startTestNode, withAstakos, type TestNode } from './harness.js';
import { store, type StoreUser } from './object-store.js';

const execFileAsync = promisify(execFile);

/** Runs compute logic on a test node's database (to add backends and flavors, reconcile...). */
export async function withCyclades<T>(t: Pick<TestNode, 'node'>, f: (c: Cyclades) => Promise<T>): Promise<T> {
  const ctx = t.node.context;
  const astakos = await openAstakos({ settings: ctx.settings, dataDir: ctx.dataDir, secretKey: ctx.secretKey, log: ctx.log, baseUrl: ctx.baseUrl });
  const c = await openCyclades({
    settings: ctx.settings, dataDir: ctx.dataDir, secretKey: ctx.secretKey, log: ctx.log,
    quota: new InProcessQuotaClient('cyclades', astakos), images: { image: async () => undefined },
  });
  try { return await f(c); } finally { await c.close(); await astakos.close(); }
}

/** A test node with one simulated cluster (jobs of 20 ms) and one flavor: how most compute suites start. */
export async function startComputeNode(label: string, opts: { settings?: Record<string, string | number>; flavor?: [cpu: number, ramMiB: number, diskGiB: number] } = {}): Promise<TestNode> {
  const t = await startTestNode({ settings: { 'cyclades.fake_job_ms': 20, ...opts.settings } });
  const [cpu, ram, disk] = opts.flavor ?? [1, 512, 1];
  await withCyclades(t, async (c) => {
    await c.backends.add({ clustername: `${label}-${process.pid}.fake`, driver: 'fake' });
    await c.flavors.create([cpu], [ram], [disk], ['file']);
  });
  return t;
}

/**
 * A project (approved by a new admin) the user is a member of, granting `resources` (a project
 * capacity of 100 GiB and a member capacity of 10 GiB each); also one the user is not in.
 */
export async function memberProjects(t: Pick<TestNode, 'node' | 'url'>, u: { email: string }, resources: string[]): Promise<{ project: string; stranger: string }> {
  const admin = await withAstakos(t, (a) => a.accounts.createUser({ email: `admin-${process.pid}-${Math.random().toString(36).slice(2)}@example.org`, password: 'a-password-1', active: true, admin: true }));
  const account = (path: string, json: unknown) => call(`${t.url}/astakos/account/v1.0${path}`, { token: admin.token, json });
  const grants = Object.fromEntries(resources.map((r) => [r, { project_capacity: 100 * 2 ** 30, member_capacity: 10 * 2 ** 30 }]));
  const apply = async (name: string) => {
    const res = await account('/projects', { name: `${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}.example.org`, end_date: new Date(Date.now() + 30 * 86_400_000).toISOString(), resources: grants });
    assert.equal(res.status, 201, res.text);
    return res.json as { id: string; application: number };
  };
  const applied = await apply('lab');
  assert.equal((await account(`/projects/${applied.id}/action`, { approve: { app_id: applied.application } })).status, 200);
  assert.equal((await account('/projects/memberships', { enroll: { project: applied.id, user: u.email } })).status, 200);
  return { project: applied.id, stranger: (await apply('other')).id };
}

/**
 * The admin tool run beside a test node (given lazily: suites start theirs in `before`): `run`
 * gives any outcome, `ok` the output of a success, `json` its JSON output, `refused` checks a
 * failure whose error matches.
 */
export function adminTool(node: () => Pick<TestNode, 'dataDir' | 'configDir'>) {
  const run = (...args: string[]) => runCli('synnefo', ['manage', '--data-dir', node().dataDir, '--config-dir', node().configDir, ...args]);
  const ok = async (...args: string[]) => {
    const r = await run(...args);
    assert.equal(r.code, 0, `manage ${args.join(' ')}:\n${r.stderr}`);
    return r.stdout;
  };
  const json = async (...args: string[]) => JSON.parse(await ok(...args, '--output-format', 'json'));
  const refused = async (pattern: RegExp, ...args: string[]) => {
    const r = await run(...args);
    assert.notEqual(r.code, 0, `manage ${args.join(' ')} should be refused:\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, pattern);
  };
  return { run, ok, json, refused };
}

/** The Debian openstack client; its suites are skipped (with this reason) when it is missing, unless SNF_TEST_REQUIRE names it. */
export const OPENSTACK = '/usr/bin/openstack';
export const openstackMissing: string | false = !existsSync(OPENSTACK) && `${OPENSTACK} not installed (apt-get install python3-openstackclient)`;
if (openstackMissing && required('openstack')) throw new Error(`${OPENSTACK} is required (SNF_TEST_REQUIRE) but not installed: apt-get install python3-openstackclient`);

/**
 * The openstack client as a user of a test node (both given lazily), with a token from our
 * identity service: `run` gives its output, `json` parses `-f json` output.
 */
export function openstackAs(node: () => Pick<TestNode, 'url'>, user: () => { uuid: string; token: string }) {
  const run = async (...args: string[]) => {
    const t = node();
    const u = user();
    const { stdout } = await execFileAsync(OPENSTACK, [
      '--os-auth-url', `${t.url}/astakos/identity/v2.0`, '--os-identity-api-version', '2',
      '--os-username', u.uuid, `--os-password=${u.token}`, '--os-project-id', u.uuid, ...args,
    ], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' }, timeout: 120_000 });
    return stdout;
  };
  const json = async (...args: string[]) => JSON.parse(await run(...args, '-f', 'json'));
  return { run, json };
}

/** Uploads a small object into the user's `images` container and registers it as an image; returns its id. */
export async function registerImage(t: Pick<TestNode, 'url'>, u: StoreUser, name = 'debian', isPublic = false): Promise<string> {
  assert.equal((await store(`${u.base}/images`, { method: 'PUT', token: u.token })).status < 300, true);
  const put = await store(`${u.base}/images/${name}.diskdump`, { method: 'PUT', token: u.token, body: Buffer.alloc(4096, 7), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201, put.text);
  const res = await store(`${t.url}/cyclades/image/v1.0/images/`, {
    method: 'POST', token: u.token, headers: {
      'x-image-meta-name': name, 'x-image-meta-location': `pithos://${u.uuid}/images/${name}.diskdump`,
      'x-image-meta-disk-format': 'diskdump', 'x-image-meta-container-format': 'bare', 'x-image-meta-is-public': String(isPublic),
      'x-image-meta-property-os': 'debian', 'x-image-meta-property-osfamily': 'linux', 'x-image-meta-property-users': 'root',
    },
  });
  assert.ok(res.status === 200 || res.status === 201, `register image: ${res.status} ${res.text}`);
  return res.json.image.id as string;
}

/** The user's compute quota in their system project, hidden resources (total_cpu, total_ram) included: resource -> {limit, usage, pending}. */
export async function computeQuota(t: Pick<TestNode, 'node'>, u: { uuid: string }): Promise<Record<string, { limit: number; usage: number; pending: number }>> {
  return withAstakos(t, async (a) => {
    const all = await new InProcessQuotaClient('cyclades', a).userQuotas({ users: [u.uuid] });
    const mine = all[u.uuid]?.[u.uuid] ?? {};
    return Object.fromEntries(Object.entries(mine).map(([k, v]) => [k, { limit: v.limit, usage: v.usage, pending: v.pending }]));
  });
}

/**
 * Reads `probe` every `every` ms until `done` holds for what it gives, and returns that; after
 * `ms`, fails with `what` and the last reading.
 */
export async function pollUntil<T>(probe: () => Promise<T>, done: (v: T) => boolean, what: string, ms = 15_000, every = 30): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() >= deadline) assert.fail(`${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Polls a server until its status is one of `statuses` (and no task is pending); returns it. */
export async function waitForServer(t: Pick<TestNode, 'url'>, token: string, id: number, statuses: string[], timeoutMs = 20000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    const res = await call(`${t.url}/cyclades/compute/v2.0/servers/${id}`, { token });
    assert.equal(res.status, 200, res.text);
    last = res.json.server;
    if (statuses.includes(last.status) && last['SNF:task_state'] === '') return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`server ${id} stayed ${last?.status}/${last?.['SNF:task_state']}, expected ${statuses.join('|')}`);
}

/** A compute backend the scenario suite runs against: the simulated one always, a real Ganeti cluster when one is set up. */
export interface DriverUnderTest {
  name: string;
  /** Settings of the test node for this driver. */
  settings: Record<string, string | number>;
  /** Disk size (GiB) and memory (MiB) of the suite's flavors. */
  diskGiB: number;
  addBackend(c: Cyclades): Promise<void>;
  /** A flavor whose creation job this backend will fail (a real failure on Ganeti, an injected one on the fake). */
  failingFlavor(c: Cyclades): Promise<number>;
  removeBehindBack(c: Cyclades, instance: string): Promise<void>;
  addOrphan(c: Cyclades, instance: string): Promise<void>;
  instanceNames(c: Cyclades): Promise<string[]>;
  /** Makes the next instance creation take `ms` longer (the simulated one; a real cluster's builds take seconds anyway). */
  slowBuild?(c: Cyclades, ms: number): Promise<void>;
  /** Removes every instance whose name starts with `prefix`. */
  cleanUp(c: Cyclades, prefix: string): Promise<void>;
}

/** The Ganeti clusters `scripts/ganeti-testbed.sh up` made, if any. */
export function ganetiTestbed(): { name: string; url: string; user: string; password: string; node: string; cluster: string }[] {
  const file = process.env['SNF_GANETI_TESTBED'] ?? '/run/snf-ganeti-testbed.json';
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : [];
}

async function waitJob(driver: ComputeBackend, id: number): Promise<void> {
  let s = await driver.job(id);
  while (!isFinal(s.status)) s = await driver.waitForJobChange(id, s.status, 30);
  assert.equal(s.status, 'success', s.message);
}

export function driversUnderTest(label: string): DriverUnderTest[] {
  const prefix = `snf${label}${process.pid}-`;
  const fakeName = `sim-${label}-${process.pid}.fake`;
  const only = (c: Cyclades) => c.backends.list().then((b) => c.backends.driver(b[0]!));
  const drivers: DriverUnderTest[] = [{
    name: 'fake', settings: { 'cyclades.fake_job_ms': 30, 'cyclades.instance_prefix': prefix }, diskGiB: 10,
    addBackend: async (c) => { await c.backends.add({ clustername: fakeName, driver: 'fake' }); },
    failingFlavor: async (c) => {
      (await only(c) as FakeBackend).injectFault('OP_INSTANCE_CREATE', 'Simulated failure: not enough memory on node1');
      return Number((await c.flavors.list()).find((f) => f.cpu === 1)!.id);
    },
    removeBehindBack: async (c, name) => { assert.ok((await only(c) as FakeBackend).removeBehindBack(name)); },
    slowBuild: async (c, ms) => { (await only(c) as FakeBackend).slowDown('OP_INSTANCE_CREATE', ms); },
    addOrphan: async (c, name) => { (await only(c) as FakeBackend).addBehindBack(name); },
    instanceNames: async (c) => (await (await only(c)).listInstances()).map((i) => i.name),
    cleanUp: async () => undefined,
  }];
  const [cluster] = ganetiTestbed();
  if (cluster) {
    const url = new URL(cluster.url);
    drivers.push({
      name: `ganeti ${cluster.cluster}`, settings: { 'cyclades.instance_prefix': prefix }, diskGiB: 1,
      addBackend: async (c) => { await c.backends.add({ clustername: url.hostname, port: Number(url.port || 5080), driver: 'ganeti', username: cluster.user, password: cluster.password, insecure: true }); },
      failingFlavor: async (c) => {
        // A disk template the cluster does not enable: Ganeti accepts the job and fails it.
        const [f] = await c.flavors.create([1], [1024], [1], ['plain']);
        const [b] = await c.backends.list();
        await c.store.updateBackend(Number(b!.id), { disk_templates: JSON.stringify([...JSON.parse(b!.disk_templates) as string[], 'plain']) });
        return Number(f!.id);
      },
      removeBehindBack: async (c, name) => { const d = await only(c); await waitJob(d, await d.deleteInstance(name)); },
      addOrphan: async (c, name) => {
        const d = await only(c);
        await waitJob(d, await d.createInstance({ name, vcpus: 1, memoryMiB: 128, diskTemplate: 'diskless', disks: [], nics: [], os: 'snf-image+default', osparams: {}, osparamsSecret: {}, hvparams: {}, tags: [] }));
      },
      instanceNames: async (c) => (await (await only(c)).listInstances()).map((i) => i.name),
      cleanUp: async (c, prefix) => {
        const d = await only(c);
        const jobs = await Promise.all((await d.listInstances()).filter((i) => i.name.startsWith(prefix)).map((i) => d.deleteInstance(i.name)));
        for (const j of jobs) await waitJob(d, j).catch(() => undefined);
        // Networks go once their instances are gone: disconnected from every group, then removed.
        for (const n of (await d.listNetworks()).filter((x) => x.name.startsWith(prefix))) {
          for (const j of await d.disconnectNetwork(n.name)) await waitJob(d, j).catch(() => undefined);
          await waitJob(d, await d.removeNetwork(n.name)).catch(() => undefined);
        }
      },
    });
  } else if (required('ganeti')) {
    throw new Error('a Ganeti testbed is required (SNF_TEST_REQUIRE) but none is up: scripts/ganeti-testbed.sh up');
  }
  return drivers;
}
