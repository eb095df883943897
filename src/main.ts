import { join } from 'node:path';
import { loadConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { migrate } from './db/migrate.js';
import { createDefaultFhirStore } from './fhir/default-store.js';
import { buildApp } from './http/app.js';
import { createMeetingsModule } from './meetings/module.js';
import { bootstrap, printBootstrapCredentials } from './auth/bootstrap.js';
import { safeLoggerOptions } from './auth/logging.js';

/** Starts the product: configuration, database (embedded when no DATABASE_URL), migrations, HTTP server. */
async function main(): Promise<void> {
  const config = loadConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: join(config.dataDir, 'pglite') });
  await migrate(db);
  const store = createDefaultFhirStore(db);
  printBootstrapCredentials(await bootstrap(db, store, config));
  const meetings = createMeetingsModule({
    config,
    db,
    store,
    log: { warn: (obj, msg) => app.log.warn(obj, msg), error: (obj, msg) => app.log.error(obj, msg) },
  });
  const app = await buildApp({ config, db, store, meetings, logger: safeLoggerOptions(config.logLevel) });

  const shutdown = async (signal: string) => {
    app.log.info({ signal }, 'shutting down');
    await meetings.scheduler.stop();
    await app.close();
    await db.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  await app.listen({ port: config.port, host: config.host });
  // Idle and overrun ends, and provider retries from the outbox.
  meetings.scheduler.start();
  app.log.info(
    `Telehealth FHIR server ready: ${config.publicBaseUrl} (FHIR at ${config.publicBaseUrl}/fhir, database: ${db.kind === 'pglite' ? `embedded PGlite in ${config.dataDir}` : 'PostgreSQL'})`,
  );
}

main().catch((err) => {
  // eslint-disable-next-line no-console
  console.error(err);
  process.exit(1);
});
