import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { isUniqueViolation } from '../../common/db.js';
import { BadRequest, Conflict, NotFound } from '../../common/errors.js';
import type { ComputeStore, KeypairRow } from '../store/compute.js';

const KEY_TYPES = ['ssh-rsa', 'ssh-dss', 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'];

/** SSH keypairs of a user, used to let them into new servers. */
export class Keypairs {
  constructor(private readonly store: ComputeStore) {}

  list(user: string): Promise<KeypairRow[]> { return this.store.keypairs(user); }

  async get(user: string, name: string): Promise<KeypairRow> {
    const kp = await this.store.keypair(user, name);
    if (!kp) throw new NotFound(`Keypair ${name} not found`);
    return kp;
  }

  /** Imports a public key, or generates a pair and returns its private key once. */
  async create(user: string, name: string, publicKey?: string): Promise<{ keypair: KeypairRow; privateKey?: string }> {
    if (!/^[A-Za-z0-9 _.@-]{1,255}$/.test(name) || name.trim() !== name) {
      throw new BadRequest('Keypair name must be 1 to 255 letters, digits, spaces, and _ . @ - characters');
    }
    let privateKey: string | undefined;
    let key = publicKey?.trim();
    if (key === undefined || key === '') {
      const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      privateKey = pair.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
      key = `${opensshRsa(pair.publicKey)} Generated-by-Synnefo`;
    }
    const fingerprint = fingerprintOf(key);
    const keypair: KeypairRow = { id: 0, user_id: user, name, public_key: key, fingerprint, created_at: Date.now() };
    try {
      await this.store.addKeypair({ user_id: user, name, public_key: key, fingerprint, created_at: keypair.created_at });
    } catch (err) {
      if (isUniqueViolation(err)) throw new Conflict(`Key pair '${name}' already exists.`);
      throw err;
    }
    return { keypair: await this.get(user, name), ...(privateKey ? { privateKey } : {}) };
  }

  async remove(user: string, name: string): Promise<void> {
    if (!(await this.store.deleteKeypair(user, name))) throw new NotFound(`Keypair ${name} not found`);
  }
}

/** The MD5 fingerprint of an OpenSSH public key line (colon-separated hex), refusing malformed keys. */
export function fingerprintOf(line: string): string {
  const parts = line.trim().split(/\s+/);
  const [type, data] = parts;
  if (parts.length < 2 || !KEY_TYPES.includes(type!) || !/^[A-Za-z0-9+/]+={0,2}$/.test(data!)) {
    throw new BadRequest('Keypair data is invalid: not an OpenSSH public key');
  }
  const blob = Buffer.from(data!, 'base64');
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (len < 0 || 4 + len > blob.length || blob.subarray(4, 4 + len).toString('latin1') !== type) {
    throw new BadRequest('Keypair data is invalid: key type and key data disagree');
  }
  return createHash('md5').update(blob).digest('hex').match(/../g)!.join(':');
}

/** An RSA public key in OpenSSH's one-line form. */
function opensshRsa(key: ReturnType<typeof createPublicKey>): string {
  const jwk = key.export({ format: 'jwk' }) as { n: string; e: string };
  const str = (b: Buffer) => { const l = Buffer.alloc(4); l.writeUInt32BE(b.length); return Buffer.concat([l, b]); };
  const mpint = (b64: string) => { let b = Buffer.from(b64, 'base64url'); if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]); return str(b); };
  return `ssh-rsa ${Buffer.concat([str(Buffer.from('ssh-rsa')), mpint(jwk.e), mpint(jwk.n)]).toString('base64')}`;
}
