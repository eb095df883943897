import type { CapabilityStatementRestResourceSearchParam } from '@medplum/fhirtypes';
import type { Database, Queryable } from '../db/database.js';
import { PostgresFhirRepository, type RepositoryDependencies } from './repository/postgres-repository.js';
import type { FhirRepository, RepositoryContext } from './repository/repository.js';

/** The FHIR store as the rest of the product sees it: a repository per caller, plus what search supports. */
export interface FhirStore {
  repository(ctx: RepositoryContext): FhirRepository;
  /**
   * A repository whose reads and writes join an already open transaction, so a workflow can change its own
   * tables and FHIR resources atomically (the meeting start creates an Encounter in the transaction that
   * locks the meeting row).
   */
  repositoryInTransaction(tx: Queryable, ctx: RepositoryContext): FhirRepository;
  searchParams(resourceType: string): CapabilityStatementRestResourceSearchParam[];
}

export function createFhirStore(
  db: Database,
  deps: RepositoryDependencies,
  extras: Pick<FhirStore, 'searchParams'>,
): FhirStore {
  return {
    repository: (ctx) => new PostgresFhirRepository(db, ctx, deps),
    repositoryInTransaction: (tx, ctx) => new PostgresFhirRepository(db, ctx, deps, tx),
    ...extras,
  };
}
