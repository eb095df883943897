import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Encounter, Patient, Resource, ValueSet } from '@medplum/fhirtypes';
import type { Database } from '../../../src/db/database.js';
import { migrate } from '../../../src/db/migrate.js';
import { migrations } from '../../../src/db/migrations/index.js';
import { SEARCH_INDEX_VERSION } from '../../../src/fhir/search/types.js';
import { extractIndexes, searchCompartment, searchResources, writeIndexRows } from '../../../src/fhir/search/index.js';
import { indexedLookup, keyHashes, keyIndexHashes, ofTypeKey, tokenLookup, uriKey } from '../../../src/fhir/search/tokens.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';
import { loadAll, searchRepository } from './synthea.js';

const ctx = { orgId: 'org-refs', baseUrl: 'http://fhir.test/fhir' };

/**
 * The GIN indexes on token and reference keys hold hashes of the keys, which the server writes into columns
 * beside the key texts (migration 014); the one on reference keys is partial (rows that have references). Every kind of condition the search engine writes must still be
 * able to use them, and return exactly the rows whose key texts match.
 */
describe.each(testDatabaseKinds())('the token and reference indexes on %s', (kind) => {
  let db: Database;
  let close: () => Promise<void>;
  const patients: Patient[] = Array.from({ length: 40 }, (_, i) => ({ resourceType: 'Patient', id: `refs-p${i}`, name: [{ family: `Refs${i}` }] }));
  const encounters: Encounter[] = patients.flatMap((p, i) =>
    [0, 1].map((k) => ({ resourceType: 'Encounter', id: `refs-e${i}-${k}`, status: k ? 'finished' : 'planned', class: { code: 'VR' }, subject: { reference: `Patient/${p.id}` } }) as Encounter),
  );
  // The same identifier value in two systems and without one: found through the same index key `identifier=MRN-7`,
  // told apart only by the key texts.
  const mr = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] };
  const tokenPatients: Patient[] = [
    { resourceType: 'Patient', id: 'tok-a', identifier: [{ system: 'urn:sys:a', value: 'MRN-7', type: mr }], gender: 'female' },
    { resourceType: 'Patient', id: 'tok-b', identifier: [{ system: 'urn:sys:b', value: 'MRN-7' }], gender: 'male' },
    { resourceType: 'Patient', id: 'tok-c', identifier: [{ value: 'MRN-7' }], name: [{ family: 'Smith' }] },
  ];
  const valueSets: ValueSet[] = Array.from({ length: 40 }, (_, i) => ({
    resourceType: 'ValueSet', id: i ? `tok-vs${i}` : 'tok-vs', url: `http://example.org/ValueSet/tok${i || ''}`, status: 'active',
  }));

  beforeAll(async () => {
    ({ db, close } = await createTestDatabase(kind));
    await loadAll(searchRepository(db, ctx), [...patients, ...encounters, ...tokenPatients, ...valueSets] as Resource[]);
    // 60 copies of each of these rows without any key, so that reading every row of a type is no cheaper to the
    // planner than the indexes, as in any real table; the copies match no search.
    await db.exec(`
      INSERT INTO fhir_resources (resource_type, id, org_id, version_id, last_updated, created_at, deleted, content_hash, resource_data, index_version)
      SELECT resource_type, id || '-copy-' || g, org_id, version_id, last_updated, created_at, deleted, content_hash, resource_data, index_version
      FROM fhir_resources, generate_series(1, 60) g WHERE org_id = '${ctx.orgId}'`);
    await db.exec('ANALYZE fhir_resources');
  });
  afterAll(async () => close?.());

  /** Runs a search, then the plan of each statement it sent that reads refs, with sequential scans priced out. */
  async function plansOf(run: (q: Database) => Promise<Bundle>): Promise<{ bundle: Bundle; plans: string[] }> {
    const sent: { sql: string; params?: unknown[] }[] = [];
    const spy = { ...db, query: (sql: string, params?: unknown[]) => (sent.push({ sql, params }), db.query(sql, params)) } as Database;
    const bundle = await run(spy);
    const plans: string[] = [];
    for (const s of sent.filter((x) => x.sql.includes('refs') || x.sql.includes('tokens'))) {
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

  it('holds hashes of the keys; the reference index only the rows that have references', async () => {
    const def = async (name: string) => (await db.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE indexname = $1`, [name])).rows[0].indexdef;
    expect(await def('fhir_resources_refs')).toMatch(/USING gin \(ref_hashes\) WHERE \(ref_hashes <> '\{\}'::bigint\[\]\)/);
    expect(await def('fhir_resources_tokens')).toMatch(/USING gin \(token_hashes\)$/);
  });

  it('holds every index key a token lookup enters through, and no system-specific key', async () => {
    const lookups = [
      tokenLookup('identifier', 'urn:sys:a', 'MRN-7'), tokenLookup('identifier', '', 'MRN-7'), tokenLookup('identifier', undefined, 'MRN-7'),
      tokenLookup('code', 'http://x|y', 'a|b'), indexedLookup(ofTypeKey('identifier', 'http://terminology.hl7.org/CodeSystem/v2-0203', 'MR', 'MRN-7')),
      indexedLookup(uriKey('url', 'http://example.org/ValueSet/tok')), indexedLookup('phonetic=S530'),
    ];
    const held = (tokens: string[]) => keyIndexHashes({ tokens, refs: [] }).tokens.toStrings();
    for (const l of lookups) {
      expect(l.indexKey, l.key).toBeDefined();
      // what the index holds for a resource with the lookup's key and its index key
      expect(held([...new Set([l.key, l.indexKey!])]), l.key).toEqual(keyHashes([l.indexKey!]).toStrings());
    }
    expect(tokenLookup('identifier', 'urn:sys:a', '').indexKey).toBeUndefined();
    expect(held(['identifier|urn:sys:a|', 'identifier||MRN-7', 'identifier|urn:sys:a|MRN-7'])).toEqual([]);
  });

  it('holds, in every row, the hashes that SQL computes from its keys (rows written set-wise and chained searches agree)', async () => {
    const sample = ['identifier=MRN-7', 'identifier|urn:sys:a|MRN-7', 'identifier:of-type|a|b|c', 'name=Zoë 😀', 'phonetic=S530', 'x|y', ''];
    const r = await db.query<{ tokens: string[]; refs: string[] }>(
      'SELECT fhir_token_index_hashes($1::text[])::text[] AS tokens, fhir_key_hashes($1::text[])::text[] AS refs',
      [sample],
    );
    const js = keyIndexHashes({ tokens: sample, refs: sample });
    expect(r.rows[0].tokens).toEqual(js.tokens.toStrings());
    expect(r.rows[0].refs).toEqual(js.refs.toStrings());
    const rows = await db.query<{ n: number; bad: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE token_hashes <> fhir_token_index_hashes(tokens) OR ref_hashes <> fhir_key_hashes(refs))::int AS bad
       FROM fhir_resources`,
    );
    expect(rows.rows[0].n).toBeGreaterThan(120);
    expect(rows.rows[0].bad).toBe(0);
  });

  it('finds tokens through the index and returns exactly the rows whose keys match', async () => {
    const search = (query: Record<string, string>) => (q: Database) => searchResources(q, ctx, 'Patient', query, { strict: true });
    const cases: [string, (q: Database) => Promise<Bundle>, string[], boolean][] = [
      ['any system', search({ identifier: 'MRN-7' }), ['tok-a', 'tok-b', 'tok-c'], true],
      ['system|code', search({ identifier: 'urn:sys:b|MRN-7' }), ['tok-b'], true],
      ['|code', search({ identifier: '|MRN-7' }), ['tok-c'], true],
      ['OR of two systems', search({ identifier: 'urn:sys:a|MRN-7,urn:sys:b|MRN-7' }), ['tok-a', 'tok-b'], true],
      [':of-type', search({ 'identifier:of-type': 'http://terminology.hl7.org/CodeSystem/v2-0203|MR|MRN-7' }), ['tok-a'], true],
      ['code', search({ gender: 'female', identifier: 'MRN-7' }), ['tok-a'], true],
      // a name that sounds the same, or starts the same (strings): an OR the index alone cannot answer
      ['phonetic', search({ phonetic: 'Smyth' }), ['tok-c'], false],
      ['uri', (q) => searchResources(q, ctx, 'ValueSet', { url: 'http://example.org/ValueSet/tok' }, { strict: true }), ['tok-vs'], true],
      // any code of a system: not in the index, read from the keys
      ['system|', search({ identifier: 'urn:sys:a|' }), ['tok-a'], false],
      [':not', search({ 'identifier:not': 'urn:sys:a|MRN-7', _id: 'tok-a,tok-b,tok-c' }), ['tok-b', 'tok-c'], false],
    ];
    for (const [name, run, expected, indexed] of cases) {
      const { bundle, plans } = await plansOf(run);
      expect(ids(bundle), name).toEqual(expected);
      if (indexed) expect(plans.join('\n'), name).toContain('fhir_resources_tokens');
    }
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

describe.each(testDatabaseKinds())('upgrading to the key hash columns (migration 14) on %s', (kind) => {
  it('gives the rows written before it the hashes the server writes, and their searches keep finding them', async () => {
    const { db, close } = await createTestDatabase(kind, { migrations: migrations.filter((m) => m.version < 14) });
    try {
      const resources: Resource[] = [
        { resourceType: 'Patient', id: 'up-p', identifier: [{ system: 'urn:mrn', value: 'UP-1' }], gender: 'other', name: [{ family: 'Upgrade' }] },
        { resourceType: 'Encounter', id: 'up-e', status: 'finished', class: { code: 'VR' }, subject: { reference: 'Patient/up-p' } },
      ];
      // The rows as the server wrote them before: key texts on the row, their hashes only in the index expressions.
      for (const r of resources) {
        const indexes = extractIndexes(r);
        await db.query(
          `INSERT INTO fhir_resources (resource_type, id, org_id, version_id, last_updated, created_at, deleted, content_hash, resource_data, tokens, refs, texts, index_version)
           VALUES ($1, $2, $3, 1, now(), now(), false, 'h', $4, $5, $6, $7, $8)`,
          [r.resourceType, r.id, ctx.orgId, r, indexes.tokens, indexes.refs, indexes.texts, SEARCH_INDEX_VERSION],
        );
        await writeIndexRows(db, r.resourceType, r.id!, indexes, { isNew: true });
      }
      expect(await migrate(db)).toEqual(migrations.filter((m) => m.version >= 14).map((m) => m.version));
      for (const r of resources) {
        const row = await db.query<{ tokens: string[]; refs: string[] }>(
          'SELECT token_hashes::text[] AS tokens, ref_hashes::text[] AS refs FROM fhir_resources WHERE resource_type = $1 AND id = $2',
          [r.resourceType, r.id],
        );
        const expected = keyIndexHashes(extractIndexes(r));
        expect(row.rows[0].tokens.length, r.resourceType).toBeGreaterThan(0);
        expect(row.rows[0].tokens).toEqual(expected.tokens.toStrings());
        expect(row.rows[0].refs).toEqual(expected.refs.toStrings());
      }
      const found = async (type: string, query: Record<string, string>) =>
        ((await searchResources(db, ctx, type, query, { strict: true })).entry ?? []).map((e) => e.resource!.id);
      expect(await found('Patient', { identifier: 'urn:mrn|UP-1' })).toEqual(['up-p']);
      expect(await found('Patient', { gender: 'other' })).toEqual(['up-p']);
      expect(await found('Encounter', { subject: 'Patient/up-p' })).toEqual(['up-e']);
      expect(await found('Encounter', { 'subject:Patient.identifier': 'urn:mrn|UP-1' })).toEqual(['up-e']);
    } finally {
      await close();
    }
  });
});
