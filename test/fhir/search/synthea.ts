import { readFileSync } from 'node:fs';
import type { Identifier, Resource } from '@medplum/fhirtypes';
import type { Database } from '../../../src/db/database.js';
import { PostgresFhirRepository } from '../../../src/fhir/repository/postgres-repository.js';
import type { FhirRepository, RepositoryContext } from '../../../src/fhir/repository/repository.js';
import { deleteIndexRows, extractIndexes, indexRowsSql, searchCompartment, searchResources, writeIndexRows } from '../../../src/fhir/search/index.js';

const DIR = '/work/shared/fixtures/synthea-10-patients';

export function readNdjson<T extends Resource = Resource>(type: string): T[] {
  return readFileSync(`${DIR}/${type}.000.ndjson`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/**
 * The fixtures refer to practitioners, organizations and locations conditionally (`Practitioner?identifier=s|v`),
 * as a transaction Bundle would. Loaded resource by resource, those references are resolved here to the
 * resource that has that identifier.
 */
export function resolveConditionalReferences(resources: Resource[]): Resource[] {
  const byIdentifier = new Map<string, string>();
  for (const r of resources) {
    for (const id of ((r as { identifier?: Identifier[] }).identifier ?? [])) {
      byIdentifier.set(`${r.resourceType}?identifier=${id.system}|${id.value}`, `${r.resourceType}/${r.id}`);
    }
  }
  const text = JSON.stringify(resources).replace(/"reference":"([A-Za-z]+\?identifier=[^"]*)"/g, (m, ref: string) => {
    const target = byIdentifier.get(ref);
    return target ? `"reference":"${target}"` : m;
  });
  return JSON.parse(text) as Resource[];
}

export function searchRepository(db: Database, ctx: RepositoryContext): FhirRepository {
  return new PostgresFhirRepository(db, ctx, {
    validate: (r) => r as Resource,
    extractIndexes,
    writeIndexRows,
    indexRowsSql,
    deleteIndexRows,
    search: (tx, c, type, query, opts) => searchResources(tx, c, type, query, opts),
    searchCompartment: (tx, c, args) => searchCompartment(tx, c, args),
  });
}

/** Stores the resources with their ids, in one transaction. */
export async function loadAll(repo: FhirRepository, resources: Resource[]): Promise<void> {
  await repo.withTransaction(async (tx) => {
    for (const r of resources) await tx.update(r);
  });
}
