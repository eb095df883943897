import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding, Reference } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';

/** The FHIR RESTful interactions an AuditEvent's subtype names (http://hl7.org/fhir/restful-interaction). */
export type RestInteraction =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'batch'
  | 'transaction'
  | 'operation';

/** What an AuditEvent says of the caller. */
export type AuditAgent = Pick<Principal, 'kind' | 'subject' | 'fhirUser'>;

/** 0 success, 4 minor failure (the caller's request was refused or wrong), 8 serious failure (ours). */
export type AuditOutcome = '0' | '4' | '8';

export interface AuditRecord {
  interaction: RestInteraction;
  outcome: AuditOutcome;
  /** short, data-free reason of a failure, e.g. "forbidden" */
  outcomeDesc?: string;
  /** who: undefined for a request without a valid token */
  principal?: AuditAgent;
  address?: string;
  /** the resource acted on, e.g. "Patient/123" or "Patient/123/_history/2" */
  what?: string;
  /** several resources acted on alike (reads folded into one event); takes the place of `what` */
  whats?: readonly string[];
  /** when the activity took place, for an event that records accesses over a stretch of time */
  period?: { start: Date; end: Date };
  /** the resource type acted on, for type-level interactions (search, create) */
  whatType?: string;
  /** the search or operation query as sent */
  query?: string;
  recorded?: Date;
}

const REST_TYPE: Coding = { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' };
const INTERACTION_SYSTEM = 'http://hl7.org/fhir/restful-interaction';
const ACTION: Record<RestInteraction, AuditEvent['action']> = {
  read: 'R',
  vread: 'R',
  'history-instance': 'R',
  'history-type': 'R',
  'history-system': 'R',
  'search-type': 'E',
  'search-system': 'E',
  create: 'C',
  update: 'U',
  patch: 'U',
  delete: 'D',
  batch: 'E',
  transaction: 'E',
  operation: 'E',
};
/** The OAuth client id namespace of agents that are registered clients rather than people. */
export const CLIENT_ID_SYSTEM = 'urn:telehealth-fhir:oauth-client';
export const USER_ID_SYSTEM = 'urn:telehealth-fhir:user';
const SERVER_OBSERVER = { display: 'telehealth-fhir server' };
const WEB_SERVER: Coding = { system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '3', display: 'Web Server' };

function agentOf(record: AuditRecord): AuditEventAgent {
  const p = record.principal;
  const network = record.address ? { network: { address: record.address, type: '2' as const } } : {};
  if (!p) return { who: { display: 'unauthenticated caller' }, requestor: true, ...network };
  if (p.kind === 'client') {
    return { who: { identifier: { system: CLIENT_ID_SYSTEM, value: p.subject } }, requestor: true, ...network };
  }
  return {
    who: { ...(p.fhirUser ? { reference: p.fhirUser } : {}), identifier: { system: USER_ID_SYSTEM, value: p.subject } },
    requestor: true,
    ...network,
  };
}

// 2 = System Object: a record held by this server
const SYSTEM_OBJECT: Coding = { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' };

function entityOf(record: AuditRecord): AuditEventEntity[] | undefined {
  if (record.whats) return record.whats.map((reference) => ({ what: { reference }, type: SYSTEM_OBJECT }));
  if (!record.what && !record.whatType && !record.query) return undefined;
  const what: Reference | undefined = record.what ? { reference: record.what } : record.whatType ? { type: record.whatType as Reference['type'] } : undefined;
  return [
    {
      ...(what ? { what } : {}),
      type: SYSTEM_OBJECT,
      ...(record.query ? { query: Buffer.from(record.query, 'utf8').toString('base64') } : {}),
    },
  ];
}

/** The AuditEvent of one FHIR interaction (FHIR R4 AuditEvent, "rest" type with a restful-interaction subtype). */
export function buildAuditEvent(record: AuditRecord): AuditEvent {
  const entity = entityOf(record);
  return {
    resourceType: 'AuditEvent',
    type: REST_TYPE,
    subtype: [{ system: INTERACTION_SYSTEM, code: record.interaction, display: record.interaction }],
    action: ACTION[record.interaction],
    ...(record.period ? { period: { start: record.period.start.toISOString(), end: record.period.end.toISOString() } } : {}),
    recorded: (record.recorded ?? new Date()).toISOString(),
    outcome: record.outcome,
    ...(record.outcomeDesc ? { outcomeDesc: record.outcomeDesc } : {}),
    agent: [agentOf(record)],
    source: { observer: SERVER_OBSERVER, type: [WEB_SERVER] },
    ...(entity ? { entity } : {}),
  };
}

export function outcomeOfStatus(status: number): { outcome: AuditOutcome; outcomeDesc?: string } {
  if (status < 400) return { outcome: '0' };
  const desc: Record<number, string> = {
    400: 'invalid request',
    401: 'unauthenticated',
    403: 'forbidden',
    404: 'not found',
    409: 'conflict',
    410: 'deleted',
    412: 'precondition failed',
    422: 'unprocessable',
    429: 'too many requests',
  };
  return { outcome: status >= 500 ? '8' : '4', outcomeDesc: desc[status] ?? `HTTP ${status}` };
}
