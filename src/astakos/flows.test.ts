import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, dbTargets, startTestNode, withAstakos, type DbTarget, type TestNode } from '../test/harness.js';

const UI = '/astakos/ui';
const TOKENS = '/astakos/identity/v2.0/tokens';
const PASSWORD = 'first-password-1';

let seq = 0;
/** A fresh address per scenario, so scenarios sharing a node never meet. */
const newEmail = (who: string) => `${who}-${++seq}-${Date.now()}@example.org`;

function signUp(t: TestNode, email: string, password = PASSWORD) {
  return call(`${t.url}${UI}/signup`, { json: { email, password, first_name: 'Ada', last_name: 'Lovelace' } });
}

/** The code of the newest mail to `email` whose body matches `pattern`. */
async function mailedCode(t: TestNode, email: string, pattern: RegExp): Promise<string> {
  const mails = await withAstakos(t, (a) => a.web.listMail(email));
  const body = [...mails].reverse().find((m) => pattern.test(m.body))?.body ?? '';
  const m = pattern.exec(body);
  assert.ok(m, `no mail to ${email} matching ${pattern}`);
  return m[1]!;
}

const verificationCode = (t: TestNode, email: string) => mailedCode(t, email, /\/verify\?code=([A-Za-z0-9_-]+)/);
const resetCode = (t: TestNode, email: string) => mailedCode(t, email, /\/password\/reset\?code=([A-Za-z0-9_-]+)/);

/** Signs up and verifies an account on a node with automatic moderation; returns its uuid. */
async function activeAccount(t: TestNode, email: string, password = PASSWORD): Promise<string> {
  const res = await signUp(t, email, password);
  assert.equal(res.status, 202, res.text);
  const verified = await call(`${t.url}${UI}/verify?code=${await verificationCode(t, email)}`);
  assert.equal(verified.json?.state, 'active', verified.text);
  return res.json.uuid as string;
}

/** The `snf_session=...` pair of a response's Set-Cookie, ready to send back. */
function sessionCookie(res: { headers: Headers }): string {
  const set = res.headers.get('set-cookie') ?? '';
  const m = /(?:^|,\s*)snf_session=([^;]*)/.exec(set);
  assert.ok(m, `no session cookie in "${set}"`);
  return `snf_session=${m[1]}`;
}

function login(t: TestNode, email: string, password = PASSWORD) {
  return call(`${t.url}${UI}/login`, { json: { email, password } });
}

async function loggedIn(t: TestNode, email: string, password = PASSWORD): Promise<{ cookie: string; token: string }> {
  const res = await login(t, email, password);
  assert.equal(res.status, 200, res.text);
  return { cookie: sessionCookie(res), token: res.json.token as string };
}

const withCookie = (cookie: string) => ({ headers: { cookie, 'content-type': 'application/json' } });
const profile = (t: TestNode, cookie?: string) => call(`${t.url}${UI}/profile`, cookie ? withCookie(cookie) : {});
const tokenCall = (t: TestNode, token: string) => call(`${t.url}${TOKENS}`, { json: { auth: { token: { id: token } } } });
const message = (res: { json?: any }) => (Object.values(res.json ?? {})[0] as { message?: string } | undefined)?.message;

