import type { FastifyInstance } from 'fastify';
import type { IdentityClient } from '../common/identity.js';
import type { ObjectStoreClient } from '../common/object-store.js';
import type { QuotaClient } from '../common/quota.js';
import type { Logger } from '../common/log.js';
import type { ComponentSettings } from '../common/settings/schema.js';
import type { Settings } from '../common/settings/load.js';
import type { ComponentDefinition } from '../astakos/logic/catalog.js';

/** Clients a role offers to the other roles of its node (in-process implementations). */
export interface NodeClients {
  identity?: IdentityClient;
  /** The quota client of a component, for charging its resources. */
  quota?: (component: string) => QuotaClient;
  /** Registers a co-located component and its services in the catalog. */
  registerComponent?: (def: ComponentDefinition) => Promise<void>;
  /** The object store, for services that keep their records with objects (the image registry). */
  objectStore?: ObjectStoreClient;
}

/** What every role gets when it starts. */
export interface NodeContext {
  settings: Settings;
  log: Logger;
  dataDir: string;
  configDir: string;
  secretKey: string;
  /** The public URL of this node; known once the node listens. */
  baseUrl: () => string;
  clients: NodeClients;
}

/** A role a node can run (`astakos`, `pithos`, `cyclades`, ...). */
export interface Role {
  name: string;
  /** Settings components the role reads. */
  settings: ComponentSettings[];
  /** Roles that must start before this one in the same node, if they run there. */
  after?: string[];
  start(ctx: NodeContext): Promise<RunningRole>;
  /** Brings the role's database schema up to date without starting it. */
  migrate?(ctx: Pick<NodeContext, 'settings' | 'log' | 'dataDir' | 'secretKey'>): Promise<void>;
}

/** A started role. */
export interface RunningRole {
  /** The component the role publishes in the service catalog. */
  component?: ComponentDefinition;
  /** Mounts the role's HTTP routes. */
  routes(app: FastifyInstance): Promise<void>;
  close(): Promise<void>;
}
