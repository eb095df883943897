import { describe, expect, it } from 'vitest';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import type { Patient, Resource } from '@medplum/fhirtypes';
import { extractIndexes, isFastPath } from '../../../src/fhir/search/extract.js';
import { getSearchParam, hasAtMostOneDateRow, searchParamsForCapabilityStatement, searchParamsOf } from '../../../src/fhir/search/parameters.js';
import { isoInstant } from '../../../src/fhir/instant.js';
import { dateBounds, dateRange, numberRange, patternDateBounds, searchDateRange } from '../../../src/fhir/search/ranges.js';
import { seededRandom } from '../../../bench/support/search-dataset.js';
import { readNdjson } from './synthea.js';
import { normalizeString, ofTypeKey, textKey, tokenKeys, tokenSearchKey } from '../../../src/fhir/search/tokens.js';

const patient: Resource = {
  resourceType: 'Patient',
  id: 'p1',
  meta: { tag: [{ system: 'http://example.org/tags', code: 'vip' }], profile: ['http://example.org/StructureDefinition/p'] },
  identifier: [
    {
      system: 'http://hospital.example/mrn',
      value: 'MRN-1',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }], text: 'Medical record' },
    },
  ],
  active: true,
  name: [{ family: 'Müller', given: ['José', 'Ann'] }],
  telecom: [
    { system: 'phone', value: '555-1234' },
    { system: 'email', value: 'jose@example.org' },
  ],
  gender: 'male',
  birthDate: '1980-02-29',
  deceasedBoolean: false,
  address: [{ line: ['1 Main St'], city: 'Springfield', postalCode: '12345' }],
  generalPractitioner: [{ reference: 'Practitioner/d1/_history/3' }, { reference: '#contained' }],
  managingOrganization: { reference: 'http://other.example/fhir/Organization/o1' },
};

