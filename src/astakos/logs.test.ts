import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import type { ManageContext } from '../node/manage.js';
import { call, dbTargets, startTestNode, withAstakos, type TestNode } from '../test/harness.js';
import { astakosCommands } from './manage.js';

const UI = '/astakos/ui';
const TOKENS = '/astakos/identity/v2.0/tokens';
const ACCOUNT = '/astakos/account/v1.0';

/** What a scenario handled: secrets that must never be logged, and codes that may appear only inside logged mail. */
class Secrets {
  readonly never = new Set<string>();
  readonly mailOnly = new Set<string>();
  add(...values: (string | undefined)[]): void {
    for (const v of values) { assert.ok(v, 'a secret the scenario expected is missing'); this.never.add(v); }
  }

  assertAbsentFrom(t: TestNode): void {
    const text = t.logs.text();
    assert.ok(text.length > 0, 'the node logged something');
    for (const s of this.never) assert.ok(!text.includes(s), `a password or token reached the log: ${s}`);
    for (const code of this.mailOnly) {
      const lines = t.logs.lines.filter((l) => l.includes(code));
      assert.ok(lines.length > 0, 'the mail with the code was logged');
      for (const line of lines) assert.match(JSON.parse(line).msg as string, /^mail to /, `a code reached the log outside its mail: ${line}`);
    }
  }
}

let seq = 0;
const newEmail = (who: string) => `${who}-${++seq}-${Date.now()}@example.org`;

async function newestMailCode(t: TestNode, email: string, pattern: RegExp): Promise<string> {
  const mails = await withAstakos(t, (a) => a.web.listMail(email));
  const m = pattern.exec(mails.at(-1)?.body ?? '');
  assert.ok(m, `no mail to ${email} matching ${pattern}`);
  return m[1]!;
}

function sessionCookie(res: { headers: Headers }): string {
  const m = /snf_session=([^;]*)/.exec(res.headers.get('set-cookie') ?? '');
  assert.ok(m, 'a session cookie was set');
  return m[1]!;
}

/** Runs an admin command (`synnefo manage ...`) against the node, logging to its log; returns what it printed. */
async function manage(t: TestNode, ...args: string[]): Promise<string[]> {
  const printed: string[] = [];
  const c = t.node.context;
  const ctx: ManageContext = { settings: c.settings, log: c.log, dataDir: c.dataDir, secretKey: c.secretKey, baseUrl: c.baseUrl, print: (s) => printed.push(s) };
  const program = new Command().exitOverride();
  astakosCommands(program, (action) => async (...a: any[]) => action(ctx, ...a));
  await program.parseAsync(args, { from: 'user' });
  return printed;
}

