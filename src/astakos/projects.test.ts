import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chargeProvisions, QuotaError, reassignProvisions } from '../common/quota.js';
import { call, dbTargets, startTestNode, withAstakos, type TestNode, addService } from '../test/harness.js';
import { PENDING_APP } from './logic/projects.js';

const ACCOUNT = '/astakos/account/v1.0';
const W = 'widgets.w';
/** The widgets a user may hold in their system project. */
const BASE = 3;
const inAMonth = () => new Date(Date.now() + 30 * 86_400_000).toISOString();

interface User { uuid: string; token: string; email: string }

let seq = 0;


const message = (res: { json?: any }) => (Object.values(res.json ?? {})[0] as { message?: string } | undefined)?.message;

for (const db of dbTargets()) describe(`projects on ${db.name}`, () => {
  let t: TestNode;
  before(async () => {
    t = await startTestNode({ db });
    await addService(t, 'widgets', W, BASE);
  });
  after(async () => { await t?.close(); });

  const api = (path: string, who: User, init: { method?: string; json?: unknown } = {}) => call(`${t.url}${ACCOUNT}${path}`, { token: who.token, ...init });
  const widgets = () => t.node.context.clients.quota!('widgets');

  async function user(opts: { admin?: boolean } = {}): Promise<User> {
    const email = `projects-${++seq}-${Date.now()}@example.org`;
    const made = await withAstakos(t, (a) => a.accounts.createUser({ email, password: 'a-password-1', active: true, ...(opts.admin ? { admin: true } : {}) }));
    return { uuid: made.user.uuid, token: made.token, email };
  }

  /** An application body with a unique domain-style name; `extra` overrides. */
  const spec = (extra: Record<string, unknown> = {}) => ({ name: `lab-${++seq}.example.org`, end_date: inAMonth(), ...extra });

  async function apply(owner: User, extra: Record<string, unknown> = {}): Promise<{ id: string; application: number }> {
    const res = await api('/projects', owner, { json: spec(extra) });
    assert.equal(res.status, 201, res.text);
    return res.json;
  }

  const act = (project: string, who: User, action: string, args: Record<string, unknown> = {}) => api(`/projects/${project}/action`, who, { json: { [action]: args } });

  async function approve(admin: User, project: string, application: number): Promise<void> {
    const res = await act(project, admin, 'approve', { app_id: application });
    assert.equal(res.status, 200, res.text);
  }

  /** An active project of `owner`, approved by `admin`. */
  async function project(owner: User, admin: User, extra: Record<string, unknown> = {}): Promise<string> {
    const applied = await apply(owner, extra);
    await approve(admin, applied.id, applied.application);
    return applied.id;
  }

  const show = (project: string, who: User) => api(`/projects/${project}`, who);
  const join = (project: string, who: User) => api('/projects/memberships', who, { json: { join: { project } } });
  const enroll = (project: string, owner: User, email: string) => api('/projects/memberships', owner, { json: { enroll: { project, user: email } } });
  const membershipAction = (id: number, who: User, action: string) => api(`/projects/memberships/${id}/action`, who, { json: { [action]: '' } });
  const membership = async (id: number, who: User) => {
    const res = await api(`/projects/memberships/${id}`, who);
    assert.equal(res.status, 200, res.text);
    return res.json as { id: number; user: string; project: string; state: string; allowed_actions: string[] };
  };

  async function member(project: string, owner: User): Promise<User & { membership: number }> {
    const u = await user();
    const res = await enroll(project, owner, u.email);
    assert.equal(res.status, 200, res.text);
    return { ...u, membership: res.json.id };
  }

  /** The user's quota for widgets in a project, as GET /quotas shows it (undefined when the project is not listed). */
  async function quota(who: User, project: string) {
    const res = await api('/quotas', who);
    assert.equal(res.status, 200, res.text);
    return res.json[project]?.[W] as { limit: number; usage: number; pending: number; project_limit: number; project_usage: number; project_pending: number } | undefined;
  }

  /** The user's quota for widgets in a project, as the widgets service reads it. */
  async function serviceQuota(who: User, project: string) {
    return (await widgets().userQuotas({ users: [who.uuid], projects: [project] }))[who.uuid]?.[project]?.[W];
  }

  const charge = (who: User, project: string, quantity: number) =>
    widgets().issueCommission({ name: 'widgets: test', provisions: chargeProvisions(who.uuid, project, W, quantity), autoAccept: true });

  async function refused(who: User, project: string, quantity: number): Promise<QuotaError> {
    try {
      await charge(who, project, quantity);
    } catch (err) {
      assert.ok(err instanceof QuotaError, String(err));
      return err;
    }
    assert.fail(`charging ${quantity} to ${project} was accepted`);
  }

  /** How many applications the user has pending, by their `astakos.pending_app` usage. */
  const pendingApps = async (who: User) => {
    const q = await withAstakos(t, (a) => a.quotas.ofUsers([who.uuid], { projects: [who.uuid], resources: [PENDING_APP] }));
    return q[who.uuid]![who.uuid]![PENDING_APP]!.usage;
  };
  const applicationState = (id: number) => withAstakos(t, async (a) => (await a.projects.application(id))!.state);

  describe('applications', () => {
    it('a user applies for a project: it waits uninitialized, counts as a pending application, and only its owner and administrators see the application', async () => {
      const owner = await user();
      const stranger = await user();
      const admin = await user({ admin: true });
      const res = await api('/projects', owner, { json: spec({ description: 'a lab', resources: { [W]: { project_capacity: 10, member_capacity: 4 } } }) });
      assert.equal(res.status, 201, res.text);
      assert.equal(typeof res.json.id, 'string');
      assert.ok(Number.isSafeInteger(res.json.application));
      assert.equal(await pendingApps(owner), 1);

      const seen = await show(res.json.id, owner);
      assert.equal(seen.status, 200, seen.text);
      assert.equal(seen.json.state, 'uninitialized');
      assert.equal(seen.json.owner, owner.uuid);
      assert.equal(seen.json.system_project, false);
      assert.equal(seen.json.last_application.id, res.json.application);
      assert.equal(seen.json.last_application.state, 'pending');
      assert.equal(seen.json.last_application.applicant, owner.uuid);
      assert.deepEqual(seen.json.last_application.resources, { [W]: { project_capacity: 10, member_capacity: 4 } });

      const hidden = await show(res.json.id, stranger);
      assert.equal(hidden.status, 403, hidden.text);
      const byAdmin = await show(res.json.id, admin);
      assert.equal(byAdmin.status, 200, byAdmin.text);
      assert.equal(byAdmin.json.last_application.id, res.json.application);
    });

    it('an application with bad fields is refused with 400 and charges nothing', async () => {
      const owner = await user();
      const bad: [string, Record<string, unknown>][] = [
        ['a name not in domain format', spec({ name: 'my project' })],
        ['no name', { end_date: inAMonth() }],
        ['no end date', { name: `nodate-${++seq}.example.org` }],
        ['an end date in the past', spec({ end_date: '2001-01-01T00:00:00Z' })],
        ['an unknown resource', spec({ resources: { 'gadgets.g': { project_capacity: 1, member_capacity: 1 } } })],
        ['a member capacity above the project capacity', spec({ resources: { [W]: { project_capacity: 2, member_capacity: 3 } } })],
        ['an unknown join policy', spec({ join_policy: 'sometimes' })],
        ['an unknown leave policy', spec({ leave_policy: 'never' })],
      ];
      for (const [what, body] of bad) {
        const res = await api('/projects', owner, { json: body });
        assert.equal(res.status, 400, `${what}: ${res.text}`);
        assert.ok(res.json.badRequest, what);
      }
      assert.equal(message(await api('/projects', owner, { json: { end_date: inAMonth() } })), 'Name missing.');
      assert.equal(message(await api('/projects', owner, { json: spec({ name: 'my project' }) })), 'Project name should be in domain format');
      assert.equal(await pendingApps(owner), 0);
    });

    it('a user with two pending applications cannot file a third until one is resolved', async () => {
      const owner = await user();
      const first = await apply(owner);
      await apply(owner);
      const third = await api('/projects', owner, { json: spec() });
      assert.equal(third.status, 409, third.text);
      assert.equal(message(third), 'You have reached the maximum number of pending project applications: 2.');
      assert.equal(await pendingApps(owner), 2, 'the refused application charged nothing');

      assert.equal((await act(first.id, owner, 'cancel', { app_id: first.application })).status, 200);
      assert.equal(await pendingApps(owner), 1);
      await apply(owner);
    });

    it('an administrator approves an application and the project becomes active with its grants', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const applied = await apply(owner, { join_policy: 'auto', resources: { [W]: { project_capacity: 10, member_capacity: 4 } } });

      const byOwner = await act(applied.id, owner, 'approve', { app_id: applied.application });
      assert.equal(byOwner.status, 403, byOwner.text);
      const wrongApp = await act(applied.id, admin, 'approve', { app_id: applied.application + 1000 });
      assert.equal(wrongApp.status, 409, wrongApp.text);

      await approve(admin, applied.id, applied.application);
      const seen = await show(applied.id, owner);
      assert.equal(seen.json.state, 'active');
      assert.equal(seen.json.join_policy, 'auto');
      assert.equal(seen.json.resources[W].project_capacity, 10);
      assert.equal(seen.json.resources[W].member_capacity, 4);
      assert.equal(seen.json.last_application.state, 'approved');
      assert.equal(await pendingApps(owner), 0, 'approval releases the pending application');

      const again = await act(applied.id, admin, 'approve', { app_id: applied.application });
      assert.equal(again.status, 409, 'an approved application is no longer pending');
      const byStranger = await show(applied.id, await user());
      assert.equal(byStranger.status, 200, 'an active public project is visible to anyone');
      assert.equal(byStranger.json.last_application, undefined, 'but not its application');
    });

    it('a denied application, once dismissed by its applicant, leaves no project behind', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const applied = await apply(owner);
      assert.equal((await act(applied.id, owner, 'deny', { app_id: applied.application })).status, 403);

      const denied = await act(applied.id, admin, 'deny', { app_id: applied.application, reason: 'not now' });
      assert.equal(denied.status, 200, denied.text);
      assert.equal((await show(applied.id, owner)).json.last_application.state, 'denied');
      assert.equal(await pendingApps(owner), 0);

      const dismissed = await act(applied.id, owner, 'dismiss', { app_id: applied.application });
      assert.equal(dismissed.status, 200, dismissed.text);
      assert.equal((await show(applied.id, owner)).status, 404);
      assert.equal((await show(applied.id, admin)).status, 404);
      assert.equal(await pendingApps(owner), 0, 'dismissing releases nothing more');
    });

    it('the applicant cancels a pending application and the project is gone', async () => {
      const owner = await user();
      const applied = await apply(owner);
      const cancelled = await act(applied.id, owner, 'cancel', { app_id: applied.application });
      assert.equal(cancelled.status, 200, cancelled.text);
      assert.equal(await applicationState(applied.application), 'cancelled');
      assert.equal(await pendingApps(owner), 0);
      assert.equal((await show(applied.id, owner)).status, 404);
    });
  });

  describe('memberships', () => {
    it('with an auto join policy a user is a member at once, and with an auto leave policy leaves at once', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { join_policy: 'auto', leave_policy: 'auto' });
      const u = await user();

      const joined = await join(lab, u);
      assert.equal(joined.status, 200, joined.text);
      const m = await membership(joined.json.id, u);
      assert.equal(m.user, u.uuid);
      assert.equal(m.project, lab);
      assert.equal(m.state, 'accepted');
      assert.deepEqual(m.allowed_actions, ['leave']);
      assert.deepEqual((await membership(joined.json.id, owner)).allowed_actions, ['remove']);
      assert.equal((await join(lab, u)).status, 409, 'a member cannot join twice');

      const left = await membershipAction(joined.json.id, u, 'leave');
      assert.equal(left.status, 200, left.text);
      assert.equal((await membership(joined.json.id, u)).state, 'removed');
    });

    it('with a moderated policy the owner accepts or rejects requests, and leaving needs the owner too', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { join_policy: 'moderated', leave_policy: 'moderated' });
      const alice = await user();
      const bob = await user();

      const asked = await join(lab, alice);
      assert.equal(asked.status, 200, asked.text);
      assert.equal((await membership(asked.json.id, alice)).state, 'requested');
      assert.deepEqual((await membership(asked.json.id, alice)).allowed_actions, ['cancel']);
      const listed = await api(`/projects/memberships?project=${lab}`, owner);
      assert.equal(listed.status, 200, listed.text);
      assert.deepEqual(listed.json.map((m: { user: string; state: string; allowed_actions: string[] }) => [m.user, m.state, m.allowed_actions]),
        [[alice.uuid, 'requested', ['accept', 'reject']]]);
      assert.equal((await membershipAction(asked.json.id, alice, 'accept')).status, 403, 'a member cannot accept themselves');

      assert.equal((await membershipAction(asked.json.id, owner, 'accept')).status, 200);
      assert.equal((await membership(asked.json.id, owner)).state, 'accepted');

      const bobAsked = await join(lab, bob);
      assert.equal((await membershipAction(bobAsked.json.id, owner, 'reject')).status, 200);
      assert.equal((await membership(bobAsked.json.id, bob)).state, 'rejected');
      assert.equal((await membershipAction(bobAsked.json.id, owner, 'accept')).status, 409, 'a rejected request cannot be accepted');

      assert.equal((await membershipAction(asked.json.id, alice, 'leave')).status, 200);
      assert.equal((await membership(asked.json.id, alice)).state, 'leave_requested');
      assert.ok(await quota(alice, lab), 'a member asking to leave is still a member');
    });

    it('a project with a closed join policy takes no one', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { join_policy: 'closed' });
      const u = await user();
      const joined = await join(lab, u);
      assert.equal(joined.status, 409, joined.text);
      assert.equal(message(joined), "The Project's member join policy is closed.");
      const enrolled = await enroll(lab, owner, u.email);
      assert.equal(enrolled.status, 409, enrolled.text);
      assert.equal((await join(u.uuid, u)).status, 409, 'nobody joins a system project');
    });

    it('a member cannot leave a project with a closed leave policy', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { leave_policy: 'closed' });
      const m = await member(lab, owner);
      assert.deepEqual((await membership(m.membership, m)).allowed_actions, []);
      const left = await membershipAction(m.membership, m, 'leave');
      assert.equal(left.status, 409, left.text);
      assert.equal(message(left), "The Project's member leave policy is closed.");
      assert.equal((await membership(m.membership, m)).state, 'accepted');
    });

    it('the owner enrolls a user by email, who is a member at once; others cannot enroll', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin);
      const u = await user();
      const stranger = await user();

      assert.equal((await enroll(lab, stranger, u.email)).status, 403);
      const enrolled = await enroll(lab, owner, u.email);
      assert.equal(enrolled.status, 200, enrolled.text);
      assert.equal((await membership(enrolled.json.id, u)).state, 'accepted');
      assert.equal((await enroll(lab, owner, u.email)).status, 409, 'already a member');

      const unknown = await enroll('00000000-0000-4000-8000-000000000000', owner, u.email);
      assert.equal(unknown.status, 409, unknown.text);
    });

    it('a full project takes no more members', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { join_policy: 'moderated', max_members: 1 });
      await member(lab, owner);

      const late = await user();
      assert.equal((await enroll(lab, owner, late.email)).status, 409);
      const asked = await join(lab, late);
      assert.equal(asked.status, 200, asked.text);
      const accepted = await membershipAction(asked.json.id, owner, 'accept');
      assert.equal(accepted.status, 409, accepted.text);
      assert.equal((await membership(asked.json.id, late)).state, 'requested');
    });

    it('in a full project with an auto join policy a join stays a request', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { join_policy: 'auto', max_members: 1 });
      await member(lab, owner);
      const late = await user();
      const asked = await join(lab, late);
      assert.equal(asked.status, 200, asked.text);
      assert.equal((await membership(asked.json.id, late)).state, 'requested');
    });

    it('a membership is private to its member, the project owner and administrators', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin);
      const m = await member(lab, owner);
      const stranger = await user();

      const hidden = await api(`/projects/memberships/${m.membership}`, stranger);
      assert.equal(hidden.status, 403, hidden.text);
      assert.equal((await api(`/projects/memberships/${m.membership}/action`, stranger, { json: { remove: '' } })).status, 403);
      assert.ok(!(await api('/projects/memberships', stranger)).json.some((x: { project: string }) => x.project === lab));
      assert.equal((await membership(m.membership, admin)).user, m.uuid);
      assert.deepEqual((await api('/projects/memberships', m)).json.map((x: { id: number }) => x.id).includes(m.membership), true);
      assert.equal((await api('/projects/memberships/999999', m)).status, 404);
    });
  });

  describe('quotas in projects', () => {
    it('a project grants extra quota to its members', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { resources: { [W]: { project_capacity: 10, member_capacity: 4 } } });
      const m = await member(lab, owner);

      assert.deepEqual(await quota(m, lab), { limit: 4, usage: 0, pending: 0, project_limit: 10, project_usage: 0, project_pending: 0 });
      assert.equal((await quota(m, m.uuid))?.limit, BASE, 'the system project is untouched');

      await charge(m, lab, 4);
      assert.deepEqual(await quota(m, lab), { limit: 4, usage: 4, pending: 0, project_limit: 10, project_usage: 4, project_pending: 0 });
      assert.equal((await refused(m, lab, 1)).status, 413, 'the member share is used up');
      assert.equal((await quota(m, m.uuid))?.usage, 0, 'quota is not drawn from other projects');
    });

    it('the project-wide limit caps all members together', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { resources: { [W]: { project_capacity: 8, member_capacity: 5 } } });
      const a = await member(lab, owner);
      const b = await member(lab, owner);

      await charge(a, lab, 5);
      await charge(b, lab, 3);
      const over = await refused(b, lab, 1);
      assert.equal(over.status, 413);
      assert.equal(over.data['name'], 'NoCapacityError');
      assert.deepEqual(over.data['provision'], { holder: `project:${lab}`, source: null, resource: W, quantity: 1 });
      assert.deepEqual(await quota(b, lab), { limit: 5, usage: 3, pending: 0, project_limit: 8, project_usage: 8, project_pending: 0 });

      await charge(a, lab, -2);
      await charge(b, lab, 2);
      assert.equal((await quota(b, lab))?.usage, 5);
    });

    it('a reassigned resource moves its usage from the system project to the project', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { resources: { [W]: { project_capacity: 10, member_capacity: 5 } } });
      const m = await member(lab, owner);
      await charge(m, m.uuid, 2);

      await widgets().issueCommission({ name: 'widgets: reassign', provisions: reassignProvisions(m.uuid, m.uuid, lab, { [W]: 2 }), autoAccept: true });
      assert.equal((await quota(m, m.uuid))?.usage, 0);
      assert.equal((await quota(m, m.uuid))?.project_usage, 0);
      assert.equal((await quota(m, lab))?.usage, 2);
      assert.equal((await quota(m, lab))?.project_usage, 2);
    });

    it('terminating a project stops further charges to it, keeps its usage visible and releasable, and reinstating restores it', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { resources: { [W]: { project_capacity: 10, member_capacity: 5 } } });
      const m = await member(lab, owner);
      await charge(m, lab, 3);

      assert.equal((await act(lab, owner, 'terminate')).status, 403, 'only administrators terminate');
      const terminated = await act(lab, admin, 'terminate', { reason: 'ended' });
      assert.equal(terminated.status, 200, terminated.text);
      assert.equal((await show(lab, owner)).json.state, 'terminated');

      const over = await refused(m, lab, 1);
      assert.equal(over.status, 413);
      assert.equal(over.data['limit'], 0);
      assert.deepEqual(await quota(m, lab), { limit: 0, usage: 3, pending: 0, project_limit: 0, project_usage: 3, project_pending: 0 });
      await charge(m, lab, -3);
      assert.equal((await quota(m, lab))?.usage, 0);
      assert.equal((await act(lab, admin, 'terminate')).status, 409, 'already terminated');

      const reinstated = await act(lab, admin, 'reinstate');
      assert.equal(reinstated.status, 200, reinstated.text);
      assert.deepEqual(await quota(m, lab), { limit: 5, usage: 0, pending: 0, project_limit: 10, project_usage: 0, project_pending: 0 });
      await charge(m, lab, 1);
    });

    it('a suspended project takes no charges until unsuspended', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { resources: { [W]: { project_capacity: 10, member_capacity: 5 } } });
      const m = await member(lab, owner);
      await charge(m, lab, 2);

      assert.equal((await act(lab, owner, 'suspend')).status, 403);
      assert.equal((await act(lab, admin, 'suspend')).status, 200);
      assert.equal((await show(lab, admin)).json.state, 'suspended');
      assert.equal((await refused(m, lab, 1)).data['limit'], 0);
      assert.equal((await quota(m, lab))?.usage, 2);
      assert.equal((await act(lab, admin, 'suspend')).status, 409, 'already suspended');

      assert.equal((await act(lab, owner, 'unsuspend')).status, 403);
      assert.equal((await act(lab, admin, 'unsuspend')).status, 200);
      await charge(m, lab, 3);
      assert.deepEqual(await quota(m, lab), { limit: 5, usage: 5, pending: 0, project_limit: 10, project_usage: 5, project_pending: 0 });
    });

    it('a system project cannot be terminated', async () => {
      const admin = await user({ admin: true });
      const u = await user();
      const res = await act(u.uuid, admin, 'terminate');
      assert.equal(res.status, 409, res.text);
      assert.equal((await show(u.uuid, u)).json.state, 'active');
      assert.equal((await show(u.uuid, u)).json.system_project, true);
      await charge(u, u.uuid, 1);
    });

    it('removing a member stops their charges', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { resources: { [W]: { project_capacity: 10, member_capacity: 5 } } });
      const m = await member(lab, owner);
      await charge(m, lab, 2);

      assert.equal((await membershipAction(m.membership, m, 'remove')).status, 403, 'a member cannot remove themselves');
      const removed = await membershipAction(m.membership, owner, 'remove');
      assert.equal(removed.status, 200, removed.text);
      assert.equal((await membership(m.membership, m)).state, 'removed');
      assert.deepEqual(await serviceQuota(m, lab), { limit: 0, usage: 2, pending: 0, project_limit: 10, project_usage: 2, project_pending: 0 });
      assert.equal(await quota(m, lab), undefined, 'a removed member no longer lists the project');
      assert.equal((await refused(m, lab, 1)).data['limit'], 0);
      await charge(m, lab, -2);
    });
  });

  describe('listing projects', () => {
    it('a user lists the projects they own or belong to, and narrows by mode, owner and name', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const mine = await project(owner, admin);
      const pending = await apply(owner);
      const other = await user();
      const theirs = await project(other, admin, { name: `theirs-${++seq}.example.org` });
      const hidden = await project(other, admin, { private: true });
      const joined = await enroll(theirs, other, owner.email);
      assert.equal(joined.status, 200, joined.text);

      const ids = async (query: string) => {
        const res = await api(`/projects${query}`, owner);
        assert.equal(res.status, 200, res.text);
        return (res.json as { id: string }[]).map((p) => p.id);
      };
      assert.deepEqual(new Set(await ids('')), new Set([owner.uuid, mine, pending.id, theirs]));
      assert.deepEqual(new Set(await ids('?mode=default')), new Set(await ids('')));
      assert.deepEqual(new Set(await ids('?mode=member')), new Set([owner.uuid, theirs]), 'active memberships only');
      const active = await ids('?mode=active');
      assert.ok(active.includes(mine) && active.includes(theirs) && !active.includes(hidden) && !active.includes(pending.id));
      assert.deepEqual(new Set(await ids(`?owner=${owner.uuid}`)), new Set([mine, pending.id]));
      const theirName = (await show(theirs, other)).json.name as string;
      assert.deepEqual(await ids(`?name=${theirName}`), [theirs]);
      assert.deepEqual(await ids('?state=uninitialized'), [pending.id]);

      const badMode = await api('/projects?mode=everything', owner);
      assert.equal(badMode.status, 400, badMode.text);
      assert.equal(message(badMode), "Unrecognized mode 'everything'.");
      const badState = await api('/projects?state=sleeping', owner);
      assert.equal(badState.status, 400, badState.text);
      assert.equal(message(badState), 'Unrecognized state sleeping');
    });
  });

  describe('modifying projects', () => {
    it('the owner modifies a project by a new application, which replaces a pending one and applies on approval', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin, { resources: { [W]: { project_capacity: 4, member_capacity: 2 } } });
      const m = await member(lab, owner);

      const first = await api(`/projects/${lab}`, owner, { method: 'PUT', json: { description: 'bigger', resources: { [W]: { project_capacity: 6, member_capacity: 3 } } } });
      assert.equal(first.status, 201, first.text);
      assert.equal(first.json.id, lab);
      assert.equal(await pendingApps(owner), 1);
      const seen = await show(lab, owner);
      assert.equal(seen.json.state, 'active', 'the project runs on while the change is pending');
      assert.equal(seen.json.last_application.id, first.json.application);
      assert.equal(seen.json.resources[W].project_capacity, 4);

      const second = await api(`/projects/${lab}`, owner, { method: 'PUT', json: { resources: { [W]: { project_capacity: 12, member_capacity: 6 } } } });
      assert.equal(second.status, 201, second.text);
      assert.equal(await applicationState(first.json.application), 'replaced');
      assert.equal(await pendingApps(owner), 1, 'the replaced application no longer counts');
      assert.equal((await act(lab, admin, 'approve', { app_id: first.json.application })).status, 409, 'a replaced application cannot be approved');

      await approve(admin, lab, second.json.application);
      assert.equal(await pendingApps(owner), 0);
      const after = await show(lab, owner);
      assert.deepEqual(after.json.resources[W], { project_capacity: 12, member_capacity: 6 });
      assert.equal(after.json.description, '', 'the replaced application\'s description was not applied');
      assert.deepEqual(await quota(m, lab), { limit: 6, usage: 0, pending: 0, project_limit: 12, project_usage: 0, project_pending: 0 });
    });

    it('only the owner modifies a project, and only once it is initialized', async () => {
      const owner = await user();
      const admin = await user({ admin: true });
      const lab = await project(owner, admin);
      const stranger = await user();
      const byStranger = await api(`/projects/${lab}`, stranger, { method: 'PUT', json: { description: 'mine now' } });
      assert.equal(byStranger.status, 403, byStranger.text);

      const pending = await apply(owner);
      const early = await api(`/projects/${pending.id}`, owner, { method: 'PUT', json: { description: 'too soon' } });
      assert.equal(early.status, 409, early.text);
      assert.equal(message(early), 'Cannot modify an uninitialized project.');
      assert.equal(await pendingApps(owner), 1, 'refused modifications charge nothing');
    });
  });
});
