import type { Slot } from '@medplum/fhirtypes';
import type { Queryable } from '../db/database.js';
import { keyHashes, refKey, refsCondition, tokensCondition, tokenSearchKey } from '../fhir/search/tokens.js';

/**
 * Slots of one schedule by start time, for $find. The schedule reference and the status are matched on the
 * GIN-indexed `refs` and `tokens` the FHIR store keeps for every Slot; the start is read from the Slot itself.
 *
 * The generic search (`schedule=…&status=free&start=ge…&start=lt…`) leaves the join order to the planner,
 * which hashes the start of every Slot of every schedule in the window from fhir_search_date (a month of 50
 * practitioners: ~40,000 rows, ~40 ms). We know the selective side: one schedule has a few hundred Slots a
 * month. Found by schedule and status, their starts come from their own rows (Slot.start is a required
 * instant, with its offset, so the cast is exact) — ~1 ms, against ~10 ms for one lookup per Slot in
 * fhir_search_date, and no plan the planner could turn back into a hash of the whole window.
 *
 * Reads only: every Slot change still goes through the FHIR repository (slot-store.ts).
 */

export interface SlotIndexScope {
  orgId: string;
  /** Base URL of the FHIR endpoint, so Slots that refer to their Schedule by absolute URL are found too. */
  baseUrl: string;
}

export interface SlotPage {
  scheduleId: string;
  statuses: Slot['status'][];
  /** Slots starting at or after this instant … */
  from: string;
  /** … and before this one. */
  to: string;
  limit: number;
}

export interface SlotIndex {
  /** Slots of the schedule in one of the statuses starting in [from, to), ordered by start (then id), at most `limit`. */
  slotsStarting(scope: SlotIndexScope, page: SlotPage): Promise<Slot[]>;
}

export function createSlotIndex(db: Queryable): SlotIndex {
  return {
    async slotsStarting(scope, page) {
      const base = scope.baseUrl.replace(/\/$/, '');
      const refs = [refKey('schedule', `Schedule/${page.scheduleId}`), refKey('schedule', `${base}/Schedule/${page.scheduleId}`)];
      // `status=C` keys: indexed as they are, so they serve both the index and the exact match.
      const statuses = page.statuses.map((status) => tokenSearchKey('status', undefined, status));
      const result = await db.query<{ resource_data: Slot }>(
        `SELECT s.resource_data
           FROM (SELECT r.id, r.resource_data, (r.resource_data->>'start')::timestamptz AS start
                   FROM fhir_resources r
                  WHERE r.org_id = $1::text AND r.resource_type = 'Slot' AND NOT r.deleted
                    AND ${refsCondition('r', '&&', '$2::text[]', '$7::bigint[]')} AND ${tokensCondition('r', '$3::text[]', '$8::bigint[]')}) s
          WHERE s.start >= $4::timestamptz AND s.start < $5::timestamptz
          ORDER BY s.start, s.id
          LIMIT $6::int`,
        [scope.orgId, refs, statuses, page.from, page.to, page.limit, keyHashes(refs), keyHashes(statuses)],
      );
      return result.rows.map((row) => row.resource_data);
    },
  };
}
