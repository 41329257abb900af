import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface MailMessage { from: string; to: string; subject: string; body: string }

/**
 * Delivers one message over SMTP: `smtp://[user:pass@]host[:port]` (plain) or `smtps://...` (TLS).
 * A minimal client: EHLO, AUTH PLAIN when credentials are given, MAIL/RCPT/DATA, QUIT.
 */
export async function sendSmtp(url: string, msg: MailMessage, timeoutMs = 15000): Promise<void> {
  const u = new URL(url);
  const secure = u.protocol === 'smtps:';
  if (!secure && u.protocol !== 'smtp:') throw new Error(`unsupported mail URL scheme ${u.protocol}`);
  const port = Number(u.port || (secure ? 465 : 25));
  const socket: Socket = secure ? tlsConnect({ host: u.hostname, port, servername: u.hostname }) : netConnect({ host: u.hostname, port });
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error('SMTP timeout')));
  const replies = replyReader(socket);
  const expect = async (code: number) => {
    const reply = await replies.next();
    if (!reply.startsWith(String(code))) throw new Error(`SMTP: expected ${code}, got "${reply.trim()}"`);
  };
  const command = async (line: string, code: number) => { socket.write(line + '\r\n'); await expect(code); };
  try {
    await expect(220);
    await command('EHLO synnefo', 250);
    if (u.username) {
      const creds = Buffer.from(`\0${decodeURIComponent(u.username)}\0${decodeURIComponent(u.password)}`).toString('base64');
      await command(`AUTH PLAIN ${creds}`, 235);
    }
    await command(`MAIL FROM:<${msg.from}>`, 250);
    await command(`RCPT TO:<${msg.to}>`, 250);
    await command('DATA', 354);
    const headers = [`From: ${msg.from}`, `To: ${msg.to}`, `Subject: ${msg.subject}`, `Date: ${new Date().toUTCString()}`,
      'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8'];
    const body = msg.body.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    await command(`${headers.join('\r\n')}\r\n\r\n${body}\r\n.`, 250);
    socket.write('QUIT\r\n');
  } finally {
    socket.end();
  }
}

/** Reads complete SMTP replies (multi-line ones joined) from a socket. */
function replyReader(socket: Socket) {
  let buffer = '';
  const waiting: { resolve: (s: string) => void; reject: (e: Error) => void }[] = [];
  const ready: string[] = [];
  let failure: Error | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(buffer);
      if (!m) break;
      buffer = buffer.slice(m[0].length);
      const reply = m[0].split('\n').filter(Boolean).at(-1)!;
      const w = waiting.shift();
      if (w) w.resolve(reply); else ready.push(reply);
    }
  });
  const fail = (e: Error) => { failure = e; for (const w of waiting.splice(0)) w.reject(e); };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('SMTP connection closed')));
  return {
    next(): Promise<string> {
      const r = ready.shift();
      if (r !== undefined) return Promise.resolve(r);
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
  };
}
