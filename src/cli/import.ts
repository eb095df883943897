/**
 * npm run import -- <folder of .ndjson> [--org <org id>] [--batch <n>]
 * Loads FHIR NDJSON into the database the server uses (DATABASE_URL, or the embedded one under DATA_DIR).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { createDefaultFhirStore } from '../fhir/default-store.js';
import { importNdjsonFolder } from '../fhir/import/ndjson-import.js';
import { DEFAULT_ORG_ID } from '../tenancy.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { org: { type: 'string' }, batch: { type: 'string', default: '200' } },
});
const folder = positionals[0];
if (!folder) {
  process.stderr.write('usage: npm run import -- <folder of .ndjson files> [--org <org id>] [--batch <n>]\n');
  process.exit(2);
}

const config = loadConfig();
const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: join(config.dataDir, 'pglite') });
try {
  await migrate(db);
  const store = createDefaultFhirStore(db);
  const repo = store.repository({ orgId: values.org ?? DEFAULT_ORG_ID, baseUrl: `${config.publicBaseUrl}/fhir` });
  const bar = new cliProgress.SingleBar({ format: '{file} |{bar}| {loaded} loaded, {rejected} rejected', hideCursor: true }, cliProgress.Presets.shades_classic);
  let started = false;
  const summary = await importNdjsonFolder({
    repo,
    folder,
    batchSize: Number(values.batch),
    onProgress: (p) => {
      if (!started) {
        bar.start(1, 0, p);
        started = true;
      }
      bar.update(p.linesRead, p);
      bar.setTotal(Math.max(p.linesRead, 1));
    },
  });
  if (started) bar.stop();
  process.stdout.write(`\nLoaded ${summary.loaded} resources, rejected ${summary.rejected.length}.\n`);
  for (const [type, n] of Object.entries(summary.byType).sort()) process.stdout.write(`  ${type}: ${n}\n`);
  for (const r of summary.rejected.slice(0, 50)) process.stdout.write(`  rejected ${r.file}:${r.line} ${r.reason}\n`);
  if (summary.rejected.length > 50) process.stdout.write(`  … and ${summary.rejected.length - 50} more\n`);
  process.exitCode = summary.rejected.length > 0 ? 1 : 0;
} finally {
  await db.close();
}
