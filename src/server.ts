import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { loadConfig } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import { EmbeddedMaintenance } from './db/embedded-maintenance.js';
import { migrate } from './db/migrate.js';
import { createDefaultFhirStore } from './fhir/default-store.js';
import type { FhirStore } from './fhir/store.js';
import { buildApp } from './http/app.js';
import { createMeetingsModule } from './meetings/module.js';
import { createP2pSignaling, type P2pSignaling } from './meetings/p2p/index.js';
import { accounts } from './auth/accounts.js';
import { bootstrap, printBootstrapCredentials } from './auth/bootstrap.js';
import { safeLoggerOptions } from './auth/logging.js';
import { seedDemoData } from './demo/seed.js';
import { DEFAULT_ORG_ID } from './tenancy.js';

/** What a caller may swap; the product passes nothing. */
export interface ServerOptions {
  /** the FHIR store over the opened database; createDefaultFhirStore when not given */
  createStore?: (db: Database) => FhirStore;
}

/**
 * Starts the product: configuration, database (embedded when no DATABASE_URL), migrations, first-start
 * accounts and demo data, meetings with the built-in p2p signaling, HTTP server.
 */
export async function startServer(opts: ServerOptions = {}): Promise<void> {
  const config = loadConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: join(config.dataDir, 'pglite') });
  await migrate(db);
  const store = (opts.createStore ?? createDefaultFhirStore)(db);
  const firstStart = await bootstrap(db, store, config);

  // The log goes through the app once it exists; until then nothing is logged by these modules.
  let logger: FastifyBaseLogger | undefined;
  const log = {
    warn: (obj: object, msg: string) => logger?.warn(obj, msg),
    error: (obj: object, msg: string) => logger?.error(obj, msg),
  };
  let signaling: P2pSignaling | undefined;
  const meetings = createMeetingsModule({
    config,
    db,
    store,
    log,
    p2pOnRoomEnded: (event) => signaling?.server.onRoomEnded(event),
  });
  signaling = await createP2pSignaling({
    databaseUrl: config.databaseUrl,
    redisUrl: config.meetings.redisUrl,
    signingKey: meetings.p2pSigningKey,
    iceServers: config.meetings.iceServers,
    // Presence seen by our own signaling server is the p2p provider's equivalent of 100ms's webhooks.
    onPresence: async (events) => {
      for (const event of events) await meetings.webhooks.applyTrustedEvent(event);
    },
    logger: log,
  });
  const app = await buildApp({ config, db, store, meetings, signaling: signaling.server, logger: safeLoggerOptions(config.logLevel) });
  logger = app.log;

  if (firstStart.created && config.demoData) {
    const clinic = await accounts.getOrganization(db, DEFAULT_ORG_ID);
    await seedDemoData({ store, meetings: meetings.service, baseUrl: `${config.publicBaseUrl}/fhir`, timeZone: clinic?.timeZone ?? config.defaultTimeZone });
  }

  // PGlite has no autovacuum of its own (see embedded-maintenance.ts); a PostgreSQL server has.
  const maintenance = db.kind === 'pglite' ? new EmbeddedMaintenance(db, { log }) : undefined;

  const shutdown = async (signal: string) => {
    app.log.info({ signal }, 'shutting down');
    await meetings.scheduler.stop();
    await maintenance?.stop();
    await app.close();
    await signaling?.close();
    await db.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  await app.listen({ port: config.port, host: config.host });
  // Idle and overrun ends, and provider retries from the outbox.
  meetings.scheduler.start();
  maintenance?.start();
  printBootstrapCredentials(firstStart);
  app.log.info(
    `Telehealth FHIR server ready: ${config.publicBaseUrl} (FHIR at ${config.publicBaseUrl}/fhir, database: ${db.kind === 'pglite' ? `embedded PGlite in ${config.dataDir}` : 'PostgreSQL'})`,
  );
  process.stdout.write(`\nOpen ${config.publicBaseUrl} and sign in.\n`);
}
