import { buildAuditEvent, type AuditAgent } from './audit-event.js';
import type { PendingAuditEvent } from './audit-store.js';

/** One successful access to one resource: a read, or a write whose record waited in the outbox. */
export interface Access {
  orgId: string;
  interaction: 'read' | 'vread' | 'create' | 'update' | 'delete';
  principal?: AuditAgent;
  address?: string;
  /** e.g. "Patient/123" or "Patient/123/_history/2" */
  what: string;
  at: Date;
}

/** Resources listed in one AuditEvent at most; past it the next accesses start a new event. */
export const MAX_ACCESSES_PER_EVENT = 100;

interface Group {
  first: Access;
  whats: Set<string>;
  start: Date;
  end: Date;
}

/**
 * Folds successful accesses into AuditEvents: those of one caller (same agent and address) with the same
 * interaction in one org become one event that lists each resource once as an `entity`, with the `period`
 * they took place in — as DICOM/ATNA audit messages list the instances accessed. Who did what to which
 * resource, and when to within the period, stays one search away (`AuditEvent?entity=Patient/123`).
 */
export class AccessFolder {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly onFull: (event: PendingAuditEvent) => void) {}

  get size(): number {
    return this.groups.size;
  }

  add(access: Access): void {
    const p = access.principal;
    const key = `${access.orgId}\n${access.interaction}\n${p?.kind ?? ''}\n${p?.subject ?? ''}\n${p?.fhirUser ?? ''}\n${access.address ?? ''}`;
    let group = this.groups.get(key);
    if (!group) {
      group = { first: access, whats: new Set(), start: access.at, end: access.at };
      this.groups.set(key, group);
    }
    group.whats.add(access.what);
    if (access.at < group.start) group.start = access.at;
    if (access.at > group.end) group.end = access.at;
    if (group.whats.size >= MAX_ACCESSES_PER_EVENT) {
      this.groups.delete(key);
      this.onFull(eventOf(group));
    }
  }

  /** The events of everything added and not yet handed out, in the order their first access came. */
  takeAll(): PendingAuditEvent[] {
    const events = [...this.groups.values()].map(eventOf);
    this.groups.clear();
    return events;
  }
}

function eventOf(group: Group): PendingAuditEvent {
  const { orgId, interaction, principal, address } = group.first;
  return {
    orgId,
    event: buildAuditEvent({ interaction, outcome: '0', principal, address, whats: [...group.whats], period: { start: group.start, end: group.end } }),
  };
}
