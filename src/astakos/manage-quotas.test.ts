import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chargeProvisions } from '../common/quota.js';
import { call, dbTargets, runCli, startTestNode, withAstakos, type TestNode, addService } from '../test/harness.js';
import { ASTAKOS_CLIENT, PENDING_APP } from './logic/projects.js';

for (const db of dbTargets()) {
  describe(`operator quota and project commands on ${db.name}`, () => {
    let t: TestNode;
    let user: { uuid: string; token: string };
    let admin: { uuid: string; token: string };
    const manage = (...args: string[]) => runCli('synnefo', ['manage', '--data-dir', t.dataDir, '--config-dir', t.configDir, ...args]);
    const account = () => `${t.url}/astakos/account/v1.0`;

    before(async () => {
      t = await startTestNode({ db, roles: ['astakos'] });
      await addService(t, 'widgets', 'widgets.w', 3);
      const made = await withAstakos(t, async (a) => {
        const u = await a.accounts.createUser({ email: 'ops-user@example.org', password: 'password1', active: true });
        const ad = await a.accounts.createUser({ email: 'ops-admin@example.org', password: 'password1', active: true, admin: true });
        return { user: { uuid: u.user.uuid, token: u.token }, admin: { uuid: ad.user.uuid, token: ad.token } };
      });
      user = made.user;
      admin = made.admin;
    });
    after(() => t.close());

    it("registering the compute and storage components brings their resources and every user's base quota", async () => {
      for (const component of ['cyclades', 'pithos']) {
        assert.equal((await manage('component-add', component, '--base-url', `${t.url}/${component}`, '--ui-url', `${t.url}/${component}/ui`)).code, 0);
        const exported = await manage('service-export', component);
        const file = `${t.dataDir}/${component}-services.json`;
        (await import('node:fs')).writeFileSync(file, exported.stdout);
        const imported = await manage('service-import', '--json', file);
        assert.equal(imported.code, 0, imported.stderr);
      }
      const q = await call(`${account()}/quotas`, { token: user.token });
      const mine = q.json[user.uuid];
      assert.equal(mine['cyclades.vm'].limit, 4);
      assert.equal(mine['cyclades.ram'].limit, 8 * 2 ** 30);
      assert.equal(mine['pithos.diskspace'].limit, 40 * 2 ** 30);
      assert.equal(mine['cyclades.total_ram'], undefined, 'total_ram is not visible in the API');
      const resources = (await call(`${account()}/resources`)).json;
      assert.deepEqual(resources['cyclades.disk'], { service: 'cyclades_compute', description: 'Virtual machine disk size', unit: 'bytes', ui_visible: true, api_visible: true });
    });

    it('lists resources with their defaults, and a new system default reaches existing users on request', async () => {
      const list = await manage('resource-list', '--output-format', 'json');
      assert.equal(list.code, 0, list.stderr);
      const w = (JSON.parse(list.stdout) as { name: string; system_default: string }[]).find((r) => r.name === 'widgets.w')!;
      assert.equal(w.system_default, '3');
      assert.equal((await manage('resource-modify', 'widgets.w', '--system-default', '4', '--update-existing')).code, 0);
      const q = await call(`${account()}/quotas`, { token: user.token });
      assert.equal(q.json[user.uuid]['widgets.w'].limit, 4);
      const bad = await manage('resource-modify', 'widgets.w', '--system-default', 'lots');
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /invalid quantity/);
    });

    it('quota-list shows holdings, and --overlimit only those above their limit', async () => {
      const client = t.node.context.clients.quota!('widgets');
      await client.issueCommission({ provisions: chargeProvisions(user.uuid, user.uuid, 'widgets.w', 3), autoAccept: true });
      assert.equal((await manage('resource-modify', 'widgets.w', '--system-default', '2', '--update-existing')).code, 0);
      const over = await manage('quota-list', '--overlimit', '--output-format', 'json');
      const rows = JSON.parse(over.stdout) as { holder: string; resource: string; usage: string; limit: string }[];
      assert.deepEqual(rows.filter((r) => r.resource === 'widgets.w').map((r) => [r.holder, r.usage, r.limit]), [[user.uuid, '3', '2']]);
      const all = JSON.parse((await manage('quota-list', '--user', 'ops-admin@example.org', '--output-format', 'json')).stdout) as { holder: string }[];
      assert.ok(all.length > 0 && all.every((r) => r.holder === admin.uuid));
      await client.issueCommission({ provisions: chargeProvisions(user.uuid, user.uuid, 'widgets.w', -3), autoAccept: true });
    });

    it('quota-verify finds a holding whose limit drifted and --fix restores it', async () => {
      assert.match((await manage('quota-verify')).stdout, /Everything in sync\./);
      await withAstakos(t, (a) => a.database.db.updateTable('holdings').set({ limit: 99 })
        .where('holder', '=', `user:${user.uuid}`).where('resource', '=', 'widgets.w').execute());
      const report = await manage('quota-verify', '--output-format', 'json');
      const rows = JSON.parse(report.stdout) as { holder: string; expected: number; actual: number }[];
      assert.deepEqual(rows.map((r) => [r.holder, r.expected, r.actual]), [[`user:${user.uuid}`, 2, 99]]);
      const fixed = await manage('quota-verify', '--fix');
      assert.equal(fixed.code, 0, fixed.stderr);
      assert.match(fixed.stdout, /Fixed 1 holdings/);
      assert.match((await manage('quota-verify')).stdout, /Everything in sync\./);
    });

    it('an operator approves an application and controls the project', async () => {
      const applied = await call(`${account()}/projects`, { token: user.token, json: { name: 'ops.example.org', end_date: '2099-01-01T00:00:00Z', resources: { 'widgets.w': { project_capacity: 4, member_capacity: 2 } } } });
      assert.equal(applied.status, 201, applied.text);
      const pending = await manage('project-list', '--pending', '--output-format', 'json');
      assert.deepEqual((JSON.parse(pending.stdout) as { id: string }[]).map((p) => p.id), [applied.json.id]);
      const approve = await manage('project-control', '--approve', String(applied.json.application));
      assert.equal(approve.code, 0, approve.stderr);
      assert.match(approve.stdout, /approved/);
      assert.match((await manage('project-control', '--suspend', applied.json.id, '-m', 'abuse')).stdout, /is suspended/);
      assert.match((await manage('project-show', applied.json.id)).stdout, /state\s+: suspended/);
      assert.match((await manage('project-control', '--unsuspend', applied.json.id)).stdout, /is active/);
      const twice = await manage('project-control', '--unsuspend', applied.json.id);
      assert.equal(twice.code, 2);
      assert.match(twice.stderr, /Cannot unsuspend a project that is active/);
      assert.notEqual((await manage('project-control', '--suspend', 'x', '--terminate', 'y')).code, 0);
    });

    it('a crash between issuing and accepting a commission is resolved by reconcile-commissions from the records', async () => {
      // A crash before the application was recorded: its charge must go back.
      const lost = await withAstakos(t, (a) => a.quotaholder.issue(ASTAKOS_CLIENT, chargeProvisions(user.uuid, user.uuid, PENDING_APP, 1), { name: 'astakos:application', force: true }));
      // A crash after the application was recorded but before its charge was accepted: the charge stands.
      const applied = await call(`${account()}/projects`, { token: user.token, json: { name: 'crash.example.org', end_date: '2099-01-01T00:00:00Z' } });
      const kept = await withAstakos(t, async (a) => {
        const serial = await a.quotaholder.issue(ASTAKOS_CLIENT, chargeProvisions(user.uuid, user.uuid, PENDING_APP, 1), { name: 'astakos:application', force: true });
        await a.database.db.updateTable('project_applications').set({ serial }).where('id', '=', applied.json.application).execute();
        return serial;
      });
      const listed = JSON.parse((await manage('commission-list', '--output-format', 'json')).stdout) as { serial: number }[];
      assert.deepEqual(listed.map((c) => c.serial).sort(), [lost, kept].sort());
      assert.match((await manage('commission-show', String(lost))).stdout, /astakos\.pending_app 1/);

      const report = JSON.parse((await manage('reconcile-commissions', '--older-than', '0', '--output-format', 'json')).stdout) as { serial: number; decision: string; done: boolean }[];
      assert.deepEqual(report.map((r) => [r.serial, r.decision, r.done]).sort(), [[lost, 'reject', false], [kept, 'accept', false]].sort());
      assert.equal((await manage('reconcile-commissions', '--older-than', '0', '--fix')).code, 0);
      assert.match((await manage('commission-list')).stdout, /^serial/);
      assert.equal(JSON.parse((await manage('commission-list', '--output-format', 'json')).stdout).length, 0);
      const pendingApps = await withAstakos(t, (a) => a.quotas.ofUsers([user.uuid], { resources: [PENDING_APP] }));
      // Two recorded applications (ops. approved earlier, so released; crash. pending + its extra accepted charge).
      assert.equal(pendingApps[user.uuid]![user.uuid]![PENDING_APP]!.pending, 0);
    });
  });
}
