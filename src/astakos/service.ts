import type { Database } from '../common/db.js';
import { migrateToLatest, openDatabase } from '../common/db.js';
import { Sealer, Signer } from '../common/crypto.js';
import type { Logger } from '../common/log.js';
import type { Settings } from '../common/settings/load.js';
import { HOUR } from '../common/time.js';
import { Accounts } from './logic/accounts.js';
import { Catalog, type ComponentDefinition } from './logic/catalog.js';
import { UserDirectory } from './logic/directory.js';
import { Mailer } from './logic/mailer.js';
import { WebSessions } from './logic/sessions.js';
import { Projects } from './logic/projects.js';
import { QuotaHolder } from './logic/quotaholder.js';
import { QuotaViews } from './logic/quotas.js';
import { Resources } from './logic/resources.js';
import { ProjectStore } from './store/projects.js';
import { QuotaStore } from './store/quotaholder.js';
import { CatalogStore } from './store/catalog.js';
import { astakosMigrations } from './store/migrations.js';
import type { AstakosDB } from './store/schema.js';
import { UserStore } from './store/users.js';
import { WebStore } from './store/web.js';

/** The identity component as it publishes itself in the catalog. */
export const ASTAKOS_COMPONENT: ComponentDefinition = {
  name: 'astakos',
  basePath: '/astakos',
  uiPath: '/astakos/ui',
  services: [
    {
      name: 'astakos_account', type: 'account', path: '/account', versionId: 'v1.0',
      resources: [{
        name: 'astakos.pending_app', desc: 'Number of pending project applications', service_type: 'account', service_origin: 'astakos_account',
        ui_visible: false, api_visible: false, base_default: 2,
      }],
    },
    { name: 'astakos_identity', type: 'identity', path: '/identity', versionId: 'v2.0' },
    { name: 'astakos_weblogin', type: 'astakos_weblogin', path: '/weblogin', versionId: '' },
  ],
};

/** The identity service's logic over its own database, used by the role and by the admin tool. */
export interface Astakos {
  database: Database<AstakosDB>;
  users: UserStore;
  web: WebStore;
  accounts: Accounts;
  catalog: Catalog;
  directory: UserDirectory;
  sessions: WebSessions;
  mailer: Mailer;
  resources: Resources;
  projects: Projects;
  quotaholder: QuotaHolder;
  quotas: QuotaViews;
  close(): Promise<void>;
}

export interface AstakosOptions {
  settings: Settings;
  dataDir: string;
  secretKey: string;
  log: Logger;
  /** The public base URL of the node serving the identity web pages. */
  baseUrl: () => string;
}

/** Opens (and migrates) the identity database and builds the logic on it. */
export async function openAstakos(opts: AstakosOptions): Promise<Astakos> {
  const { settings } = opts;
  const database = await openDatabase<AstakosDB>('astakos', settings.string('database.url'), opts.dataDir);
  await migrateToLatest(database as Database<unknown>, 'astakos', astakosMigrations(database.dialect));
  const users = new UserStore(database.db);
  const web = new WebStore(database.db);
  const sealer = new Sealer(opts.secretKey);
  const projectStore = new ProjectStore(database.db);
  const quotaStore = new QuotaStore(database.db);
  const quotaholder = new QuotaHolder(quotaStore);
  const resources = new Resources(projectStore);
  const projects = new Projects(projectStore, quotaholder, opts.log);
  const mailer = new Mailer(web, opts.log, settings.string('astakos.smtp_url'), settings.string('astakos.mail_from'));
  const accounts = new Accounts(users, web, mailer, {
    tokenTtlMs: settings.int('astakos.token_ttl_hours') * HOUR,
    moderation: settings.string('astakos.moderation') as 'auto' | 'manual',
    emailVerification: settings.bool('astakos.email_verification'),
    passwordMinLength: settings.int('astakos.password_min_length'),
    resetTtlMs: settings.int('astakos.reset_ttl_hours') * HOUR,
    get uiUrl() { return `${opts.baseUrl()}/astakos/ui`; },
    sealer,
    onAccepted: (uuid) => projects.ensureSystemProject(uuid),
  }, opts.log, (uuid) => projects.chargeable(uuid));
  await projects.ensureSystemProjects();
  return {
    database, users, web, accounts, mailer, resources, projects, quotaholder,
    quotas: new QuotaViews(quotaStore, projectStore),
    catalog: new Catalog(new CatalogStore(database.db), sealer, resources),
    directory: new UserDirectory(users),
    sessions: new WebSessions(web, users, new Signer(opts.secretKey), settings.int('astakos.session_ttl_hours') * HOUR),
    close: () => database.close(),
  };
}
