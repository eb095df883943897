import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Encounter, Practitioner } from '@medplum/fhirtypes';
import { createDefaultFhirStore } from '../../../src/fhir/default-store.js';
import { importNdjsonFolder } from '../../../src/fhir/import/ndjson-import.js';
import type { FhirRepository } from '../../../src/fhir/repository/repository.js';
import { createTestDatabase } from '../../support/db.js';
import { SYNTHEA_DIR } from '../../support/fixtures.js';

const FIXTURES = SYNTHEA_DIR;
const lines = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.ndjson'))
  .flatMap((f) => readFileSync(join(FIXTURES, f), 'utf8').split('\n').filter((l) => l.trim()));

// The whole data set once, on real PostgreSQL when available (faster), else on PGlite.
const kind = process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite';

describe(`NDJSON import of the Synthea fixtures on ${kind}`, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let repo: FhirRepository;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
    repo = createDefaultFhirStore(database.db).repository({ orgId: 'import-org', baseUrl: 'http://fhir.test/fhir' });
  });
  afterAll(() => database.close());

  it('loads every resource, resolving conditional references to the matching resource', { timeout: 300_000 }, async () => {
    const progress: number[] = [];
    const summary = await importNdjsonFolder({ repo, folder: FIXTURES, batchSize: 250, onProgress: (p) => progress.push(p.loaded) });
    expect(summary.rejected).toEqual([]);
    expect(summary.loaded).toBe(lines.length);
    expect(progress.length).toBeGreaterThan(10);

    const rawEncounter = lines.map((l) => JSON.parse(l)).find((r) => r.resourceType === 'Encounter' && r.participant?.[0]?.individual?.reference?.includes('?'));
    const conditional: string = rawEncounter.participant[0].individual.reference;
    expect(conditional).toMatch(/^Practitioner\?identifier=http:\/\/hl7.org\/fhir\/sid\/us-npi\|\d+$/);
    const npi = conditional.split('|')[1];

    const stored = await repo.read<Encounter>('Encounter', rawEncounter.id);
    const ref = stored.participant![0].individual!.reference!;
    expect(ref).toMatch(/^Practitioner\/[^?]+$/);
    const practitioner = await repo.read<Practitioner>('Practitioner', ref.split('/')[1]);
    expect(practitioner.identifier?.some((i) => i.system === 'http://hl7.org/fhir/sid/us-npi' && i.value === npi)).toBe(true);
  });

  it('importing the same data again writes no new versions', { timeout: 180_000 }, async () => {
    const before = await database.db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource_history');
    const { mkdtempSync, copyFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const subset = mkdtempSync(join(tmpdir(), 'ndjson-again-'));
    for (const f of ['Organization.000.ndjson', 'Practitioner.000.ndjson', 'Patient.000.ndjson', 'Encounter.000.ndjson']) {
      copyFileSync(join(FIXTURES, f), join(subset, f));
    }
    const again = await importNdjsonFolder({ repo, folder: subset, batchSize: 500 });
    expect(again.loaded).toBeGreaterThan(1000);
    expect(again.rejected).toEqual([]);
    const after = await database.db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource_history');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('rejects a bad line with its reason and loads the rest of its batch', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'ndjson-'));
    writeFileSync(
      join(dir, 'Patient.ndjson'),
      [
        JSON.stringify({ resourceType: 'Patient', id: 'good-1' }),
        JSON.stringify({ resourceType: 'Patient', id: 'bad-1', gender: 'robot' }),
        '{not json',
        JSON.stringify({ resourceType: 'Patient', id: 'good-2' }),
      ].join('\n'),
    );
    const summary = await importNdjsonFolder({ repo, folder: dir });
    expect(summary.loaded).toBe(2);
    expect(summary.rejected.map((r) => r.line)).toEqual([3, 2]);
    expect(summary.rejected.find((r) => r.line === 2)?.reason).toContain('gender');
  });
});
