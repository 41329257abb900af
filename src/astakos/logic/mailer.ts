import type { Logger } from '../../common/log.js';
import type { WebStore } from '../store/web.js';
import { sendSmtp } from './smtp.js';

/**
 * Sends the service's mail: every message is kept in the outbox table and written to the log;
 * when an SMTP URL is configured it is also delivered, and the outbox row records the outcome.
 */
export class Mailer {
  constructor(
    private readonly store: WebStore,
    private readonly log: Logger,
    private readonly smtpUrl: string,
    private readonly from: string,
  ) {}

  async send(recipient: string, subject: string, body: string): Promise<void> {
    const now = Date.now();
    const id = await this.store.queueMail({ recipient, subject, body, created_at: now, sent_at: null, error: null });
    this.log.info({ mail: id, to: recipient, subject }, `mail to ${recipient}: ${subject}\n${body}`);
    if (!this.smtpUrl) return;
    try {
      await sendSmtp(this.smtpUrl, { from: this.from, to: recipient, subject, body });
      await this.store.markMail(id, { sent_at: Date.now() });
    } catch (err) {
      this.log.warn({ mail: id, err: (err as Error).message }, 'mail delivery failed; kept in the outbox');
      await this.store.markMail(id, { error: (err as Error).message });
    }
  }
}
