import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Condition, Encounter, Patient, Resource } from '@medplum/fhirtypes';
import type { Database } from '../../../src/db/database.js';
import type { FhirRepository } from '../../../src/fhir/repository/repository.js';
import { OperationOutcomeError } from '../../../src/fhir/outcomes.js';
import { executeSearch, parseSearchRequest, searchCompartment } from '../../../src/fhir/search/index.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';
import { loadAll, readNdjson, resolveConditionalReferences, searchRepository } from './synthea.js';

const BASE = 'http://fhir.test/fhir';
const ORG = 'org-a';
const ctx = { orgId: ORG, baseUrl: BASE };

const all = resolveConditionalReferences(
  ['Organization', 'Location', 'Practitioner', 'Patient', 'Encounter', 'Condition'].flatMap((t) => readNdjson(t)),
);
const patients = all.filter((r): r is Patient => r.resourceType === 'Patient');
const encounters = all.filter((r): r is Encounter => r.resourceType === 'Encounter');
const conditions = all.filter((r): r is Condition => r.resourceType === 'Condition');

const ids = (b: Bundle, mode = 'match') => (b.entry ?? []).filter((e) => e.search?.mode === mode).map((e) => e.resource!.id!);
const sorted = (a: string[]) => [...a].sort();
const fold = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();

const DAY = 86_400_000;
/** An Encounter's period in epoch ms; an open end is Infinity. */
const periodOf = (e: Encounter) => [Date.parse(e.period!.start!), e.period!.end ? Date.parse(e.period!.end) : Infinity] as const;
const dayStart = (day: string) => Date.parse(`${day}T00:00:00Z`);
/** `date=ge<day>`, `date=lt<day>` and `date=<day>` on a Period, as the specification defines them on ranges. */
const geDay = (e: Encounter, day: string) => {
  const [start, end] = periodOf(e);
  return end >= dayStart(day) + DAY || (start >= dayStart(day) && end < dayStart(day) + DAY);
};
const ltDay = (e: Encounter, day: string) => periodOf(e)[0] < dayStart(day);
const onDay = (e: Encounter, day: string) => {
  const [start, end] = periodOf(e);
  return start >= dayStart(day) && end < dayStart(day) + DAY;
};

/** Query of a Bundle link, as the HTTP layer would hand it back to search. */
function queryOf(url: string): Record<string, string[]> {
  const q: Record<string, string[]> = {};
  for (const [k, v] of new URL(url).searchParams) (q[k] ??= []).push(v);
  return q;
}

