import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, withAstakos, type TestNode } from '../test/harness.js';
import { storeUser, type StoreUser } from '../test/object-store.js';
import { memberProjects, registerImage, startComputeNode, waitForServer } from '../test/compute.js';
import { InProcessQuotaClient } from '../astakos/logic/quota-client.js';

/** What a project grants; the hidden totals (total_cpu, total_ram) are unlimited in every project. */
const RESOURCES = ['cyclades.vm', 'cyclades.cpu', 'cyclades.ram', 'cyclades.disk'];

describe('console, firewall profile and reassignment to a project', () => {
  let t: TestNode;
  let u: StoreUser;
  let image: string;
  let server: number;
  const api = (path: string, init: Parameters<typeof call>[1] = {}) => call(`${t.url}/cyclades/compute/v2.0${path}`, { token: u.token, ...init });
  const action = (json: unknown) => api(`/servers/${server}/action`, { json });

  before(async () => {
    t = await startComputeNode('actions');
    u = await storeUser(t, 'actions');
    image = await registerImage(t, u);
    const res = await api('/servers', { json: { server: { name: 'acts', imageRef: image, flavorRef: 1 } } });
    server = res.json.server.id;
    await waitForServer(t, u.token, server, ['ACTIVE']);
  });
  after(() => t.close());

  it('console gives VNC connection details while the server runs, and is refused when stopped', async () => {
    const c = await action({ console: { type: 'vnc' } });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.console.type, 'vnc');
    assert.ok(c.json.console.port > 0 && c.json.console.password.length >= 8);
    assert.equal((await action({ console: { type: 'spice' } })).status, 400);
    assert.equal((await action({ shutdown: {} })).status, 202);
    await waitForServer(t, u.token, server, ['STOPPED']);
    assert.equal((await action({ console: { type: 'vnc' } })).status, 409);
    assert.equal((await action({ start: {} })).status, 202);
    await waitForServer(t, u.token, server, ['ACTIVE']);
  });

  it('firewall profiles are checked and kept', async () => {
    assert.equal((await action({ firewallProfile: { profile: 'PROTECTED' } })).status, 202);
    assert.equal((await api(`/servers/${server}`)).json.server['SNF:firewall_profile'], 'PROTECTED');
    assert.equal((await action({ firewallProfile: { profile: 'OPEN' } })).status, 400);
    assert.equal((await action({ changePassword: { adminPass: 'x' } })).status, 400, 'Nova actions Synnefo lacks');
  });

  it('reassign moves everything the server holds to another project of the user, and only to one', async () => {
    const { project, stranger } = await memberProjects(t, u, RESOURCES);
    assert.equal((await action({ reassign: { project: stranger } })).status, 403, 'not a member of that project');

    const moved = await action({ reassign: { project } });
    assert.equal(moved.status, 200, moved.text);
    assert.equal((await api(`/servers/${server}`)).json.server.tenant_id, project);
    const q = await withAstakos(t, (a) => new InProcessQuotaClient('cyclades', a).userQuotas({ users: [u.uuid] }));
    assert.equal(q[u.uuid]![project]!['cyclades.vm']!.usage, 1);
    assert.equal(q[u.uuid]![project]!['cyclades.ram']!.usage, 512 * 2 ** 20);
    assert.equal(q[u.uuid]![u.uuid]!['cyclades.vm']!.usage, 0, 'the system project got it back');
    assert.equal(q[u.uuid]![u.uuid]!['cyclades.total_cpu']!.usage, 0);

    assert.equal((await api(`/servers/${server}`, { method: 'DELETE' })).status, 204);
    await waitForServer(t, u.token, server, ['DELETED']);
    const after = await withAstakos(t, (a) => new InProcessQuotaClient('cyclades', a).userQuotas({ users: [u.uuid] }));
    assert.equal(after[u.uuid]![project]!['cyclades.vm']!.usage, 0, 'deleting releases from the project it was moved to');
  });
});
