/**
 * npm run reindex [-- --all] [--batch <n>]
 * Rebuilds search indexes after the extraction rules or SearchParameter definitions changed. Resumable.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { reindex } from '../fhir/maintenance/reindex.js';
import { extractIndexes, writeIndexRows } from '../fhir/search/index.js';

const { values } = parseArgs({ options: { all: { type: 'boolean', default: false }, batch: { type: 'string', default: '500' } } });
const config = loadConfig();
const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: join(config.dataDir, 'pglite') });
try {
  await migrate(db);
  const done = await reindex({
    db,
    deps: { extractIndexes, writeIndexRows },
    all: values.all,
    batchSize: Number(values.batch),
    onBatch: (n) => process.stdout.write(`\rreindexed ${n} resources`),
  });
  process.stdout.write(`\nDone: ${done} resources reindexed.\n`);
} finally {
  await db.close();
}
