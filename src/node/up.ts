import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomToken } from '../common/crypto.js';
import { settingsTemplate } from '../common/settings/load.js';
import { openAstakos } from '../astakos/service.js';
import { ensurePlaceholderImage } from '../plankton/service.js';
import type { NodeContext } from './role.js';
import { ALL_SETTINGS } from './roles.js';

export interface Credential { email: string; password: string; token: string; uuid: string }
export interface InitialCredentials { admin: Credential; demo: Credential }

export const CREDENTIALS_FILE = 'initial-credentials.json';

/** Writes a commented template for each component's settings file that does not exist yet. */
export function writeSettingsTemplates(configDir: string): void {
  mkdirSync(configDir, { recursive: true });
  for (const c of ALL_SETTINGS) {
    const file = join(configDir, c.file);
    if (!existsSync(file)) writeFileSync(file, settingsTemplate(c));
  }
}

/** Writes a file whole or not at all. */
function writeAtomic(file: string, data: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}

/**
 * On a node's first start, creates the administrator and the demo user, the administrator's public
 * placeholder image, and records their credentials (mode 0600). Later starts leave accounts alone;
 * returns undefined then.
 */
export async function bootstrapAccounts(context: NodeContext): Promise<InitialCredentials | undefined> {
  const file = join(context.dataDir, CREDENTIALS_FILE);
  if (existsSync(file)) return undefined;
  const astakos = await openAstakos({ settings: context.settings, dataDir: context.dataDir, secretKey: context.secretKey, log: context.log, baseUrl: context.baseUrl });
  try {
    const make = async (email: string, firstName: string, admin: boolean): Promise<Credential> => {
      const existing = await astakos.users.findByEmail(email);
      const password = randomToken(12);
      if (existing) {
        await astakos.accounts.setPassword(existing.uuid, password);
        return { email, password, token: astakos.accounts.tokenOf(await astakos.accounts.get(existing.uuid)), uuid: existing.uuid };
      }
      const { user, token } = await astakos.accounts.createUser({ email, password, firstName, lastName: 'User', active: true, admin });
      return { email, password, token, uuid: user.uuid };
    };
    const creds: InitialCredentials = {
      admin: await make('admin@synnefo.local', 'Admin', true),
      demo: await make('demo@synnefo.local', 'Demo', false),
    };
    // A public image from the start, so the demo user can create a server at once.
    if (context.clients.objectStore) await ensurePlaceholderImage(context, creds.admin.uuid);
    writeAtomic(file, JSON.stringify(creds, null, 2) + '\n', 0o600);
    return creds;
  } finally {
    await astakos.close();
  }
}