for (const db of dbTargets()) describe(`the account web API on ${db.name}`, () => {
  let t: TestNode;
  before(async () => { t = await startTestNode({ db }); });
  after(async () => { await t?.close(); });

  describe('signing up', () => {
    it('a sign-up waits for its email to be verified, and the verification link is mailed and logged', async () => {
      const email = newEmail('signup');
      const res = await signUp(t, email);
      assert.equal(res.status, 202, res.text);
      assert.equal(res.json.state, 'pending_verification');
      assert.equal(res.json.status, 'Pending email verification');
      assert.equal(res.json.email, email);

      const mails = await withAstakos(t, (a) => a.web.listMail(email));
      assert.equal(mails.length, 1);
      const code = await verificationCode(t, email);
      assert.ok(mails[0]!.body.includes(`${t.url}${UI}/verify?code=${code}`), mails[0]!.body);
      assert.ok(t.logs.text().includes(`verify?code=${code}`), 'the mail went to the log');

      assert.equal((await login(t, email)).status, 401, 'no login before verification');
    });

    it('following the mailed link activates the account (automatic moderation) and the user can log in', async () => {
      const email = newEmail('verify');
      await signUp(t, email);
      const res = await call(`${t.url}${UI}/verify?code=${await verificationCode(t, email)}`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.state, 'active');
      assert.equal(res.json.status, 'Accepted/Active');
      assert.equal((await login(t, email)).status, 200);
    });

    it('a verification code works once: reusing it answers 404', async () => {
      const email = newEmail('reuse');
      await signUp(t, email);
      const code = await verificationCode(t, email);
      assert.equal((await call(`${t.url}${UI}/verify?code=${code}`)).status, 200);
      const again = await call(`${t.url}${UI}/verify?code=${code}`);
      assert.equal(again.status, 404, again.text);
      assert.equal((await call(`${t.url}${UI}/verify?code=not-a-code`)).status, 404);
    });

    it('signing up again before verifying replaces the pending account, and its old link stops working', async () => {
      const email = newEmail('again');
      await signUp(t, email);
      const first = await verificationCode(t, email);
      assert.equal((await signUp(t, email)).status, 202);
      assert.equal((await call(`${t.url}${UI}/verify?code=${first}`)).status, 404);
      const second = await verificationCode(t, email);
      assert.equal((await call(`${t.url}${UI}/verify?code=${second}`)).json.state, 'active');
    });

    it('an email already taken is refused with 409, whatever its letter case', async () => {
      const n = ++seq;
      await activeAccount(t, `Foo-${n}@X.org`);
      const res = await signUp(t, `foo-${n}@x.org`);
      assert.equal(res.status, 409, res.text);
      assert.equal(res.json.conflict.code, 409);
    });

    it('a malformed email or a short password is refused with 400 and no account is made', async () => {
      const bad = await signUp(t, 'not-an-email');
      assert.equal(bad.status, 400, bad.text);
      assert.match(message(bad) ?? '', /Invalid email/);

      const email = newEmail('short');
      const short = await signUp(t, email, 'short');
      assert.equal(short.status, 400, short.text);
      assert.match(message(short) ?? '', /at least 8 characters/);
      assert.deepEqual(await withAstakos(t, (a) => a.web.listMail(email)), []);
      assert.equal(await withAstakos(t, (a) => a.users.findByEmail(email)), undefined);
    });
  });

  describe('requests the API refuses', () => {
    it('POSTs without a JSON content type are refused with 400', async () => {
      const email = newEmail('ctype');
      const json = JSON.stringify({ email, password: PASSWORD });
      for (const path of ['/signup', '/login', '/password/reset']) {
        const plain = await call(`${t.url}${UI}${path}`, { body: json });
        assert.equal(plain.status, 400, `${path}: ${plain.text}`);
        assert.match(message(plain) ?? '', /Unsupported Content-type/);
        const form = await call(`${t.url}${UI}${path}`, {
          body: `email=${encodeURIComponent(email)}&password=${PASSWORD}`, headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        assert.equal(form.status, 400, `${path}: ${form.text}`);
      }
      assert.equal(await withAstakos(t, (a) => a.users.findByEmail(email)), undefined);
    });

    it('a body that is not JSON is refused with 400', async () => {
      for (const path of ['/signup', '/login', '/password/reset', '/password/reset/confirm']) {
        const res = await call(`${t.url}${UI}${path}`, { body: '{"email": ', headers: { 'content-type': 'application/json' } });
        assert.equal(res.status, 400, `${path}: ${res.text}`);
        assert.equal(message(res), 'Could not decode request body as JSON');
      }
    });
  });

  describe('logging in and out', () => {
    it('login sets an HttpOnly, SameSite session cookie and returns the profile with the API token', async () => {
      const email = newEmail('login');
      const uuid = await activeAccount(t, email);
      const res = await login(t, email);
      assert.equal(res.status, 200, res.text);
      const set = res.headers.get('set-cookie') ?? '';
      assert.match(set, /^snf_session=[^;]+;/);
      assert.match(set, /; HttpOnly/);
      assert.match(set, /; SameSite=Strict/);
      assert.match(set, /; Path=\//);
      assert.equal(res.json.uuid, uuid);
      assert.equal(res.json.email, email);
      assert.equal(res.json.name, 'Ada Lovelace');
      assert.equal(res.json.state, 'active');
      assert.match(res.json.token, /^[A-Za-z0-9_-]{43}$/);
      assert.equal((await tokenCall(t, res.json.token)).json.access.user.id, uuid, 'the profile token works on the identity API');
    });

    it('a wrong password or an unknown email does not log in', async () => {
      const email = newEmail('wrong');
      await activeAccount(t, email);
      const wrong = await login(t, email, 'not-the-password');
      assert.equal(wrong.status, 401, wrong.text);
      assert.equal(wrong.headers.get('set-cookie'), null);
      assert.equal((await login(t, newEmail('nobody'))).status, 401);
    });

    it('the profile needs the session cookie', async () => {
      const email = newEmail('profile');
      await activeAccount(t, email);
      const { cookie, token } = await loggedIn(t, email);
      const res = await profile(t, cookie);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.email, email);
      assert.equal(res.json.token, token);
      assert.equal((await profile(t)).status, 401);
      assert.equal((await profile(t, 'snf_session=forged.value')).status, 401);
    });

    it('logout ends the session: the same cookie no longer shows the profile', async () => {
      const email = newEmail('logout');
      await activeAccount(t, email);
      const { cookie } = await loggedIn(t, email);
      const res = await call(`${t.url}${UI}/logout`, { method: 'POST', ...withCookie(cookie) });
      assert.equal(res.status, 204, res.text);
      assert.match(res.headers.get('set-cookie') ?? '', /Max-Age=0/);
      assert.equal((await profile(t, cookie)).status, 401);
    });

    it('the mailed reset link opens a page that posts the new password', async () => {
      const res = await call(`${t.url}${UI}/password/reset?code=abc`, { headers: { accept: 'text/html' } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.match(res.text, /password\/reset\/confirm|\/confirm/);
    });
  });

  describe('the API token', () => {
    it('renewing the token from the profile gives a new one, and the old one is refused by POST /tokens', async () => {
      const email = newEmail('renew');
      await activeAccount(t, email);
      const { cookie, token: old } = await loggedIn(t, email);
      const res = await call(`${t.url}${UI}/profile/token`, { method: 'POST', ...withCookie(cookie) });
      assert.equal(res.status, 200, res.text);
      assert.notEqual(res.json.token, old);
      const refused = await tokenCall(t, old);
      assert.equal(refused.status, 401);
      assert.equal(message(refused), 'Invalid token');
      assert.equal((await tokenCall(t, res.json.token)).status, 200);
      assert.equal((await call(`${t.url}${UI}/profile/token`, { method: 'POST', headers: { 'content-type': 'application/json' } })).status, 401, 'renewal needs a session');
      assert.equal((await call(`${t.url}${UI}/profile/token`, { method: 'POST', headers: { cookie } })).status, 400, 'a cookie-authenticated POST must be labelled JSON');
    });

    it('an expired token is refused with "Authentication expired"; logging in with email and password issues a fresh one', async () => {
      const email = newEmail('expired');
      const uuid = await activeAccount(t, email);
      const { token: old } = await loggedIn(t, email);
      await withAstakos(t, (a) => a.users.updateUser(uuid, { token_expires_at: Date.now() - 1000 }));

      const refused = await tokenCall(t, old);
      assert.equal(refused.status, 401, refused.text);
      assert.equal(message(refused), 'Authentication expired');

      const res = await call(`${t.url}${TOKENS}`, { json: { auth: { passwordCredentials: { username: email, password: PASSWORD } } } });
      assert.equal(res.status, 200, res.text);
      const fresh = res.json.access.token.id as string;
      assert.notEqual(fresh, old);
      assert.ok(Date.parse(res.json.access.token.expires) > Date.now());
      const works = await tokenCall(t, fresh);
      assert.equal(works.status, 200, works.text);
      assert.equal(works.json.access.user.id, uuid);
    });

    it('a deactivated user is refused with "User inactive" and loses the web session', async () => {
      const email = newEmail('inactive');
      const uuid = await activeAccount(t, email);
      const { cookie, token } = await loggedIn(t, email);
      await withAstakos(t, (a) => a.accounts.apply(uuid, 'deactivate'));
      const refused = await tokenCall(t, token);
      assert.equal(refused.status, 401, refused.text);
      assert.equal(message(refused), 'User inactive');
      assert.equal((await profile(t, cookie)).status, 401);
      assert.equal((await login(t, email)).status, 401);
    });
  });

  describe('passwords', () => {
    it('a password change needs the old password; it issues a new token and the old password stops working', async () => {
      const email = newEmail('change');
      await activeAccount(t, email);
      const { cookie, token: old } = await loggedIn(t, email);
      const change = (old_password: string, new_password: string) =>
        call(`${t.url}${UI}/password/change`, { json: { old_password, new_password }, ...withCookie(cookie) });

      const wrong = await change('not-the-password', 'second-password-2');
      assert.equal(wrong.status, 403, wrong.text);
      assert.equal((await tokenCall(t, old)).status, 200, 'a refused change leaves the token alone');

      const res = await change(PASSWORD, 'second-password-2');
      assert.equal(res.status, 200, res.text);
      assert.notEqual(res.json.token, old);
      assert.equal((await tokenCall(t, old)).status, 401);
      assert.equal((await tokenCall(t, res.json.token)).status, 200);
      assert.equal((await login(t, email, PASSWORD)).status, 401);
      assert.equal((await login(t, email, 'second-password-2')).status, 200);
      assert.equal((await profile(t, cookie)).status, 200, 'the session that changed the password goes on');
    });

    it('a password reset is answered 202 whether or not the email exists, and only an existing account gets mail', async () => {
      const email = newEmail('reset');
      await activeAccount(t, email);
      const nobody = newEmail('nobody');
      for (const who of [email, nobody]) {
        const res = await call(`${t.url}${UI}/password/reset`, { json: { email: who } });
        assert.equal(res.status, 202, res.text);
      }
      assert.ok(await resetCode(t, email));
      assert.deepEqual(await withAstakos(t, (a) => a.web.listMail(nobody)), []);
    });

    it('the mailed reset code sets a new password once; reusing it answers 400', async () => {
      const email = newEmail('confirm');
      await activeAccount(t, email);
      const { token: old } = await loggedIn(t, email);
      await call(`${t.url}${UI}/password/reset`, { json: { email } });
      const code = await resetCode(t, email);

      const res = await call(`${t.url}${UI}/password/reset/confirm`, { json: { code, password: 'reset-password-3' } });
      assert.equal(res.status, 204, res.text);
      assert.equal((await login(t, email, PASSWORD)).status, 401);
      assert.equal((await login(t, email, 'reset-password-3')).status, 200);
      assert.equal((await tokenCall(t, old)).status, 401, 'a reset renews the API token');

      const again = await call(`${t.url}${UI}/password/reset/confirm`, { json: { code, password: 'reset-password-4' } });
      assert.equal(again.status, 400, again.text);
      assert.equal((await login(t, email, 'reset-password-3')).status, 200);
    });
  });

  describe('with manual moderation', () => moderationScenarios(db));
  describe('without email verification', () => noVerificationScenarios(db));
});

function moderationScenarios(db: DbTarget) {
  let t: TestNode;
  before(async () => { t = await startTestNode({ db, settings: { 'astakos.moderation': 'manual' } }); });
  after(async () => { await t?.close(); });

  it('a verified account waits for an administrator, cannot log in, and can once accepted', async () => {
    const email = newEmail('moderated');
    const { json: { uuid } } = await signUp(t, email);
    const verified = await call(`${t.url}${UI}/verify?code=${await verificationCode(t, email)}`);
    assert.equal(verified.status, 200, verified.text);
    assert.equal(verified.json.state, 'pending_moderation');
    assert.equal(verified.json.status, 'Pending moderation');

    const refused = await login(t, email);
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.headers.get('set-cookie'), null);

    await withAstakos(t, (a) => a.accounts.apply(uuid, 'accept'));
    const res = await login(t, email);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.state, 'active');
  });
}

function noVerificationScenarios(db: DbTarget) {
  let t: TestNode;
  before(async () => { t = await startTestNode({ db, settings: { 'astakos.email_verification': false } }); });
  after(async () => { await t?.close(); });

  it('a sign-up is active at once, with no mail, and can log in', async () => {
    const email = newEmail('direct');
    const res = await signUp(t, email);
    assert.equal(res.status, 202, res.text);
    assert.equal(res.json.state, 'active');
    assert.deepEqual(await withAstakos(t, (a) => a.web.listMail(email)), []);
    assert.equal((await login(t, email)).status, 200);
  });
}
