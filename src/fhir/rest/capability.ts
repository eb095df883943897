import type {
  CapabilityStatement,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceSearchParam,
  CapabilityStatementRestSecurity,
} from '@medplum/fhirtypes';
import { r4ResourceTypes } from '../resource-types.js';

export interface CapabilityOptions {
  baseUrl: string;
  softwareVersion: string;
  /** Search parameters that actually work for a type (from the search module). */
  searchParams(resourceType: string): CapabilityStatementRestResourceSearchParam[];
  /** Operations by the name the router knows them, e.g. "Patient/$everything" or "$export", with their definitions. */
  operations: { key: string; definition: string }[];
  batch: boolean;
  /** SMART on FHIR security, once authentication is on. */
  security?: CapabilityStatementRestSecurity;
}

/** GET /metadata: what this server supports, and nothing it does not. */
export function buildCapabilityStatement(opts: CapabilityOptions): CapabilityStatement {
  const typeOps = (type: string) =>
    opts.operations
      .filter((o) => o.key.startsWith(`${type}/`))
      .map((o) => ({ name: o.key.slice(type.length + 2), definition: o.definition }));
  const systemOps = opts.operations
    .filter((o) => o.key.startsWith('$'))
    .map((o) => ({ name: o.key.slice(1), definition: o.definition }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    publisher: 'telehealth-fhir',
    kind: 'instance',
    software: { name: 'telehealth-fhir', version: opts.softwareVersion },
    implementation: { description: 'Telehealth on FHIR R4', url: opts.baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'application/json'],
    patchFormat: ['application/json-patch+json'],
    rest: [
      {
        mode: 'server',
        ...(opts.security ? { security: opts.security } : {}),
        resource: [...r4ResourceTypes()].sort().map((type) => {
          const ops = typeOps(type);
          return {
            type: type as CapabilityStatementRestResource['type'],
            profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
            interaction: (['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'] as const).map(
              (code) => ({ code }),
            ),
            versioning: 'versioned',
            readHistory: true,
            updateCreate: true,
            conditionalCreate: true,
            conditionalRead: 'not-supported',
            conditionalUpdate: true,
            conditionalDelete: 'single',
            searchParam: opts.searchParams(type),
            ...(ops.length ? { operation: ops } : {}),
          };
        }),
        interaction: [
          ...(opts.batch ? ([{ code: 'transaction' }, { code: 'batch' }] as const) : []),
          { code: 'history-system' },
        ],
        ...(systemOps.length ? { operation: systemOps } : {}),
      },
    ],
  };
}
