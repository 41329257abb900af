import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { call, dbTargets, startTestNode, withAstakos, type DbTarget, type TestNode } from '../test/harness.js';

const SMTP_USER = 'snf-mailer';
const SMTP_PASSWORD = 's3cret-smtp-pass';
const FROM = 'noreply@cloud.example.org';

/** What one SMTP client session told the receiver. */
interface Delivery { auth?: string; from?: string; to: string[]; data?: string }

/** A loopback SMTP receiver speaking just enough of the protocol; it can refuse every recipient. */
async function smtpReceiver(opts: { refuseRecipients?: boolean } = {}) {
  const deliveries: Delivery[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const session: Delivery = { to: [] };
    deliveries.push(session);
    let buffer = '';
    let inData = false;
    const reply = (line: string) => socket.write(line + '\r\n');
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          session.data = buffer.slice(0, end);
          buffer = buffer.slice(end + 5);
          inData = false;
          reply('250 2.0.0 queued');
          continue;
        }
        const eol = buffer.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffer.slice(0, eol);
        buffer = buffer.slice(eol + 2);
        const verb = line.split(' ')[0]!.toUpperCase();
        if (verb === 'EHLO') { reply('250-test.example.org'); reply('250 AUTH PLAIN'); }
        else if (verb === 'AUTH') { session.auth = Buffer.from(line.split(' ')[2] ?? '', 'base64').toString('utf8'); reply('235 2.7.0 accepted'); }
        else if (verb === 'MAIL') { session.from = line; reply('250 2.1.0 ok'); }
        else if (verb === 'RCPT') {
          if (opts.refuseRecipients) reply('550 5.1.1 no such mailbox');
          else { session.to.push(line); reply('250 2.1.5 ok'); }
        }
        else if (verb === 'DATA') { inData = true; reply('354 end with <CRLF>.<CRLF>'); }
        else if (verb === 'QUIT') { reply('221 2.0.0 bye'); socket.end(); }
        else reply('500 5.5.1 unknown command');
      }
    });
    reply('220 test.example.org ESMTP');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    deliveries,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

type Receiver = Awaited<ReturnType<typeof smtpReceiver>>;

let seq = 0;
const newEmail = () => `smtp-${++seq}-${Date.now()}@example.org`;
const signUp = (t: TestNode, email: string) => call(`${t.url}/astakos/ui/signup`, { json: { email, password: 'a-password-1' } });

/** A node that delivers mail through `receiver`. */
function mailingNode(db: DbTarget, receiver: Receiver): Promise<TestNode> {
  return startTestNode({ db, settings: { 'astakos.smtp_url': `smtp://${SMTP_USER}:${SMTP_PASSWORD}@127.0.0.1:${receiver.port}`, 'astakos.mail_from': FROM } });
}

for (const db of dbTargets()) describe(`mail delivery over SMTP on ${db.name}`, () => {
  describe('to a server that accepts the mail', () => {
    let receiver: Receiver;
    let t: TestNode;
    before(async () => { receiver = await smtpReceiver(); t = await mailingNode(db, receiver); });
    after(async () => { await t?.close(); await receiver?.close(); });

    it('a sign-up\'s verification mail is delivered, authenticated with the URL\'s credentials, and marked sent', async () => {
      const email = newEmail();
      const res = await signUp(t, email);
      assert.equal(res.status, 202, res.text);

      const [mail] = await withAstakos(t, (a) => a.web.listMail(email));
      assert.ok(mail, 'the mail is in the outbox');
      assert.ok(mail.sent_at !== null && mail.sent_at >= mail.created_at, 'the outbox row records the delivery');
      assert.equal(mail.error, null);

      const delivery = receiver.deliveries.find((d) => d.to.some((r) => r.includes(email)));
      assert.ok(delivery, 'the receiver got the mail');
      assert.equal(delivery.auth, `\0${SMTP_USER}\0${SMTP_PASSWORD}`);
      assert.equal(delivery.from, `MAIL FROM:<${FROM}>`);
      assert.deepEqual(delivery.to, [`RCPT TO:<${email}>`]);
      const link = /https?:\/\/\S+\/astakos\/ui\/verify\?code=[A-Za-z0-9_-]+/.exec(mail.body)?.[0];
      assert.ok(link, mail.body);
      assert.ok(delivery.data?.includes(link), delivery.data);
      assert.match(delivery.data ?? '', new RegExp(`^To: ${email.replace(/\./g, '\\.')}\r$`, 'm'));
      assert.match(delivery.data ?? '', /^Subject: Verify your email address\r$/m);

      assert.ok(!t.logs.text().includes(SMTP_PASSWORD), 'the SMTP password stays out of the log');
    });
  });

  describe('to a server that refuses the recipient', () => {
    let receiver: Receiver;
    let t: TestNode;
    before(async () => { receiver = await smtpReceiver({ refuseRecipients: true }); t = await mailingNode(db, receiver); });
    after(async () => { await t?.close(); await receiver?.close(); });

    it('the sign-up still succeeds and the outbox row keeps the delivery error', async () => {
      const email = newEmail();
      const res = await signUp(t, email);
      assert.equal(res.status, 202, res.text);
      assert.equal(res.json.state, 'pending_verification');

      const [mail] = await withAstakos(t, (a) => a.web.listMail(email));
      assert.ok(mail, 'the mail is in the outbox');
      assert.equal(mail.sent_at, null);
      assert.match(mail.error ?? '', /550/);
      assert.ok(receiver.deliveries.every((d) => d.data === undefined), 'nothing was delivered');
      assert.match(t.logs.text(), /mail delivery failed/);
    });
  });
});
