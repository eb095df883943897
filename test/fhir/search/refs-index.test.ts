import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Encounter, Patient, Resource } from '@medplum/fhirtypes';
import type { Database } from '../../../src/db/database.js';
import { searchCompartment, searchResources } from '../../../src/fhir/search/index.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';
import { loadAll, searchRepository } from './synthea.js';

const ctx = { orgId: 'org-refs', baseUrl: 'http://fhir.test/fhir' };

/**
 * The GIN index on reference keys is partial (rows that have references); every kind of reference condition
 * the search engine writes must still be able to use it.
 */
describe.each(testDatabaseKinds())('the reference index on %s', (kind) => {
  let db: Database;
  let close: () => Promise<void>;
  const patients: Patient[] = Array.from({ length: 40 }, (_, i) => ({ resourceType: 'Patient', id: `refs-p${i}`, name: [{ family: `Refs${i}` }] }));
  const encounters: Encounter[] = patients.flatMap((p, i) =>
    [0, 1].map((k) => ({ resourceType: 'Encounter', id: `refs-e${i}-${k}`, status: k ? 'finished' : 'planned', class: { code: 'VR' }, subject: { reference: `Patient/${p.id}` } }) as Encounter),
  );

  beforeAll(async () => {
    ({ db, close } = await createTestDatabase(kind));
    await loadAll(searchRepository(db, ctx), [...patients, ...encounters] as Resource[]);
    await db.exec('ANALYZE fhir_resources');
  });
  afterAll(async () => close?.());

  /** Runs a search, then the plan of each statement it sent that reads refs, with sequential scans priced out. */
  async function plansOf(run: (q: Database) => Promise<Bundle>): Promise<{ bundle: Bundle; plans: string[] }> {
    const sent: { sql: string; params?: unknown[] }[] = [];
    const spy = { ...db, query: (sql: string, params?: unknown[]) => (sent.push({ sql, params }), db.query(sql, params)) } as Database;
    const bundle = await run(spy);
    const plans: string[] = [];
    for (const s of sent.filter((x) => x.sql.includes('refs'))) {
      plans.push(
        await db.transaction(async (tx) => {
          await tx.query('SET LOCAL enable_seqscan = off');
          const r = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${s.sql}`, s.params);
          return r.rows.map((row) => row['QUERY PLAN']).join('\n');
        }),
      );
    }
    return { bundle, plans };
  }
  const ids = (b: Bundle, mode = 'match') => (b.entry ?? []).filter((e) => e.search?.mode === mode).map((e) => e.resource!.id).sort();

  it('holds only the rows that have references', async () => {
    const def = await db.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE indexname = 'fhir_resources_refs'`);
    expect(def.rows[0].indexdef).toMatch(/WHERE \(refs <> '\{\}'::text\[\]\)/);
  });

  it('serves reference search, chaining, _has, compartments and _revinclude', async () => {
    const cases: [string, (q: Database) => Promise<Bundle>, (b: Bundle) => void][] = [
      ['reference', (q) => searchResources(q, ctx, 'Encounter', { subject: 'Patient/refs-p3' }, { strict: true }), (b) => expect(ids(b)).toEqual(['refs-e3-0', 'refs-e3-1'])],
      ['chain', (q) => searchResources(q, ctx, 'Encounter', { 'subject:Patient.name': 'Refs7' }, { strict: true }), (b) => expect(ids(b)).toEqual(['refs-e7-0', 'refs-e7-1'])],
      ['_has', (q) => searchResources(q, ctx, 'Patient', { '_has:Encounter:subject:status': 'finished', _id: 'refs-p5,refs-p6' }, { strict: true }), (b) => expect(ids(b)).toEqual(['refs-p5', 'refs-p6'])],
      ['compartment', (q) => searchCompartment(q, ctx, { compartmentType: 'Patient', compartmentId: 'refs-p9', resourceType: 'Encounter', query: {}, strict: true }), (b) => expect(ids(b)).toEqual(['refs-e9-0', 'refs-e9-1'])],
      ['_revinclude', (q) => searchResources(q, ctx, 'Patient', { _id: 'refs-p11', _revinclude: 'Encounter:subject' }, { strict: true }), (b) => expect(ids(b, 'include')).toEqual(['refs-e11-0', 'refs-e11-1'])],
    ];
    for (const [name, run, check] of cases) {
      const { bundle, plans } = await plansOf(run);
      check(bundle);
      expect(plans.length, name).toBeGreaterThan(0);
      expect(plans.join('\n'), name).toContain('fhir_resources_refs');
    }
  });
});
