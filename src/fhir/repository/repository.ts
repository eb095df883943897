import type { Principal } from '../../auth/principal.js';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { Operation } from 'fast-json-patch';
import type { StatementPart } from '../../db/statement.js';

/** What every storage call knows about who is asking. The org is never taken from a request body. */
export interface RepositoryContext {
  orgId: string;
  /** Base of the FHIR endpoint as the caller sees it, e.g. http://localhost:8080/fhir (for Bundle links). */
  baseUrl: string;
  /** Who is writing, for the audit trail; absent for the system's own writes. */
  principal?: Principal;
}

/** A committed change, as the write hook sees it (inside the writing transaction). */
export interface ResourceChange {
  interaction: 'create' | 'update' | 'delete';
  resourceType: string;
  id: string;
  versionId: number;
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged' | 'existing';

export interface WriteResult<T extends Resource = Resource> {
  resource: T;
  /** The resource as the JSON text that was stored, when this write stored it (not for 'existing' or 'unchanged'). */
  json?: string;
  outcome: WriteOutcome;
}

export interface CreateOptions {
  /** Create only when nothing matches these criteria (If-None-Exist); one match is returned as 'existing'. */
  ifNoneExist?: SearchQuery;
  /**
   * The id the server chose beforehand (transaction Bundles resolve urn:uuid references to it before
   * writing). Never taken from a client's resource.id.
   */
  assignedId?: string;
}

export interface UpdateOptions {
  /** The versionId the caller last saw (from If-Match); 412 when it is not the current one. */
  ifMatch?: string;
  /**
   * Rows of the caller's own tables (a workflow's records) to write in the same statement as the new version,
   * saving their own round trip. When the update changes nothing or creates the resource, they are written in
   * a statement of their own, in the same transaction: they are always written.
   */
  alongside?: StatementPart[];
}

export interface HistoryOptions {
  count?: number;
  since?: string;
  /** opaque keyset cursor from a previous page's next link */
  cursor?: string;
}

export type SearchQuery = Record<string, string | string[]>;

/** A current resource as stored: its JSON text, version and last update (a FHIR instant). */
export interface StoredJson {
  json: string;
  versionId: string;
  lastUpdated: string;
}

/**
 * The storage contract of the FHIR server. It knows nothing about HTTP; every error it throws is an
 * OperationOutcomeError. Domain workflows (meetings, scheduling) use the same contract.
 */
export interface FhirRepository {
  readonly context: RepositoryContext;
  create<T extends Resource>(resource: T, opts?: CreateOptions): Promise<WriteResult<T>>;
  read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T>;
  /**
   * Like read, but the resource as the JSON text the database holds, with its version and time, for callers
   * that only pass it on: parsing the stored JSON and writing it out again is most of what a read costs.
   */
  readJson(resourceType: string, id: string): Promise<StoredJson>;
  /** Like read, but undefined where read would answer 404 or 410. */
  readIfExists<T extends Resource = Resource>(resourceType: string, id: string): Promise<T | undefined>;
  /**
   * Inside a transaction: the current version, locked until the transaction ends, so the caller can decide on
   * it and update it with nobody writing in between. Undefined where read would answer 404 or 410.
   */
  readForUpdate<T extends Resource = Resource>(resourceType: string, id: string): Promise<T | undefined>;
  /** readForUpdate of several resources in one statement, in the order asked (a key without an id gives undefined). */
  readManyForUpdate(keys: { resourceType: string; id?: string | null }[]): Promise<(Resource | undefined)[]>;
  vread<T extends Resource = Resource>(resourceType: string, id: string, versionId: string): Promise<T>;
  history(resourceType: string | undefined, id: string | undefined, opts?: HistoryOptions): Promise<Bundle>;
  /** Update, or create with the caller's id when it does not exist (update-as-create). */
  update<T extends Resource>(resource: T, opts?: UpdateOptions): Promise<WriteResult<T>>;
  conditionalUpdate<T extends Resource>(resource: T, query: SearchQuery): Promise<WriteResult<T>>;
  patch<T extends Resource = Resource>(resourceType: string, id: string, patch: Operation[], opts?: UpdateOptions): Promise<WriteResult<T>>;
  delete(resourceType: string, id: string): Promise<void>;
  conditionalDelete(resourceType: string, query: SearchQuery): Promise<void>;
  search<T extends Resource = Resource>(resourceType: string, query: SearchQuery, opts?: { strict?: boolean }): Promise<Bundle<T>>;
  /** Search within a compartment, e.g. Patient/123/Encounter. */
  searchCompartment(compartmentType: string, compartmentId: string, resourceType: string, query: SearchQuery, opts?: { strict?: boolean }): Promise<Bundle>;
  /** Runs fn in ONE database transaction; the repository passed to fn writes inside it. Nested calls join it. */
  withTransaction<T>(fn: (repo: FhirRepository) => Promise<T>): Promise<T>;
}
