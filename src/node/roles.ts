import { astakosRole } from '../astakos/role.js';
import { pithosRole } from '../pithos/role.js';
import { cycladesRole, dispatcherRole } from '../cyclades/role.js';
import { cycladesSettings } from '../cyclades/settings.js';
import { pithosSettings } from '../pithos/settings.js';
import { astakosSettings } from '../astakos/settings.js';
import { commonSettings, type ComponentSettings } from '../common/settings/schema.js';
import type { Role } from './role.js';

/** Every role this program can run, in start order. */
export const ROLES: Role[] = [astakosRole, pithosRole, cycladesRole, dispatcherRole];

/** Every settings component the program knows, for validation and `manage settings`. */
export const ALL_SETTINGS: ComponentSettings[] = [commonSettings, astakosSettings, pithosSettings, cycladesSettings];

export function roleByName(name: string): Role | undefined {
  return ROLES.find((r) => r.name === name);
}