describe('extractIndexes', () => {
  const ix = extractIndexes(patient);

  it('encodes tokens of Identifier, ContactPoint, code, boolean and the common meta parameters', () => {
    expect(ix.tokens).toEqual(
      expect.arrayContaining([
        ...tokenKeys('identifier', 'http://hospital.example/mrn', 'MRN-1'),
        ofTypeKey('identifier', 'http://terminology.hl7.org/CodeSystem/v2-0203', 'MR', 'MRN-1'),
        tokenSearchKey('phone', undefined, '555-1234'),
        tokenSearchKey('email', undefined, 'jose@example.org'),
        tokenSearchKey('telecom', undefined, '555-1234'),
        tokenSearchKey('gender', undefined, 'male'),
        tokenSearchKey('gender', '', 'male'),
        tokenSearchKey('active', undefined, 'true'),
        tokenSearchKey('deceased', undefined, 'false'),
        tokenSearchKey('_tag', 'http://example.org/tags', 'vip'),
        '_profile=http://example.org/StructureDefinition/p',
      ]),
    );
    expect(ix.tokens).not.toContain(tokenSearchKey('phone', undefined, 'jose@example.org'));
  });

  it('indexes deceased as the FHIRPath engine evaluates its expression, without the engine', () => {
    const expression = getSearchParam('Patient', 'deceased')!.expressionParts[0];
    expect(isFastPath(expression)).toBe(true);
    const engine = fhirpath.compile(expression, r4Model);
    const variants: Partial<Patient>[] = [{}, { deceasedBoolean: true }, { deceasedBoolean: false }, { deceasedDateTime: '2020-02-02' }, { deceasedDateTime: '2020' }];
    for (const variant of variants) {
      const p: Patient = { resourceType: 'Patient', ...variant };
      const [value] = engine(p) as boolean[];
      expect(extractIndexes(p).tokens.filter((k) => k.startsWith('deceased'))).toEqual(tokenKeys('deceased', undefined, String(value)));
    }
  });

  it('keeps relative references without version, absolute ones as written, and drops contained ones', () => {
    expect(ix.refs).toEqual(
      expect.arrayContaining(['general-practitioner|Practitioner/d1', 'organization|http://other.example/fhir/Organization/o1']),
    );
    expect(ix.refs.some((r) => r.includes('#'))).toBe(false);
  });

  it('indexes name and address parts normalised and exact', () => {
    expect(ix.strings).toEqual(
      expect.arrayContaining([
        { param: 'family', value: 'muller', exact: 'Müller' },
        { param: 'given', value: 'jose', exact: 'José' },
        { param: 'given', value: 'ann', exact: 'Ann' },
        { param: 'address-city', value: 'springfield', exact: 'Springfield' },
        { param: 'address', value: '1 main st', exact: '1 Main St' },
      ]),
    );
  });

  it('stores each name and address part once: under family, given, address-city… and not again under name or address', () => {
    const values = (param: string) => ix.strings.filter((s) => s.param === param).map((s) => s.value);
    expect(values('name')).toEqual([]);
    expect(values('address')).toEqual(['1 main st']);
    expect(values('address-postalcode')).toEqual(['12345']);
    expect(values('phonetic')).toEqual([]);
    // phonetic keeps Soundex keys of family and given names instead (Müller → M460, José → J200, Ann → A500).
    expect(ix.tokens.filter((t) => t.startsWith('phonetic=')).sort()).toEqual(['phonetic=A500', 'phonetic=J200', 'phonetic=M460']);
  });

  it('keeps each key and string row once, in the order first found, for a parameter with few values or many', () => {
    const loinc = 'http://loinc.org';
    for (const distinct of [3, 40]) {
      // every code twice, the display repeated, and one name part repeated
      const codes = Array.from({ length: distinct }, (_, i) => `${1000 + i}-${i % 10}`);
      const coding = [...codes, ...codes].map((code) => ({ system: loinc, code, display: 'Same display' }));
      const observation: Resource = {
        resourceType: 'Observation',
        status: 'final',
        code: { coding },
        subject: { reference: 'Patient/p1' },
        focus: [{ reference: 'Patient/p1' }, { reference: 'Patient/p1' }],
      };
      const keys = extractIndexes(observation);
      const expectedCodeKeys = [...new Set(codes.flatMap((code) => tokenKeys('code', loinc, code)))];
      expect(keys.tokens.filter((k) => k.startsWith('code=') || k.startsWith('code|'))).toEqual(expectedCodeKeys);
      expect(new Set(keys.tokens).size).toBe(keys.tokens.length);
      expect(keys.texts.filter((t) => t.startsWith('code|'))).toEqual([textKey('code', 'same display')]);
      expect(keys.refs.filter((r) => r.startsWith('focus|'))).toEqual(['focus|Patient/p1']);
    }
    const twice = extractIndexes({ resourceType: 'Patient', name: [{ family: 'Lee', given: ['Ann'] }, { family: 'Lee', given: ['Ann', 'Bo'] }] });
    expect(twice.strings.filter((s) => s.param === 'family' || s.param === 'given')).toEqual([
      { param: 'family', value: 'lee', exact: 'Lee' },
      { param: 'given', value: 'ann', exact: 'Ann' },
      { param: 'given', value: 'bo', exact: 'Bo' },
    ]);
  });

  it('keeps the text of coded values for :text on the resource row, normalised, not as string rows', () => {
    expect(ix.texts).toContain(textKey('identifier', 'medical record'));
    expect(ix.strings.filter((s) => s.param.includes(':'))).toEqual([]);
  });

  it('indexes a birth date as the whole UTC day', () => {
    expect(ix.dates).toContainEqual({ param: 'birthdate', low: '1980-02-29T00:00:00.000Z', high: '1980-02-29T23:59:59.999Z' });
  });

  it('indexes Periods, choice types and references filtered by target type', () => {
    const enc = extractIndexes({
      resourceType: 'Encounter',
      id: 'e1',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR' },
      subject: { reference: 'Patient/p1' },
      participant: [{ individual: { reference: 'Practitioner/d1' } }, { individual: { reference: 'RelatedPerson/r1' } }],
      period: { start: '2024-01-02T10:00:00+02:00' },
      length: { value: 30, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' },
    });
    expect(enc.refs).toEqual(expect.arrayContaining(['subject|Patient/p1', 'patient|Patient/p1', 'practitioner|Practitioner/d1']));
    expect(enc.refs).not.toContain('practitioner|RelatedPerson/r1');
    expect(enc.dates).toContainEqual({ param: 'date', low: '2024-01-02T08:00:00.000Z', high: 'infinity' });
    expect(enc.numbers).toContainEqual({ param: 'length', low: 29.5, high: 30.5, system: 'http://unitsofmeasure.org', code: 'min' });
    const obs = extractIndexes({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'weight' },
      effectiveDateTime: '2024-03',
      valueQuantity: { value: 72.5, system: 'http://unitsofmeasure.org', code: 'kg' },
    });
    expect(obs.dates).toContainEqual({ param: 'date', low: '2024-03-01T00:00:00.000Z', high: '2024-03-31T23:59:59.999Z' });
    expect(obs.numbers).toContainEqual({ param: 'value-quantity', low: 72.45, high: 72.55, system: 'http://unitsofmeasure.org', code: 'kg' });
  });
});

