import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { envName, loadSettings } from './load.js';
import type { ComponentSettings } from './schema.js';

const demo: ComponentSettings = {
  component: 'demo', file: '10-demo.conf',
  keys: {
    'demo.name': { type: 'string', default: 'x', description: 'a name' },
    'demo.count': { type: 'int', default: 3, min: 1, max: 10, description: 'a count' },
    'demo.on': { type: 'bool', default: false, description: 'a switch' },
    'demo.mode': { type: 'enum', default: 'a', choices: ['a', 'b'], description: 'a mode' },
    'demo.secret': { type: 'string', default: '', secret: true, description: 'a secret' },
  },
};
const other: ComponentSettings = { component: 'other', file: '20-other.conf', keys: { 'other.x': { type: 'int', default: 1, description: 'x' } } };

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'snf-settings-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}

const load = (configDir: string, env: NodeJS.ProcessEnv = {}, overrides = {}) =>
  loadSettings({ configDir, components: [demo], known: [demo, other], env, overrides });

describe('settings', () => {
  it('gives every key its default when nothing is configured', () => {
    const s = load(dir({}));
    assert.equal(s.string('demo.name'), 'x');
    assert.equal(s.int('demo.count'), 3);
    assert.equal(s.bool('demo.on'), false);
    assert.equal(s.source('demo.name'), 'default');
  });

  it('takes values from config files in name order and names the file and line as the source', () => {
    const d = dir({ '10-demo.conf': '# comment\n\ndemo.name = "first"\ndemo.on = yes\n', '90-local.conf': 'demo.name = second\n' });
    const s = load(d);
    assert.equal(s.string('demo.name'), 'second');
    assert.equal(s.source('demo.name'), `${join(d, '90-local.conf')}:1`);
    assert.equal(s.bool('demo.on'), true);
    assert.equal(s.source('demo.on'), `${join(d, '10-demo.conf')}:4`);
  });

  it('lets SNF_* variables override files, and command-line flags override both', () => {
    const d = dir({ '10-demo.conf': 'demo.count = 4\n' });
    assert.equal(envName('demo.count'), 'SNF_DEMO_COUNT');
    const s = load(d, { SNF_DEMO_COUNT: '5' });
    assert.equal(s.int('demo.count'), 5);
    assert.equal(s.source('demo.count'), 'env SNF_DEMO_COUNT');
    const f = load(d, { SNF_DEMO_COUNT: '5' }, { 'demo.count': 6 });
    assert.equal(f.int('demo.count'), 6);
    assert.equal(f.source('demo.count'), 'command line');
  });

  it('rejects an unknown key naming the file and line', () => {
    const d = dir({ '10-demo.conf': 'demo.name = a\n\ndemo.nmae = b\n' });
    assert.throws(() => load(d), (e: Error) => e instanceof ConfigError && e.message.includes(`${join(d, '10-demo.conf')}:3`) && e.message.includes('demo.nmae'));
  });

  it('rejects values of the wrong type or out of range, naming where they came from', () => {
    assert.throws(() => load(dir({ 'a.conf': 'demo.count = many\n' })), /a\.conf:1: demo\.count: "many" is not an integer/);
    assert.throws(() => load(dir({ 'a.conf': 'demo.count = 11\n' })), /above the maximum 10/);
    assert.throws(() => load(dir({ 'a.conf': 'demo.mode = c\n' })), /not one of a, b/);
    assert.throws(() => load(dir({ 'a.conf': 'demo.on = maybe\n' })), /not a boolean/);
    assert.throws(() => load(dir({ 'a.conf': 'just text\n' })), /a\.conf:1: expected "key = value"/);
    assert.throws(() => load(dir({}), { SNF_DEMO_COUNT: 'x' }), /environment variable SNF_DEMO_COUNT/);
  });

  it("accepts another role's keys in a shared directory without exposing them", () => {
    const s = load(dir({ '20-other.conf': 'other.x = 2\n' }));
    assert.ok(!s.describe().some((e) => e.key === 'other.x'));
  });

  it('masks secrets when describing the effective settings', () => {
    const s = load(dir({ 'a.conf': 'demo.secret = hunter2\n' }));
    const row = s.describe().find((e) => e.key === 'demo.secret')!;
    assert.equal(row.value, '********');
    assert.ok(!JSON.stringify(s.describe()).includes('hunter2'));
  });
});