describe.each(testDatabaseKinds())('search on %s', (kind) => {
  let db: Database;
  let close: () => Promise<void>;
  let repo: FhirRepository;
  const search = async (type: string, query: Record<string, string | string[]>, strict = false) =>
    executeSearch(db, ctx, parseSearchRequest(type, query, { strict }));

  beforeAll(async () => {
    ({ db, close } = await createTestDatabase(kind));
    repo = searchRepository(db, ctx);
    await loadAll(repo, all);
    // Another organisation's patient and a deleted patient, both with the name of a real one: never found.
    const twin = { ...patients[0], id: 'other-org-twin' };
    await loadAll(searchRepository(db, { orgId: 'org-b', baseUrl: BASE }), [twin]);
    await repo.update({ ...patients[0], id: 'deleted-twin' });
    await repo.delete('Patient', 'deleted-twin');
  }, 120_000);
  afterAll(async () => close?.());

  it('finds patients by family name, case- and accent-insensitive starts-with, only in the org and not deleted', async () => {
    const family = patients[0].name![0].family!;
    for (const q of [family, family.slice(0, 3).toUpperCase()]) {
      const expected = patients.filter((p) => p.name?.some((n) => fold(n.family ?? '').startsWith(fold(q)))).map((p) => p.id!);
      const b = await search('Patient', { family: q, _count: '100' });
      expect(sorted(ids(b))).toEqual(sorted(expected));
    }
    const exact = await search('Patient', { 'family:exact': family.toLowerCase() });
    expect(ids(exact)).toEqual(family === family.toLowerCase() ? expect.anything() : []);
  });

  it('finds the encounters of a patient in a date range', async () => {
    // The patient with the most encounters, and three years around the middle one.
    const counts = new Map<string, number>();
    for (const e of encounters) counts.set(e.subject!.reference!, (counts.get(e.subject!.reference!) ?? 0) + 1);
    const patient = [...counts].sort((a, b) => b[1] - a[1])[0][0].split('/')[1];
    const own = encounters.filter((e) => e.subject?.reference === `Patient/${patient}`).map((e) => e.period!.start!).sort();
    const year = Number(own[Math.floor(own.length / 2)].slice(0, 4));
    const [from, to] = [`${year - 1}-01-01`, `${year + 2}-01-01`];
    const expected = encounters
      .filter((e) => e.subject?.reference === `Patient/${patient}`)
      .filter((e) => geDay(e, from) && ltDay(e, to))
      .map((e) => e.id!);
    expect(expected.length).toBeGreaterThan(0);
    const b = await search('Encounter', { subject: `Patient/${patient}`, date: [`ge${from}`, `lt${to}`], _count: '1000' });
    expect(sorted(ids(b))).toEqual(sorted(expected));
    const byPlainId = await search('Encounter', { patient, date: [`ge${from}`, `lt${to}`], _count: '1000' });
    expect(sorted(ids(byPlainId))).toEqual(sorted(expected));
  });

  it('finds conditions by SNOMED code, with and without the system, and with :not', async () => {
    const code = conditions[0].code!.coding![0].code!;
    const expected = conditions.filter((c) => c.code?.coding?.some((x) => x.system === 'http://snomed.info/sct' && x.code === code)).map((c) => c.id!);
    const withSystem = await search('Condition', { code: `http://snomed.info/sct|${code}`, _count: '1000' });
    expect(sorted(ids(withSystem))).toEqual(sorted(expected));
    const codeOnly = await search('Condition', { code, _count: '1000' });
    expect(sorted(ids(codeOnly))).toEqual(sorted(expected));
    const wrongSystem = await search('Condition', { code: `http://loinc.org|${code}` });
    expect(ids(wrongSystem)).toEqual([]);
    const not = await search('Condition', { 'code:not': code, _total: 'accurate', _count: '0' });
    expect(not.total).toBe(conditions.length - expected.length);
    const text = conditions[0].code!.text!;
    const byText = await search('Condition', { 'code:text': text.slice(0, 6), _count: '1000' });
    expect(ids(byText)).toEqual(expect.arrayContaining(expected));
  });

  it('includes the patient of matched encounters once, and reverse-includes all encounters of a patient', async () => {
    const patient = patients[2].id!;
    const b = await search('Encounter', { subject: `Patient/${patient}`, _include: 'Encounter:patient', _count: '5' });
    expect(ids(b)).toHaveLength(5);
    expect(ids(b, 'include')).toEqual([patient]);
    const rev = await search('Patient', { _id: patient, _revinclude: 'Encounter:subject' });
    expect(ids(rev)).toEqual([patient]);
    const expected = encounters.filter((e) => e.subject?.reference === `Patient/${patient}`).map((e) => e.id!);
    expect(sorted(ids(rev, 'include'))).toEqual(sorted(expected));
    expect(rev.entry![0].fullUrl).toBe(`${BASE}/Patient/${patient}`);
  });

  it('follows _include:iterate from included resources, and plain _include only from the matches', async () => {
    const patient = patients[2].id!;
    const query = { patient: `Patient/${patient}`, _sort: 'recorded-date', _count: '3' };
    const idOf = (ref: string | undefined) => ref?.split('/')[1];
    const iterated = await search('Condition', { ...query, _include: 'Condition:encounter', '_include:iterate': 'Encounter:service-provider' });
    const matched = conditions.filter((c) => ids(iterated).includes(c.id!));
    expect(matched).toHaveLength(3);
    const encounterIds = new Set(matched.map((c) => idOf(c.encounter?.reference)!));
    const organizationIds = new Set(encounters.filter((e) => encounterIds.has(e.id!)).map((e) => idOf(e.serviceProvider?.reference)!));
    expect(organizationIds.size).toBeGreaterThan(0);
    expect(sorted(ids(iterated, 'include'))).toEqual(sorted([...encounterIds, ...organizationIds]));

    const flat = await search('Condition', { ...query, _include: ['Condition:encounter', 'Encounter:service-provider'] });
    expect(sorted(ids(flat, 'include'))).toEqual(sorted([...encounterIds]));

    // reverse includes iterate too: the conditions recorded in a patient's encounters
    const rev = await search('Patient', { _id: patient, _revinclude: 'Encounter:subject', '_revinclude:iterate': 'Condition:encounter' });
    const ofPatient = new Set(encounters.filter((e) => e.subject?.reference === `Patient/${patient}`).map((e) => e.id!));
    const conditionIds = conditions.filter((c) => ofPatient.has(idOf(c.encounter?.reference)!)).map((c) => c.id!);
    expect(conditionIds.length).toBeGreaterThan(0);
    expect(sorted(ids(rev, 'include'))).toEqual(sorted([...ofPatient, ...conditionIds]));
  });

  it('pages through all matches with keyset cursors: each exactly once, in order, and back again', async () => {
    const seen: string[] = [];
    const starts: number[] = [];
    let query: Record<string, string | string[]> = { _sort: 'date', _count: '97' };
    const pages: string[][] = [];
    for (;;) {
      const b = await search('Encounter', query);
      pages.push(ids(b));
      seen.push(...ids(b));
      for (const e of b.entry ?? []) starts.push(Date.parse((e.resource as Encounter).period!.start!));
      const next = b.link?.find((l) => l.relation === 'next');
      if (!next) break;
      expect(next.url).not.toMatch(/offset/i);
      query = queryOf(next.url!);
    }
    expect(seen).toHaveLength(encounters.length);
    expect(new Set(seen).size).toBe(encounters.length);
    for (let i = 1; i < starts.length; i++) expect(starts[i]).toBeGreaterThanOrEqual(starts[i - 1]);
    // From the second page, the previous link leads back to the first.
    const first = await search('Encounter', { _sort: 'date', _count: '97' });
    const second = await search('Encounter', queryOf(first.link!.find((l) => l.relation === 'next')!.url!));
    const back = await search('Encounter', queryOf(second.link!.find((l) => l.relation === 'previous')!.url!));
    expect(ids(back)).toEqual(pages[0]);
  });

  it('pages a date-filtered search sorted by the same date, descending: in order, each once, and back again', async () => {
    // Encounter.period gives one date row per Encounter, so the page query joins that row (joinableDateFilter).
    const starts = encounters.map((e) => e.period!.start!).sort();
    const from = starts[Math.floor(starts.length / 3)].slice(0, 10);
    const expected = encounters
      .filter((e) => geDay(e, from))
      .sort((a, b) => Date.parse(b.period!.start!) - Date.parse(a.period!.start!) || (a.id! < b.id! ? -1 : 1))
      .map((e) => e.id!);
    expect(expected.length).toBeGreaterThan(30);
    const pages: Bundle[] = [];
    let query: Record<string, string | string[]> = { date: `ge${from}`, _sort: '-date', _count: '150' };
    for (;;) {
      const b = await search('Encounter', query);
      pages.push(b);
      const next = b.link?.find((l) => l.relation === 'next');
      if (!next) break;
      query = queryOf(next.url!);
    }
    expect(pages.flatMap((b) => ids(b))).toEqual(expected);
    const back = await search('Encounter', queryOf(pages[2].link!.find((l) => l.relation === 'previous')!.url!));
    expect(ids(back)).toEqual(ids(pages[1]));
    // Two values are alternatives; the same parameter twice must both hold, here on the one row each has.
    const day = (e: Encounter) => e.period!.start!.slice(0, 10);
    const [d1, d2] = [day(encounters[0]), day(encounters[encounters.length - 1])];
    const either = await search('Encounter', { date: `${d1},${d2}`, _sort: 'date', _count: '1000' });
    expect(sorted(ids(either))).toEqual(sorted(encounters.filter((e) => onDay(e, d1) || onDay(e, d2)).map((e) => e.id!)));
    const both = await search('Encounter', { date: [`ge${from}`, `lt${from}`], _count: '1000' });
    expect(sorted(ids(both))).toEqual(sorted(encounters.filter((e) => geDay(e, from) && ltDay(e, from)).map((e) => e.id!)));
  });

  it('sorts by several keys with a stable tie-break on id', async () => {
    const expected = [...patients]
      .sort((a, b) =>
        (a.gender ?? '').localeCompare(b.gender ?? '') ||
        (b.birthDate ?? '').localeCompare(a.birthDate ?? '') ||
        (a.id! < b.id! ? -1 : 1),
      )
      .map((p) => p.id!);
    const seen: string[] = [];
    let query: Record<string, string | string[]> = { _sort: 'gender,-birthdate', _count: '4' };
    for (;;) {
      const b = await search('Patient', query);
      seen.push(...ids(b));
      const next = b.link?.find((l) => l.relation === 'next');
      if (!next) break;
      query = queryOf(next.url!);
    }
    expect(seen).toEqual(expected);
  });

  it('follows one level of chaining and _has', async () => {
    const family = patients[3].name![0].family!;
    const ofFamily = new Set(patients.filter((p) => p.name?.some((n) => fold(n.family ?? '').startsWith(fold(family)))).map((p) => `Patient/${p.id}`));
    const expected = encounters.filter((e) => ofFamily.has(e.subject!.reference!)).map((e) => e.id!);
    const b = await search('Encounter', { 'subject:Patient.family': family, _count: '1000' });
    expect(sorted(ids(b))).toEqual(sorted(expected));
    const code = conditions[0].code!.coding![0].code!;
    const withCondition = new Set(conditions.filter((c) => c.code?.coding?.some((x) => x.code === code)).map((c) => c.subject!.reference!.split('/')[1]));
    const has = await search('Patient', { '_has:Condition:patient:code': code, _count: '100' });
    expect(sorted(ids(has))).toEqual(sorted([...withCondition]));
  });

  it('searches a patient compartment', async () => {
    const patient = patients[4].id!;
    const b = await searchCompartment(db, ctx, { compartmentType: 'Patient', compartmentId: patient, resourceType: 'Encounter', query: { _count: '1000' }, strict: false });
    const expected = encounters.filter((e) => e.subject?.reference === `Patient/${patient}`).map((e) => e.id!);
    expect(sorted(ids(b))).toEqual(sorted(expected));
    expect(b.link![0].url).toBe(`${BASE}/Patient/${patient}/Encounter?_count=1000`);
  });

  it('reports unknown parameters leniently and rejects them under strict handling', async () => {
    const b = await search('Patient', { unknown: 'x', _count: '1' });
    const outcomeEntry = b.entry!.find((e) => e.search?.mode === 'outcome');
    expect(outcomeEntry?.resource?.resourceType).toBe('OperationOutcome');
    expect(ids(b)).toHaveLength(1);
    await expect(search('Patient', { unknown: 'x' }, true)).rejects.toBeInstanceOf(OperationOutcomeError);
    await expect(search('Patient', { birthdate: 'not-a-date' })).rejects.toMatchObject({ status: 400 });
    // Not on the calendar: refused, not rolled over into another date (2026-13-45 would be 14 February 2027).
    await expect(search('Encounter', { date: '2026-13-45' })).rejects.toMatchObject({ status: 400 });
    await expect(search('Patient', { birthdate: 'lt2026-02-30' })).rejects.toMatchObject({ status: 400 });
  });

  it('answers _summary=count, _total, _elements, :missing and common parameters', async () => {
    const count = await search('Patient', { _summary: 'count' });
    expect(count.total).toBe(patients.length);
    expect(count.entry).toBeUndefined();
    const est = await search('Encounter', { _total: 'estimate', _count: '1' });
    expect(est.total).toBeGreaterThan(0);
    const el = await search('Patient', { _elements: 'gender', _count: '1' });
    const r = el.entry![0].resource as Patient;
    expect(Object.keys(r).sort()).toEqual(['gender', 'id', 'meta', 'resourceType']);
    const summary = await search('Patient', { _summary: 'true', _count: '1' });
    const sr = summary.entry![0].resource as Patient;
    expect(sr.name).toBeDefined();
    expect(sr.text).toBeUndefined();
    expect(sr.meta?.tag?.some((t) => t.code === 'SUBSETTED')).toBe(true);
    const deceased = patients.filter((p) => p.deceasedDateTime).map((p) => p.id!);
    const missing = await search('Patient', { 'death-date:missing': 'false' });
    expect(sorted(ids(missing))).toEqual(sorted(deceased));
    const profile = (patients[0].meta?.profile ?? [])[0];
    const byProfile = await search('Patient', { _profile: profile, _count: '100' });
    expect(ids(byProfile)).toHaveLength(patients.length);
    const updated = await search('Patient', { _lastUpdated: `ge${new Date(Date.now() - 3_600_000).toISOString().slice(0, 10)}`, _count: '100' });
    expect(ids(updated)).toHaveLength(patients.length);
  });

  it('keeps Bundle shape: searchset, self link, fullUrl, match mode', async () => {
    const b = await search('Practitioner', { _count: '2' });
    expect(b.resourceType).toBe('Bundle');
    expect(b.type).toBe('searchset');
    expect(b.link![0]).toEqual({ relation: 'self', url: `${BASE}/Practitioner?_count=2` });
    const r: Resource = b.entry![0].resource!;
    expect(b.entry![0].fullUrl).toBe(`${BASE}/Practitioner/${r.id}`);
  });
});
