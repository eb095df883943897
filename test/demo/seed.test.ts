import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Appointment, Bundle } from '@medplum/fhirtypes';
import { loadConfig } from '../../src/config.js';
import { bootstrap } from '../../src/auth/bootstrap.js';
import { seedDemoData } from '../../src/demo/seed.js';
import { createDefaultFhirStore } from '../../src/fhir/default-store.js';
import { createMeetingsModule } from '../../src/meetings/module.js';
import { DEFAULT_ORG_ID } from '../../src/tenancy.js';
import { createTestDatabase } from '../support/db.js';

describe('demo data for a new install', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase('pglite');
  });
  afterAll(() => database.close());

  it('gives the demo practitioner today’s video visits with join links, and running it twice adds nothing', async () => {
    const config = loadConfig({ PUBLIC_BASE_URL: 'http://clinic.test', DATA_DIR: '/tmp/telehealth-demo-test' });
    const store = createDefaultFhirStore(database.db);
    const first = await bootstrap(database.db, store, config);
    expect(first.created).toBe(true);
    const meetings = createMeetingsModule({ config, db: database.db, store });
    const now = new Date('2026-03-02T09:05:00Z');
    await seedDemoData({ store, meetings: meetings.service, baseUrl: 'http://clinic.test/fhir', now });
    await seedDemoData({ store, meetings: meetings.service, baseUrl: 'http://clinic.test/fhir', now });

    const repo = store.repository({ orgId: DEFAULT_ORG_ID, baseUrl: 'http://clinic.test/fhir' });
    const bundle = (await repo.search('Appointment', { actor: 'Practitioner/demo-practitioner', _sort: 'date' })) as Bundle<Appointment>;
    const appointments = (bundle.entry ?? []).map((e) => e.resource!);
    expect(appointments.map((a) => a.start)).toEqual(['2026-03-02T09:30:00.000Z', '2026-03-02T10:45:00.000Z', '2026-03-03T09:15:00.000Z']);
    for (const a of appointments) {
      expect(a.status).toBe('booked');
      expect(a.meta?.versionId).toBe('2'); // booked, then the meeting's virtualService extension
      const virtualService = a.extension?.find((e) => e.url.endsWith('extension-Appointment.virtualService'));
      const address = virtualService?.extension?.find((e) => e.url === 'address')?.valueUrl;
      expect(address).toMatch(/^http:\/\/clinic\.test\/join\/[A-Z0-9]{8,}$/);
    }
    const rows = await database.db.query<{ n: number }>('SELECT count(*)::int AS n FROM virtual_meetings');
    expect(rows.rows[0].n).toBe(3);
  });
});
