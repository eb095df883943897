/**
 * The search benchmark's data: copies of the Synthea fixtures (patients, encounters, conditions,
 * practitioners, organizations, locations) with new ids and references kept consistent within each copy, plus
 * generated Appointments of a set of practitioners over many days.
 */
import type { Appointment, Resource } from '@medplum/fhirtypes';
import { isDeepStrictEqual } from 'node:util';
import { withServerMeta } from '../../src/fhir/repository/meta.js';
import { extractIndexes } from '../../src/fhir/search/index.js';
import type { ResourceIndexes } from '../../src/fhir/search/types.js';
import { readNdjson, resolveConditionalReferences } from '../../test/fhir/search/synthea.js';
import type { IndexedResource } from './bulk-load.js';

const TEMPLATE_TYPES = ['Organization', 'Location', 'Practitioner', 'Patient', 'Encounter', 'Condition'];
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** A small deterministic generator, so two runs search the same data for the same things. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheaTemplate {
  resources: Resource[];
  /** the search values of each template resource, in the same order */
  indexes: ResourceIndexes[];
  /** the JSON of all template resources, in which every id (and every reference to it) is replaced per copy */
  text: string;
  ids: Set<string>;
}

export function syntheaTemplate(): SyntheaTemplate {
  const resources = resolveConditionalReferences(TEMPLATE_TYPES.flatMap((t) => readNdjson(t)));
  return {
    resources,
    indexes: resources.map((r) => extractIndexes(withServerMeta(r, r.id as string, 1, new Date().toISOString()))),
    text: JSON.stringify(resources),
    ids: new Set(resources.map((r) => r.id as string)),
  };
}

const renamer = (template: SyntheaTemplate, n: number) => (text: string) =>
  text.replace(UUID, (id) => (template.ids.has(id) ? `c${n}-${id}` : id));

/**
 * Copy `n` of the fixtures: every template id — in ids, references and the identifiers Synthea derives from
 * them — becomes `c{n}-{id}`, so the copy is a separate population that refers only to itself.
 */
export function syntheaCopy(template: SyntheaTemplate, n: number): Resource[] {
  return JSON.parse(renamer(template, n)(template.text)) as Resource[];
}

/**
 * Copy `n` with its search values. A copy differs from the template only in ids, so its values are the
 * template's with the same ids renamed — much cheaper than extracting them again. `verify` checks that claim
 * against extractIndexes for every resource of the copy; run it on some copies.
 */
export function syntheaCopyIndexed(template: SyntheaTemplate, n: number, verify: boolean): IndexedResource[] {
  const rename = renamer(template, n);
  return syntheaCopy(template, n).map((resource, i) => {
    const t = template.indexes[i];
    const indexes: ResourceIndexes = {
      tokens: t.tokens.map(rename),
      refs: t.refs.map(rename),
      texts: t.texts.map(rename),
      strings: t.strings.map((s) => ({ ...s, value: rename(s.value), exact: rename(s.exact) })),
      dates: t.dates,
      numbers: t.numbers,
    };
    if (verify) {
      const actual = extractIndexes(withServerMeta(resource, resource.id as string, 1, new Date().toISOString()));
      if (!isDeepStrictEqual(actual, indexes)) throw new Error(`copied search values differ from extracted ones for ${resource.resourceType}/${resource.id}`);
    }
    return { resource, indexes };
  });
}

export interface AppointmentPlan {
  practitioners: string[];
  patients: string[];
  locations: string[];
  /** first day, YYYY-MM-DD */
  firstDay: string;
  days: number;
  slotsPerDay: number;
}

/** The day `d` after the plan's first day, as YYYY-MM-DD. */
export function planDay(plan: Pick<AppointmentPlan, 'firstDay'>, d: number): string {
  return new Date(Date.parse(`${plan.firstDay}T00:00:00Z`) + d * 86_400_000).toISOString().slice(0, 10);
}

/** Half-hour appointments from 08:00 UTC, one per slot, for every practitioner on every day of the plan. */
export function* appointments(plan: AppointmentPlan): Generator<Appointment> {
  const random = seededRandom(42);
  const pick = <T>(a: T[]) => a[Math.floor(random() * a.length)];
  for (let d = 0; d < plan.days; d++) {
    const day = planDay(plan, d);
    for (const [p, practitioner] of plan.practitioners.entries()) {
      for (let s = 0; s < plan.slotsPerDay; s++) {
        const start = new Date(Date.parse(`${day}T08:00:00Z`) + s * 1_800_000);
        const end = new Date(start.getTime() + 1_800_000);
        yield {
          resourceType: 'Appointment',
          id: `apt-${day}-${p}-${s}`,
          status: random() < 0.9 ? 'booked' : 'cancelled',
          serviceType: [{ coding: [{ system: 'http://snomed.info/sct', code: '394814009', display: 'General practice' }] }],
          appointmentType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0276', code: random() < 0.7 ? 'ROUTINE' : 'FOLLOWUP' }] },
          description: 'Video visit',
          start: start.toISOString(),
          end: end.toISOString(),
          minutesDuration: 30,
          created: `${planDay(plan, Math.max(0, d - 14))}T09:00:00Z`,
          participant: [
            { actor: { reference: `Practitioner/${practitioner}` }, required: 'required', status: 'accepted' },
            { actor: { reference: `Patient/${pick(plan.patients)}` }, required: 'required', status: 'accepted' },
            { actor: { reference: `Location/${pick(plan.locations)}` }, required: 'information-only', status: 'accepted' },
          ],
        };
      }
    }
  }
}