describe('ranges and normalisation', () => {
  it('gives date ranges by precision, reading values without a timezone as UTC', () => {
    expect(dateRange('2020')).toEqual({ low: '2020-01-01T00:00:00.000Z', high: '2020-12-31T23:59:59.999Z' });
    expect(dateRange('2020-02')).toEqual({ low: '2020-02-01T00:00:00.000Z', high: '2020-02-29T23:59:59.999Z' });
    expect(dateRange('2020-02-03T04:05')).toEqual({ low: '2020-02-03T04:05:00.000Z', high: '2020-02-03T04:05:59.999Z' });
    expect(dateRange('2020-02-03T04:05:06.789-01:00')?.low).toBe('2020-02-03T05:05:06.789Z');
    expect(dateRange('not a date')).toBeUndefined();
  });
  it('refuses search dates that are not on the calendar rather than rolling them over', () => {
    for (const bad of ['2026-13', '2026-00-10', '2026-13-45', '2026-02-29', '2026-04-31', '2026-11-27T24:00:00Z', '2026-11-27T10:60', '2026-11-27T10:00:61Z', '2026-11-27T10:00:00+15:00', 'x']) {
      expect(searchDateRange(bad), bad).toBeUndefined();
    }
    expect(searchDateRange('2024-02-29')?.low).toBe('2024-02-29T00:00:00.000Z');
    expect(searchDateRange('2000-02-29')?.low).toBe('2000-02-29T00:00:00.000Z');
    expect(searchDateRange('1900-02-29')).toBeUndefined();
    expect(searchDateRange('2026-12-31T23:59:60Z')?.low).toBe('2027-01-01T00:00:00.000Z'); // a leap second
    expect(searchDateRange('2026-11-27T10:00:00-14:00')?.low).toBe('2026-11-28T00:00:00.000Z');
    expect(searchDateRange('2026-11')).toEqual(dateRange('2026-11'));
    // A stored value keeps the reading it always had.
    expect(dateRange('2026-02-30')?.low).toBe('2026-03-02T00:00:00.000Z');
  });
  it('writes instants exactly as Date#toISOString does, across leap years, centuries and the edges of the range', () => {
    const random = seededRandom(7);
    const edges = [0, -1, Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(1900, 2, 1), Date.UTC(2100, 1, 28, 12), Date.UTC(1000, 0, 1), Date.UTC(9999, 11, 31, 23, 59, 59, 999)];
    const beyond = [Date.UTC(999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), Date.UTC(-50, 5, 5)];
    // Random instants from year 900 to 10100, so some fall outside 1000–9999 on either side.
    const spread = Array.from({ length: 200_000 }, () => Math.floor(Date.UTC(900, 0, 1) + random() * (Date.UTC(10100, 0, 1) - Date.UTC(900, 0, 1))));
    const wrong = [...edges, ...beyond, ...spread].filter((ms) => isoInstant(ms) !== new Date(ms).toISOString());
    expect(wrong).toEqual([]);
  });
  it('reads full dateTimes character by character exactly as the pattern reads them, and leaves all else to it', () => {
    const random = seededRandom(11);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
    const num = (digits: number, max: number) => String(Math.floor(random() * max)).padStart(digits, '0');
    const texts = ['2024-05-01T10:00:00Z', '1989-10-04T06:25:16-04:00', '2024-02-29T23:59:60.999999+14:00', '2024-05-01', '2024-05', '2024'];
    for (let i = 0; i < 20_000; i++) {
      // fields beyond the calendar (month 13, hour 24) included: both readings pass them to Date.UTC alike
      const fraction = pick(['', '', '.', `.${num(1, 10)}`, `.${num(2, 100)}`, `.${num(3, 1000)}`, `.${num(6, 1e6)}`]);
      const zone = pick(['', 'Z', 'Z', `+${num(2, 15)}:${num(2, 60)}`, `-${num(2, 15)}:${num(2, 60)}`, '+0500', 'z', '+05:00Z']);
      let text = `${num(4, 10000)}-${num(2, 14)}-${num(2, 33)}T${num(2, 25)}:${num(2, 61)}:${num(2, 62)}${fraction}${zone}`;
      // and damaged copies: a character replaced, one cut off, or a non-ASCII digit
      const at = Math.floor(random() * text.length);
      text = pick([text, text, text, text.slice(0, at), `${text.slice(0, at)}${pick(['x', ' ', '٣', '-', ':'])}${text.slice(at + 1)}`]);
      texts.push(text);
    }
    const differing = texts.filter((t) => JSON.stringify(dateBounds(t)) !== JSON.stringify(patternDateBounds(t)));
    expect(differing).toEqual([]);
    expect(texts.filter((t) => patternDateBounds(t) !== undefined).length).toBeGreaterThan(5_000);
  });

  it('gives number ranges by significant digits', () => {
    expect(numberRange('100')).toEqual({ low: 99.5, high: 100.5 });
    expect(numberRange('1.50')).toEqual({ low: 1.495, high: 1.505 });
  });
  it('removes accents and case', () => {
    expect(normalizeString('ÉLODIE Ñuñez')).toBe('elodie nunez');
  });
});

