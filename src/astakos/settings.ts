import type { ComponentSettings } from '../common/settings/schema.js';

/** Settings of the identity service (`10-astakos.conf`). */
export const astakosSettings: ComponentSettings = {
  component: 'astakos',
  file: '10-astakos.conf',
  keys: {
    'astakos.moderation': {
      type: 'enum', default: 'auto', choices: ['auto', 'manual'],
      description: 'Whether verified sign-ups are accepted at once (auto) or wait for an administrator (manual)',
    },
    'astakos.email_verification': { type: 'bool', default: true, description: 'Whether sign-ups must verify their email address' },
    'astakos.token_ttl_hours': { type: 'int', default: 720, min: 1, description: 'Lifetime of an API token, in hours' },
    'astakos.session_ttl_hours': { type: 'int', default: 336, min: 1, description: 'Lifetime of a web session, in hours' },
    'astakos.reset_ttl_hours': { type: 'int', default: 24, min: 1, description: 'Lifetime of a password-reset link, in hours' },
    'astakos.password_min_length': { type: 'int', default: 8, min: 1, description: 'Shortest password accepted' },
    'astakos.smtp_url': {
      type: 'string', default: '', secret: true,
      description: 'smtp://[user:pass@]host[:port] or smtps://... to deliver mail; empty keeps mail in the outbox table and the log only',
    },
    'astakos.mail_from': { type: 'string', default: 'synnefo@localhost', description: 'Sender address of the mail the service sends' },
    'astakos.feedback_email': { type: 'string', default: 'admin@localhost', description: 'Where user feedback is mailed' },
    'astakos.secure_cookies': { type: 'bool', default: false, description: 'Mark web session cookies Secure (set when the public URL is https)' },
  },
};
