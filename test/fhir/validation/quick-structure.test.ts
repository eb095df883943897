/**
 * The quick structure check may only ever say "valid" where Medplum's validator finds no error: it lets a
 * resource skip Medplum. Checked here over every official R4 example, the Synthea data and the product's own
 * shapes, each as published and in many broken variants.
 */
import { validateResource as medplumValidate } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { passesStructureQuickly } from '../../../src/fhir/validation/quick-structure.js';
import { loadValidationDefinitions } from '../../../src/fhir/validation/validate.js';
import { samplePatient } from '../../../bench/support/fixtures.js';
// deterministic, so a failure names a variant that can be made again
import { seededRandom } from '../../../bench/support/search-dataset.js';
import { syntheaResources, telehealthAppointment, telehealthEncounter } from './fixtures.js';

type Json = Record<string, any>;

/** True when Medplum's validator (on the definitions as the product loads them) reports no error. */
function medplumAccepts(resource: Json): boolean {
  try {
    return !medplumValidate(resource as Resource).some((issue) => issue.severity === 'error');
  } catch {
    // Medplum throws its OperationOutcome when it finds an error, and fails outright on shapes it cannot walk.
    return false;
  }
}

const examplesDir = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));
/**
 * The official examples up to 10 kB: 4,669 of 5,306, every resource type. Medplum needs 15 s for the 637 larger
 * ones (big Bundles, code systems, value sets), so they are left out of the suite; they were run once by hand
 * with the same result.
 */
function officialExamplesUpTo10kB(): [string, Json][] {
  return readdirSync(examplesDir)
    .filter((file) => file.endsWith('.json') && file !== 'package.json' && !file.startsWith('.'))
    .sort()
    .map((file) => [file, readFileSync(join(examplesDir, file), 'utf8')] as [string, string])
    .filter(([, text]) => text.length <= 10_000)
    .map(([file, text]) => [file, JSON.parse(text)] as [string, Json])
    .filter(([, r]) => typeof r.resourceType === 'string');
}

interface Slot {
  parent: Json | unknown[];
  key: string | number;
}

/** Every place a value sits in the resource (object properties and array items), root included as parent. */
function slotsOf(value: unknown, out: Slot[] = []): Slot[] {
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      out.push({ parent: value, key: i });
      slotsOf(item, out);
    });
  } else if (value && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (key === 'resourceType') continue;
      out.push({ parent: value as Json, key });
      slotsOf((value as Json)[key], out);
    }
  }
  return out;
}

const REPLACEMENTS: unknown[] = [
  null,
  '',
  ' ',
  ' padded',
  'two  spaces',
  'tab\there',
  'control\u0001char',
  'not a date',
  '2024-13-01',
  '2024-02-30T25:00:00Z',
  0,
  -1,
  1.5,
  7,
  true,
  false,
  {},
  [],
  [null],
  { bogus: 1 },
  { extension: [] },
  'urn:uuid:not-a-uuid',
];

/** One broken (or, by chance, still valid) variant of a resource: a single random change somewhere in it. */
function mutate(resource: Json, random: () => number): Json {
  const copy = structuredClone(resource);
  const slots = slotsOf(copy);
  if (slots.length === 0) return copy;
  const { parent, key } = slots[Math.floor(random() * slots.length)];
  const current = (parent as any)[key];
  const pick = random();
  if (pick < 0.15) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
  } else if (pick < 0.25) {
    (parent as any)[key] = Array.isArray(current) ? current[0] : [current];
  } else if (pick < 0.35 && current && typeof current === 'object' && !Array.isArray(current)) {
    current[random() < 0.5 ? 'bogus' : `_${Object.keys(current)[0] ?? 'x'}`] = random() < 0.5 ? 'x' : { extension: [{ url: 'http://x' }] };
  } else if (pick < 0.42 && Array.isArray(current)) {
    current.push(structuredClone(current[0]));
  } else if (pick < 0.5 && !Array.isArray(parent)) {
    // a sibling of another choice type, or a key one letter off
    (parent as Json)[`${String(key)}String`] = 'x';
  } else {
    (parent as any)[key] = structuredClone(REPLACEMENTS[Math.floor(random() * REPLACEMENTS.length)]);
  }
  return copy;
}