describe('parameters', () => {
  it('come from the official definitions, per resource type', () => {
    expect(getSearchParam('Encounter', 'patient')?.expression).toBe('Encounter.subject.where(resolve() is Patient)');
    expect(getSearchParam('Condition', 'code')?.expression).toBe('Condition.code');
    expect(getSearchParam('Patient', '_tag')?.type).toBe('token');
    const names = searchParamsForCapabilityStatement('Patient').map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['_id', '_lastUpdated', 'name', 'family', 'birthdate', 'identifier']));
    expect(names).toContain('_text');
  });

  it('know which date parameters give a resource at most one row, and extraction agrees', () => {
    const single = (type: string, code: string) => hasAtMostOneDateRow(type, getSearchParam(type, code)!);
    expect(single('Appointment', 'date')).toBe(true); // Appointment.start: instant
    expect(single('Encounter', 'date')).toBe(true); // Encounter.period: one Period, one range
    expect(single('Patient', 'birthdate')).toBe(true);
    expect(single('Observation', 'date')).toBe(false); // effective[x] may be a Timing: one row per event
    expect(single('MedicationRequest', 'date')).toBe(false); // dosageInstruction repeats
    expect(single('Condition', 'onset-date')).toBe(false); // two expressions
    expect(single('Encounter', 'location-period')).toBe(false); // Encounter.location repeats
    expect(single('Patient', '_lastUpdated')).toBe(false);
    // Every resource of the fixtures, and one with a Timing of two events, against what extraction writes.
    const resources: Resource[] = [
      ...['Patient', 'Encounter', 'Condition', 'Procedure', 'Immunization', 'MedicationRequest', 'DocumentReference'].flatMap((t) => readNdjson(t)),
      { resourceType: 'Observation', status: 'final', code: { text: 'x' }, effectiveTiming: { event: ['2024-01-01', '2024-02-01'] } } as Resource,
    ];
    let checked = 0;
    for (const r of resources) {
      const rows = new Map<string, number>();
      for (const d of extractIndexes(r).dates) rows.set(d.param, (rows.get(d.param) ?? 0) + 1);
      for (const [code, p] of searchParamsOf(r.resourceType)) {
        if (p.type !== 'date' || !hasAtMostOneDateRow(r.resourceType, p)) continue;
        expect(rows.get(code) ?? 0, `${r.resourceType} ${code}`).toBeLessThanOrEqual(1);
        checked++;
      }
      if (r.resourceType === 'Observation') expect(rows.get('date')).toBe(2);
    }
    expect(checked).toBeGreaterThan(1000);
  });
});
