import type { Resource } from '@medplum/fhirtypes';
import type { FhirRepository } from '../repository/repository.js';

/** A FHIR interaction, independent of HTTP: the REST routes and Bundle entries both become one of these. */
export interface FhirRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  /** path below the FHIR base, without leading slash, e.g. "Patient/123/_history/2" */
  path: string;
  query: Record<string, string | string[]>;
  body?: unknown;
  /** lower-case header names */
  headers: Record<string, string | undefined>;
  /** The caller takes a body as stored JSON text (FhirResponse.json); the HTTP layer does, Bundle entries do not. */
  acceptsJsonText?: boolean;
}

export interface FhirResponse {
  status: number;
  body?: Resource;
  /** The body as the stored JSON text, instead of `body`; only when the request accepts it. */
  json?: string;
  headers?: Record<string, string>;
}

/** Decides whether the caller may do an interaction; the authorization layer supplies the real one. */
export interface AccessPolicy {
  /** Throws OperationOutcomeError (403/404) when the interaction on that type is not allowed. */
  assertInteraction(interaction: Interaction, resourceType: string | undefined): void;
  /** Throws when the caller may not see or write that resource (for example: outside a patient's compartment). */
  assertResource(interaction: Interaction, resource: Resource): void;
  /** True when assertResource never throws for this interaction on this type, so the resource need not be read to check it. */
  allowsAnyResource?(interaction: Interaction, resourceType: string): boolean;
  /** Extra search criteria every search of this caller must satisfy (for example: the patient's compartment). */
  searchCriteria(resourceType: string): Record<string, string> | undefined;
}

export type Interaction =
  | 'read'
  | 'vread'
  | 'search'
  | 'history'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'operation';

export interface FhirContext {
  repo: FhirRepository;
  access: AccessPolicy;
}

export const allowAll: AccessPolicy = {
  assertInteraction: () => undefined,
  assertResource: () => undefined,
  allowsAnyResource: () => true,
  searchCriteria: () => undefined,
};