describe('the quick structure check', () => {
  beforeAll(() => loadValidationDefinitions());

  it('says valid only where Medplum accepts, over the official R4 examples and broken variants of each', { timeout: 120_000 }, () => {
    const VARIANTS = 3;
    const examples = officialExamplesUpTo10kB();
    expect(examples.length).toBeGreaterThan(4000);
    const random = seededRandom(20261126);
    const unsound: string[] = [];
    let quick = 0;
    let accepted = 0;
    let variants = 0;
    let brokenCaught = 0;
    for (const [file, example] of examples) {
      const ok = medplumAccepts(example);
      if (ok) accepted++;
      if (passesStructureQuickly(example)) {
        quick++;
        if (!ok) unsound.push(file);
      }
      for (let i = 0; i < VARIANTS; i++) {
        const variant = mutate(example, random);
        variants++;
        const variantOk = medplumAccepts(variant);
        if (passesStructureQuickly(variant)) {
          if (!variantOk) unsound.push(`${file} variant ${i}: ${JSON.stringify(variant).slice(0, 300)}`);
        } else if (!variantOk) {
          brokenCaught++;
        }
      }
    }
    expect(unsound).toEqual([]);
    // The check is worth having only if ordinary resources pass it.
    expect(quick / accepted).toBeGreaterThan(0.5);
    expect(variants).toBe(examples.length * VARIANTS);
    expect(brokenCaught).toBeGreaterThan(variants * 0.3);
  });

  it('vouches for the resources the product writes and for the Synthea data, so they skip the slow path', () => {
    const own: Json[] = [telehealthAppointment(), telehealthEncounter(), samplePatient(1) as Json, samplePatient(2) as Json];
    for (const resource of own) expect(passesStructureQuickly(resource)).toBe(true);
    // as the repository hands a create to validation: the id taken off by setting it undefined
    expect(passesStructureQuickly({ ...own[2], id: undefined })).toBe(true);
    const synthea = syntheaResources();
    const vouched = synthea.filter((r) => passesStructureQuickly(r));
    expect(vouched.length / synthea.length).toBeGreaterThan(0.9);
    const random = seededRandom(7);
    const unsound: string[] = [];
    for (const resource of [...own, ...synthea.filter((_, i) => i % 7 === 0)]) {
      for (let i = 0; i < 10; i++) {
        const variant = mutate(resource, random);
        if (passesStructureQuickly(variant) && !medplumAccepts(variant)) unsound.push(JSON.stringify(variant).slice(0, 300));
      }
    }
    expect(unsound).toEqual([]);
  });

  it('leaves to Medplum what it cannot judge alone', () => {
    const patient = samplePatient(3) as Json;
    const cases: Json[] = [
      { ...patient, contained: [{ resourceType: 'Organization', id: 'o1', name: 'x' }] },
      { ...patient, _birthDate: { extension: [{ url: 'http://example.org/x', valueString: 'y' }] } },
      { ...patient, deceasedBoolean: false, deceasedDateTime: '2020-01-01' },
      { ...patient, name: [] },
      { ...patient, gender: null },
    ];
    for (const c of cases) expect(passesStructureQuickly(c)).toBe(false);
  });

  it('evaluates the invariants Medplum evaluates: app-3 (start and end together) and pat-1', () => {
    const appointment = telehealthAppointment();
    delete appointment.end;
    expect(medplumAccepts(appointment)).toBe(false);
    expect(passesStructureQuickly(appointment)).toBe(false);
    const patient = { ...(samplePatient(4) as Json), contact: [{ gender: 'female' }] };
    expect(medplumAccepts(patient)).toBe(false);
    expect(passesStructureQuickly(patient)).toBe(false);
    const fine = { ...(samplePatient(4) as Json), contact: [{ name: { family: 'Doe' } }] };
    expect(passesStructureQuickly(fine)).toBe(true);
  });
});
