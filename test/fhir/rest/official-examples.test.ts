import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resource } from '@medplum/fhirtypes';
import { createTestServer, type TestServer } from '../../support/app.js';
import { testDatabaseKinds } from '../../support/db.js';
import { officialExamples, putResource } from '../../support/official-examples.js';

const TYPES = ['Patient', 'Practitioner', 'PractitionerRole', 'Organization', 'Location', 'Appointment', 'AppointmentResponse', 'Encounter', 'Schedule', 'Slot'];

const examples = officialExamples(TYPES);

function withoutMeta(r: Resource): Resource {
  const { meta: _m, ...rest } = r;
  const meta = r.meta ? { ...r.meta, versionId: undefined, lastUpdated: undefined } : undefined;
  const kept = meta && Object.values(meta).some((v) => v !== undefined) ? JSON.parse(JSON.stringify(meta)) : undefined;
  return kept ? ({ ...rest, meta: kept } as Resource) : (rest as Resource);
}

describe.each(testDatabaseKinds())('official R4 examples round-trip on %s', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await createTestServer(kind);
  });
  afterAll(() => server.close());

  it(`has examples of every type (${examples.length})`, () => {
    expect(new Set(examples.map((e) => e.resourceType))).toEqual(new Set(TYPES));
  });

  it('stores each with PUT and reads back the same resource apart from meta', async () => {
    const failures: string[] = [];
    for (const example of examples) {
      const put = await putResource(server, example);
      if (put.statusCode !== 201) {
        failures.push(`${example.resourceType}/${example.id}: ${put.statusCode} ${put.body.slice(0, 300)}`);
        continue;
      }
      const read = await server.app.inject({ method: 'GET', url: `/fhir/${example.resourceType}/${example.id}` });
      expect(read.statusCode).toBe(200);
      const stored = read.json() as Resource;
      expect(stored.meta?.versionId).toBe('1');
      expect(withoutMeta(stored)).toEqual(withoutMeta(example));
    }
    expect(failures).toEqual([]);
  });
});
