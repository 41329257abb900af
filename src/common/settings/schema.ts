/** What a component declares about each of its settings. */
export type SettingSpec =
  | { type: 'string'; default: string; description: string; secret?: boolean }
  | { type: 'int'; default: number; description: string; min?: number; max?: number }
  | { type: 'bool'; default: boolean; description: string }
  | { type: 'enum'; default: string; description: string; choices: readonly string[] };

export type SettingValue = string | number | boolean;

/** The settings of one component, kept in its own file of the config directory. */
export interface ComponentSettings {
  component: string;
  /** File name inside the config directory, e.g. `10-astakos.conf`. */
  file: string;
  keys: Record<string, SettingSpec>;
}

/** Settings every node has, whatever roles it runs. */
export const commonSettings: ComponentSettings = {
  component: 'common',
  file: '00-common.conf',
  keys: {
    'common.base_url': {
      type: 'string', default: '',
      description: 'Public URL clients use to reach this cloud (empty: http://<host>:<port> of this node)',
    },
    'common.secret_key': {
      type: 'string', default: '', secret: true,
      description: 'Key that seals API tokens and signs web sessions; share it between nodes (empty: generated into <data-dir>/secret.key)',
    },
    'common.astakos_url': {
      type: 'string', default: '',
      description: 'URL of the identity (astakos) node, for nodes that do not run the astakos role (e.g. https://accounts.example.org)',
    },
    'database.url': {
      type: 'string', default: '', secret: true,
      description: 'Database for every service: postgres://user@host:port/db (one schema per service), or empty for one SQLite file per service in the data dir',
    },
    'http.host': { type: 'string', default: '127.0.0.1', description: 'Address the HTTP server listens on' },
    'http.port': { type: 'int', default: 8080, min: 0, max: 65535, description: 'Port the HTTP server listens on' },
    'http.body_limit': { type: 'int', default: 10 * 1024 * 1024, min: 1024, description: 'Largest JSON request body accepted, in bytes' },
    'log.level': {
      type: 'enum', default: 'info', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      description: 'Lowest level written to the log',
    },
  },
};
