import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { ComponentSettings, SettingSpec, SettingValue } from './schema.js';

/** Where an effective value came from. */
export type SettingSource = 'default' | 'command line' | `env ${string}` | `${string}:${number}`;

interface Entry { value: SettingValue; source: SettingSource; spec: SettingSpec; component: string }

/** The effective settings of a node: defaults, then config files in name order, then SNF_* variables, then flags. */
export class Settings {
  constructor(private readonly entries: Map<string, Entry>) {}

  string(key: string): string { return this.typed(key, 'string') as string; }
  int(key: string): number { return this.typed(key, 'number') as number; }
  bool(key: string): boolean { return this.typed(key, 'boolean') as boolean; }

  source(key: string): SettingSource { return this.entry(key).source; }

  /** Every setting with its value and source, secrets masked, for `manage settings`. */
  describe(): { key: string; value: string; source: SettingSource; component: string; description: string }[] {
    return [...this.entries.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, e]) => ({
      key,
      value: e.spec.type === 'string' && e.spec.secret && e.value !== '' ? '********' : String(e.value),
      source: e.source,
      component: e.component,
      description: e.spec.description,
    }));
  }

  private entry(key: string): Entry {
    const e = this.entries.get(key);
    if (!e) throw new Error(`setting ${key} is not declared by any component this node runs`);
    return e;
  }

  private typed(key: string, type: 'string' | 'number' | 'boolean'): SettingValue {
    const v = this.entry(key).value;
    if (typeof v !== type) throw new Error(`setting ${key} is a ${typeof v}, not a ${type}`);
    return v;
  }
}

/** The environment variable that overrides a key: `astakos.token_ttl` -> `SNF_ASTAKOS_TOKEN_TTL`. */
export function envName(key: string): string {
  return 'SNF_' + key.toUpperCase().replace(/[.-]/g, '_');
}

function parseValue(spec: SettingSpec, raw: string, where: string, key: string): SettingValue {
  const fail = (why: string): never => { throw new ConfigError(`${where}: ${key}: ${why}`); };
  switch (spec.type) {
    case 'string':
      return raw;
    case 'int': {
      if (!/^-?\d+$/.test(raw)) fail(`"${raw}" is not an integer`);
      const n = Number(raw);
      if (spec.min !== undefined && n < spec.min) fail(`${n} is below the minimum ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) fail(`${n} is above the maximum ${spec.max}`);
      return n;
    }
    case 'bool': {
      const v = raw.toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(v)) return true;
      if (['false', 'no', 'off', '0'].includes(v)) return false;
      return fail(`"${raw}" is not a boolean (true/false)`);
    }
    case 'enum':
      if (!spec.choices.includes(raw)) fail(`"${raw}" is not one of ${spec.choices.join(', ')}`);
      return raw;
  }
}

function unquote(raw: string): string {
  const t = raw.trim();
  if (t.length >= 2 && (t[0] === '"' || t[0] === "'") && t.at(-1) === t[0]) return t.slice(1, -1);
  return t;
}

export interface LoadOptions {
  configDir: string;
  /** Components of the roles this node runs; they decide which values are kept. */
  components: ComponentSettings[];
  /** Every component known to the program; a key none of them declares is an error. */
  known: ComponentSettings[];
  env?: NodeJS.ProcessEnv;
  overrides?: Record<string, SettingValue | undefined>;
}

/** Reads the config directory and the environment into effective settings. */
export function loadSettings(opts: LoadOptions): Settings {
  const specs = new Map<string, { spec: SettingSpec; component: string }>();
  for (const c of opts.known) for (const [k, spec] of Object.entries(c.keys)) specs.set(k, { spec, component: c.component });
  const running = new Set(opts.components.flatMap((c) => Object.keys(c.keys)));

  const entries = new Map<string, Entry>();
  for (const key of running) {
    const { spec, component } = specs.get(key)!;
    entries.set(key, { value: spec.default, source: 'default', spec, component });
  }
  const set = (key: string, raw: string, source: SettingSource, where: string) => {
    const known = specs.get(key);
    if (!known) throw new ConfigError(`${where}: unknown setting "${key}"`);
    const value = parseValue(known.spec, raw, where, key);
    if (running.has(key)) entries.set(key, { value, source, spec: known.spec, component: known.component });
  };

  if (existsSync(opts.configDir)) {
    const files = readdirSync(opts.configDir).filter((f) => f.endsWith('.conf')).sort();
    for (const file of files) {
      const path = join(opts.configDir, file);
      readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
        const text = line.trim();
        if (text === '' || text.startsWith('#')) return;
        const where = `${path}:${i + 1}`;
        const eq = text.indexOf('=');
        if (eq < 0) throw new ConfigError(`${where}: expected "key = value", got "${text}"`);
        set(text.slice(0, eq).trim(), unquote(text.slice(eq + 1)), `${path}:${i + 1}`, where);
      });
    }
  }

  const env = opts.env ?? process.env;
  for (const key of specs.keys()) {
    const name = envName(key);
    const raw = env[name];
    if (raw !== undefined) set(key, raw, `env ${name}`, `environment variable ${name}`);
  }
  for (const [key, value] of Object.entries(opts.overrides ?? {})) {
    if (value !== undefined) set(key, String(value), 'command line', 'command line');
  }
  return new Settings(entries);
}

/** A commented template of a component's settings file, written once by `synnefo up`. */
export function settingsTemplate(c: ComponentSettings): string {
  const lines = [`# Settings of ${c.component}. Uncomment a line to change its value.`, `# Each may be overridden by its SNF_* environment variable.`, ''];
  for (const [key, spec] of Object.entries(c.keys)) {
    lines.push(`# ${spec.description}${spec.type === 'enum' ? ` (${spec.choices.join(' | ')})` : ''} [${envName(key)}]`);
    lines.push(`#${key} = ${String(spec.default)}`, '');
  }
  return lines.join('\n');
}
