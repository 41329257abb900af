import { randomBytes } from 'node:crypto';
import { BadRequest } from '../../common/errors.js';
import { CURRENT, type ObjectStore } from '../store/objects.js';
import type { PermissionRow, SharingStore } from '../store/sharing.js';

/** Who may read and who may write a path: user uuids, `owner:group`, or `*` for every user. */
export interface Sharing { read: string[]; write: string[] }

/** Parses `X-Object-Sharing: read=a,b; write=c`; an empty value removes sharing (null). */
export function parseSharing(header: string): Sharing | null {
  const text = header.replace(/\s+/g, '').replace(/~/g, '');
  if (text === '') return null;
  const out: Sharing = { read: [], write: [] };
  for (const part of text.split(';').filter(Boolean)) {
    const eq = part.indexOf('=');
    const kind = part.slice(0, eq).toLowerCase();
    const list = part.slice(eq + 1).split(',').filter(Boolean).map((x) => x.toLowerCase());
    if (eq < 0 || (kind !== 'read' && kind !== 'write') || list.length === 0) throw new BadRequest('Bad X-Object-Sharing header value');
    out[kind] = list.includes('*') ? ['*'] : [...new Set(list)];
  }
  out.read = out.read.filter((x) => !out.write.includes(x));
  return out;
}

/** The header form: `read=a,b; write=c`. */
export function formatSharing(s: Sharing): string {
  return [s.read.length ? `read=${s.read.join(',')}` : '', s.write.length ? `write=${s.write.join(',')}` : ''].filter(Boolean).join('; ');
}

const DIRECTORY_TYPES = ['application/directory', 'application/folder'];

/** What a non-owner may do with a path, and the path whose sharing decided it. */
export interface Grant { level: 'read' | 'write'; path: string; sharing: Sharing }

/**
 * Decides other users' access: the deepest path carrying sharing among the object itself and its
 * ancestor directory objects governs; read access is in its read or write list, write access in its
 * write list. Owners never ask.
 */
export class Access {
  constructor(private readonly sharing: SharingStore, private readonly objects: ObjectStore) {}

  /** The grant a user has on `name` in a container of another account, if any. */
  async grant(user: string, account: string, container: string, name: string): Promise<Grant | undefined> {
    const c = await this.objects.findContainer(account, container);
    if (!c) return undefined;
    const candidates = [name];
    for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) candidates.push(name.slice(0, i), name.slice(0, i + 1));
    const rows = await this.sharing.permissionsOf(account, container, [...new Set(candidates)]);
    rows.sort((a, b) => b.name.length - a.name.length);
    for (const row of rows) {
      if (row.name !== name) {
        const dir = await this.objects.current(c.id, row.name);
        if (!dir || dir.cluster !== CURRENT || !DIRECTORY_TYPES.includes(dir.content_type.split(';')[0]!.trim())) continue;
      }
      const level = await this.levelFor(user, account, row);
      return level ? { level, path: row.name, sharing: toSharing(row) } : undefined;
    }
    return undefined;
  }

  /** The paths of a container shared with a user (exact objects, and directory prefixes). */
  async grantedPaths(user: string, account: string, container: string): Promise<string[]> {
    const out: string[] = [];
    for (const row of await this.sharing.sharedBy(account, container)) if (await this.levelFor(user, account, row)) out.push(row.name);
    return out;
  }

  /** Containers of an account where something is shared with a user. */
  async sharedContainers(user: string, account: string): Promise<string[]> {
    const out = new Set<string>();
    for (const row of await this.sharing.sharedBy(account)) if (await this.levelFor(user, account, row)) out.add(row.container);
    return [...out];
  }

  /** Accounts that share something with a user. */
  async sharingAccounts(user: string): Promise<string[]> {
    const out: string[] = [];
    for (const account of await this.sharing.sharingAccounts()) {
      if (account !== user && (await this.sharedContainers(user, account)).length) out.push(account);
    }
    return out;
  }

  private async levelFor(user: string, account: string, row: PermissionRow): Promise<'read' | 'write' | undefined> {
    const s = toSharing(row);
    const groups = JSON.parse((await this.objects.findAccount(account))?.groups ?? '{}') as Record<string, string[]>;
    const matches = (list: string[]) => list.some((x) => x === '*' || x === user || (x.startsWith(`${account}:`) && (groups[x.slice(account.length + 1)] ?? []).includes(user)));
    if (matches(s.write)) return 'write';
    if (matches(s.read)) return 'read';
    return undefined;
  }
}

export function toSharing(row: PermissionRow): Sharing {
  return { read: JSON.parse(row.readers) as string[], write: JSON.parse(row.writers) as string[] };
}

/** A public link token: 128 random bits in base 62, as Pithos makes them. */
export function publicToken(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  let n = BigInt(`0x${randomBytes(16).toString('hex')}`);
  let out = '';
  while (n > 0n) { out = alphabet[Number(n % 62n)]! + out; n /= 62n; }
  return out || '0';
}
