import { describe, expect, it } from 'vitest';
import type { Resource } from '@medplum/fhirtypes';
import { contentHash, storedVersion, withServerMeta } from '../../../src/fhir/repository/meta.js';
import { officialExamples, syntheaResources } from '../validation/fixtures.js';

const TYPES = ['Patient', 'Practitioner', 'Organization', 'Location', 'Appointment', 'Encounter', 'Schedule', 'Slot', 'Observation'] as const;

describe('storedVersion', () => {
  const samples: Resource[] = [
    ...syntheaResources().slice(0, 300),
    ...officialExamples(TYPES).map(([, r]) => r),
    { resourceType: 'Basic' } as Resource,
    { resourceType: 'Patient', meta: { versionId: '9', lastUpdated: '2020-01-01T00:00:00Z' } } as Resource,
    { resourceType: 'Patient', meta: { versionId: '9', profile: ['http://example.org/p'], lastUpdated: '2020-01-01T00:00:00Z', tag: [{ code: 't' }] }, active: true } as Resource,
    { resourceType: 'Patient', id: 'old', meta: {}, name: [{ family: 'Ünïcode "quoted" \\ \u2028' }], extra: undefined } as unknown as Resource,
  ] as Resource[];

  it('gives the JSON text and the content hash of withServerMeta, for every shape of meta and elements', () => {
    expect(samples.length).toBeGreaterThan(300);
    for (const resource of samples) {
      const version = storedVersion(resource, 'new-id', 3, '2026-11-26T10:00:00.123Z');
      const expected = withServerMeta(resource, 'new-id', 3, '2026-11-26T10:00:00.123Z');
      expect(version.resource).toEqual(expected);
      expect(version.json).toBe(JSON.stringify(expected));
      expect(version.hash).toBe(contentHash(expected));
    }
  });

  it('hashes what a client can change and nothing the server sets', () => {
    const a = storedVersion({ resourceType: 'Patient', active: true } as Resource, 'p', 1, '2026-01-01T00:00:00.000Z');
    const b = storedVersion({ resourceType: 'Patient', active: true } as Resource, 'p', 2, '2026-02-01T00:00:00.000Z');
    const c = storedVersion({ resourceType: 'Patient', active: false } as Resource, 'p', 2, '2026-02-01T00:00:00.000Z');
    const d = storedVersion({ resourceType: 'Patient', active: true, meta: { tag: [{ code: 'x' }] } } as Resource, 'p', 2, '2026-02-01T00:00:00.000Z');
    expect(b.hash).toBe(a.hash);
    expect(c.hash).not.toBe(a.hash);
    expect(d.hash).not.toBe(a.hash);
  });
});