for (const db of dbTargets()) describe(`the logs on ${db.name}`, () => {
  let t: TestNode;
  before(async () => { t = await startTestNode({ db }); });
  after(async () => { await t?.close(); });

  it('no password or token appears in the logs of a user\'s whole life through the web and identity APIs', async () => {
    const secrets = new Secrets();
    const email = newEmail('life');
    const [first, second, third] = ['first-Pa55word', 'second-Pa55word', 'third-Pa55word'];
    const wrong = ['wrong-Pa55word-1', 'wrong-Pa55word-2', 'wrong-Pa55word-3'];
    secrets.add(first, second, third, ...wrong);

    const signup = await call(`${t.url}${UI}/signup`, { json: { email, password: first } });
    assert.equal(signup.status, 202, signup.text);
    const uuid = signup.json.uuid as string;
    const verification = await newestMailCode(t, email, /verify\?code=([A-Za-z0-9_-]+)/);
    secrets.mailOnly.add(verification);
    assert.equal((await call(`${t.url}${UI}/verify?code=${verification}`)).status, 200);
    assert.equal((await call(`${t.url}${UI}/verify?code=${verification}`)).status, 404);

    assert.equal((await call(`${t.url}${UI}/login`, { json: { email, password: wrong[0] } })).status, 401);
    const login = await call(`${t.url}${UI}/login`, { json: { email, password: first } });
    assert.equal(login.status, 200, login.text);
    const cookie = sessionCookie(login);
    const token = login.json.token as string;
    secrets.add(cookie, token);
    const session = { headers: { cookie: `snf_session=${cookie}`, 'content-type': 'application/json' } };

    // The token travels every way clients send it: body, header, query, path.
    assert.equal((await call(`${t.url}${TOKENS}`, { json: { auth: { token: { id: token } } } })).status, 200);
    assert.equal((await call(`${t.url}${TOKENS}`, { json: { auth: { passwordCredentials: { username: uuid, password: token } } } })).status, 200);
    assert.equal((await call(`${t.url}${TOKENS}`, { json: { auth: { passwordCredentials: { username: email, password: first } } } })).status, 200);
    assert.equal((await call(`${t.url}${TOKENS}`, { json: { auth: { passwordCredentials: { username: email, password: wrong[1] } } } })).status, 401);
    assert.equal((await call(`${t.url}${ACCOUNT}/user_catalogs`, { token, json: { uuids: [uuid] } })).status, 200);
    assert.equal((await call(`${t.url}${ACCOUNT}/user_catalogs?X-Auth-Token=${token}`, { json: { uuids: [uuid] } })).status, 200);
    assert.equal((await call(`${t.url}${ACCOUNT}/nothing?X-Auth-Token=${token}`)).status, 400);
    assert.equal((await call(`${t.url}${TOKENS}/${token}`)).status, 200);
    assert.equal((await call(`${t.url}${TOKENS}/${token}?belongsTo=${uuid}`)).status, 200);
    assert.equal((await call(`${t.url}${TOKENS}/${token}/extra`)).status, 400);
    assert.equal((await call(`${t.url}${TOKENS}/${token}`, { method: 'POST' })).status, 405);

    const renewed = await call(`${t.url}${UI}/profile/token`, { method: 'POST', ...session });
    assert.equal(renewed.status, 200, renewed.text);
    secrets.add(renewed.json.token);
    assert.equal((await call(`${t.url}${TOKENS}`, { json: { auth: { token: { id: token } } } })).status, 401);

    const refused = await call(`${t.url}${UI}/password/change`, { json: { old_password: wrong[2], new_password: second }, ...session });
    assert.equal(refused.status, 403, refused.text);
    const changed = await call(`${t.url}${UI}/password/change`, { json: { old_password: first, new_password: second }, ...session });
    assert.equal(changed.status, 200, changed.text);
    secrets.add(changed.json.token);

    assert.equal((await call(`${t.url}${UI}/password/reset`, { json: { email } })).status, 202);
    const reset = await newestMailCode(t, email, /password\/reset\?code=([A-Za-z0-9_-]+)/);
    secrets.mailOnly.add(reset);
    assert.equal((await call(`${t.url}${UI}/password/reset/confirm`, { json: { code: reset, password: third } })).status, 204);
    assert.equal((await call(`${t.url}${UI}/password/reset/confirm`, { json: { code: reset, password: third } })).status, 400);

    await withAstakos(t, (a) => a.users.updateUser(uuid, { token_expires_at: Date.now() - 1000 }));
    const fresh = await call(`${t.url}${TOKENS}`, { json: { auth: { passwordCredentials: { username: email, password: third } } } });
    assert.equal(fresh.status, 200, fresh.text);
    secrets.add(fresh.json.access.token.id);

    const again = await call(`${t.url}${UI}/login`, { json: { email, password: third } });
    secrets.add(sessionCookie(again));
    assert.equal((await call(`${t.url}${UI}/logout`, { method: 'POST', headers: { cookie: `snf_session=${sessionCookie(again)}`, 'content-type': 'application/json' } })).status, 204);

    secrets.assertAbsentFrom(t);
  });

  it('no password or token appears in the logs when an operator manages users, components and their tokens', async () => {
    const secrets = new Secrets();
    const email = newEmail('operated');
    const [initial, changed] = ['operator-set-Pa55', 'operator-changed-Pa55'];
    secrets.add(initial, changed);

    const [uuid] = await manage(t, 'user-add', '--email', email, '--password', initial, '--active');
    assert.ok(uuid);
    const [current] = await manage(t, 'user-token', email);
    const [renewedLine] = await manage(t, 'user-modify', uuid, '--renew-token');
    const renewed = /^User's new token: (\S+)$/.exec(renewedLine ?? '')?.[1];
    await manage(t, 'user-modify', email, '--password', changed);
    const [randomLine] = await manage(t, 'user-modify', email, '--renew-password');
    const random = /^User's new password: (\S+)$/.exec(randomLine ?? '')?.[1];
    secrets.add(current, renewed, random);
    assert.equal((await call(`${t.url}${TOKENS}`, { json: { auth: { token: { id: renewed } } } })).status, 200);
    assert.equal((await call(`${t.url}${UI}/login`, { json: { email, password: random } })).status, 200);

    const fromApi = await withAstakos(t, (a) => a.accounts.renewToken(uuid!));
    secrets.add(fromApi);

    const name = `logged${seq}`;
    const [addedLine] = await manage(t, 'component-add', name, '--base-url', `${t.url}/${name}`);
    const [renewedComponentLine] = await manage(t, 'component-modify', name, '--renew-token');
    const componentToken = /^Component's new token: (\S+)$/.exec(renewedComponentLine ?? '')?.[1];
    secrets.add(/^Token: (\S+)$/.exec(addedLine ?? '')?.[1], componentToken);
    assert.equal((await call(`${t.url}${ACCOUNT}/service/user_catalogs`, { token: componentToken, json: { uuids: [uuid] } })).status, 200);

    secrets.assertAbsentFrom(t);
  });
});
