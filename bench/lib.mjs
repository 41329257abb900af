// What the benchmark scripts share: a free loopback port, and a throw-away PostgreSQL database.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import pg from 'pg';

/** The node flags a script's first line (`#!/usr/bin/env -S node <flags>`) starts it with, so a benchmark runs a server as installed. */
export const nodeFlagsOf = (script) => (/^#!.* -S node (.*)$/m.exec(readFileSync(script, 'utf8').split('\n', 1)[0]) ?? [])[1]?.split(' ').filter(Boolean) ?? [];

/** A TCP port nothing listens on right now. */
export const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });

/** Runs `f` with the URL of a fresh database created through `adminUrl`, dropped afterwards. */
export async function withPgDatabase(adminUrl, f) {
  const name = `snf_bench_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  try {
    return await f(u.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}
