// Config for the OFFLINE differ (prisma 6.19.3, engine "js" = WebAssembly schema engine that talks to
// the database through a driver adapter, so nothing is downloaded). Used by scripts/new-migration.mjs;
// not used by the app. The adapters are the app's own 7.x packages, resolved from ../../node_modules
// (so this folder needs no native module).
//   POLYARCH_DIFFER_PROVIDER    sqlite | postgresql
//   POLYARCH_DIFFER_URL         database the engine connects to (SQLite: scratch file; PostgreSQL: any db
//                               on the test server — the shadow database is a temporary one it creates)
//   POLYARCH_DIFFER_SHADOW_URL  SQLite only: shadow database (default :memory:)
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
// PostgreSQL: the adapter version must match the engine (7.x maps pg types differently) — pure JS, installed here.
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { randomUUID } from "node:crypto";

const provider = process.env.POLYARCH_DIFFER_PROVIDER;
const url = process.env.POLYARCH_DIFFER_URL;
if (!provider || !url) throw new Error("POLYARCH_DIFFER_PROVIDER and POLYARCH_DIFFER_URL must be set (see scripts/new-migration.mjs)");

// The 6.19 schema engine replays a whole migration.sql through executeRaw() without arguments; the
// 7.x better-sqlite3 adapter prepares a single statement there. Route argument-less calls to
// executeScript() (sqlite3 exec), which is what a migration script needs.
function scriptAware(adapter) {
  return new Proxy(adapter, {
    get(target, prop, receiver) {
      if (prop === "executeRaw") {
        return async (query) => {
          if (query.args.length === 0) {
            await target.executeScript(query.sql);
            return 0;
          }
          return target.executeRaw(query);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function sqliteFactory() {
  const inner = new PrismaBetterSqlite3({ url }, { shadowDatabaseUrl: process.env.POLYARCH_DIFFER_SHADOW_URL ?? ":memory:" });
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: async () => scriptAware(await inner.connect()),
    connectToShadowDb: async () => scriptAware(await inner.connectToShadowDb()),
  };
}

// PrismaPg.connectToShadowDb() creates a temporary database and connects with { ...config, database };
// a connectionString would override that `database` (pg gives it precedence) and the "shadow" would be
// the real database — so pass the URL as separate fields.
// Known adapter bug (prisma/prisma#27403, open): columns of the catalog types "name" (oid 19) and
// "char" (oid 18) are rejected as unsupported, so the engine cannot describe a database. pg already
// parses both as strings; relabel them as text (oid 25) before the adapter looks at them.
const CATALOG_TEXT_OIDS = new Set([18, 19]);
function relabel(result) {
  for (const r of Array.isArray(result) ? result : [result]) {
    for (const f of r?.fields ?? []) if (CATALOG_TEXT_OIDS.has(f.dataTypeID)) f.dataTypeID = 25;
  }
  return result;
}
class CatalogTextClient extends pg.Client {
  query(config, values, callback) {
    if (typeof values === "function") [callback, values] = [values, undefined];
    if (config && typeof config.submit === "function") return super.query(config, values, callback);
    if (typeof callback === "function") return super.query(config, values, (err, res) => callback(err, err ? res : relabel(res)));
    return super.query(config, values).then(relabel);
  }
}

function pgConfig(raw) {
  const u = new URL(raw);
  if (u.search) throw new Error("POLYARCH_DIFFER_URL: query parameters are not supported here");
  return {
    host: decodeURIComponent(u.hostname),
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)),
    Client: CatalogTextClient,
    // The engine does not always dispose its connection; without this the idle pool keeps the CLI alive ~10 s.
    allowExitOnIdle: true,
  };
}

// Its connectToShadowDb() also drops the temporary database while its own pool is still connected
// (fails with "being accessed by other users"); this one closes the pool first and drops WITH (FORCE).
function pgFactory() {
  const config = pgConfig(url);
  const inner = new PrismaPg(config);
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: () => inner.connect(),
    async connectToShadowDb() {
      const { Client: _ignored, ...plain } = config;
      const admin = new pg.Client(plain);
      await admin.connect();
      const name = `polyarch_tmp_shadow_${randomUUID().replaceAll("-", "")}`;
      await admin.query(`CREATE DATABASE "${name}"`);
      const adapter = await new PrismaPg({ ...config, database: name }).connect();
      let disposed = false;
      return new Proxy(adapter, {
        get(target, prop, receiver) {
          if (prop === "dispose") {
            return async () => {
              if (disposed) return;
              disposed = true;
              await target.dispose();
              await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
              await admin.end();
            };
          }
          const value = Reflect.get(target, prop, receiver);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    },
  };
}

export default {
  experimental: { adapter: true },
  engine: "js",
  adapter: async () => (provider === "postgresql" ? pgFactory() : sqliteFactory()),
};
