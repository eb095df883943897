import type { Bundle, Resource, Slot } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../fhir/outcomes.js';
import type { FhirRepository, SearchQuery } from '../fhir/repository/repository.js';
import { parseQueryString } from '../fhir/rest/router.js';

/**
 * Slot reads and guarded writes through the FHIR repository. Every Slot change is an update with If-Match on
 * the version the decision was made from: the repository locks the Slot row, so of two writers that read the
 * same version exactly one wins and the other learns it (412) and decides again on what is now committed.
 */

/** All matches of a search, following next links (Slots of a month exceed one page). */
export async function searchAll<T extends Resource>(repo: FhirRepository, resourceType: string, query: SearchQuery): Promise<T[]> {
  const found: T[] = [];
  let q: SearchQuery | undefined = { _count: '1000', ...query };
  while (q) {
    const page: Bundle<T> = await repo.search<T>(resourceType, q);
    for (const e of page.entry ?? []) if (e.resource && e.search?.mode !== 'outcome' && e.search?.mode !== 'include') found.push(e.resource);
    const next: string | undefined = page.link?.find((l) => l.relation === 'next')?.url;
    q = next ? parseQueryString(next) : undefined;
  }
  return found;
}

/**
 * Slots of a schedule starting in [from, to), ordered by start, read through the repository (so inside the
 * caller's transaction: booking, cancelling, regenerating). The window is applied here: the generic search
 * with `start=ge…&start=lt…` hashes the starts of every schedule's Slots (see slot-index.ts, which $find uses).
 */
export async function slotsOf(repo: FhirRepository, scheduleId: string, from: string, to: string, status?: string): Promise<Slot[]> {
  const query: SearchQuery = { schedule: `Schedule/${scheduleId}` };
  if (status) query.status = status;
  const [lo, hi] = [Date.parse(from), Date.parse(to)];
  return (await searchAll<Slot>(repo, 'Slot', query))
    .map((slot) => ({ slot, start: Date.parse(slot.start) }))
    .filter((s) => s.start >= lo && s.start < hi)
    .sort((a, b) => a.start - b.start)
    .map((s) => s.slot);
}

export type SlotDecision = { write: Slot } | { skip: true } | { fail: OperationOutcomeError };

/**
 * Reads the Slot, lets decide() choose what to write from the current version, and writes it with If-Match.
 * On a lost race (412) it reads again: the other writer has committed by then, since the repository's row lock
 * made this write wait for it.
 */
export async function changeSlot(repo: FhirRepository, slotId: string, decide: (current: Slot) => SlotDecision, attempts = 5): Promise<Slot> {
  for (let attempt = 1; ; attempt++) {
    const current = await repo.read<Slot>('Slot', slotId);
    const decision = decide(current);
    if ('fail' in decision) throw decision.fail;
    if ('skip' in decision) return current;
    try {
      return (await repo.update<Slot>({ ...decision.write, id: slotId }, { ifMatch: current.meta?.versionId })).resource;
    } catch (err) {
      if (!(err instanceof OperationOutcomeError) || err.status !== 412 || attempt >= attempts) throw err;
    }
  }
}
