import type { Extension, Schedule, Slot } from '@medplum/fhirtypes';
import { DateTime } from 'luxon';
import { OperationOutcomeError, conflict } from '../fhir/outcomes.js';
import type { FhirRepository } from '../fhir/repository/repository.js';
import { availabilityHash, readAvailability, type Availability } from './availability.js';
import { reference, SLOT_GENERATION_EXTENSION, slotHolders } from './fhir.js';
import { slotsOf } from './slot-store.js';
import { generateSlotTimes, instant } from './slots.js';

/**
 * Keeps a Schedule's materialized Slots in step with its rules. Idempotent: it creates the Slots the rules
 * call for that are missing and removes free Slots the rules no longer call for; a Slot any Appointment holds
 * (busy, tentative, buffer) is never touched. The Schedule records which rules (hash) its Slots were made from
 * and up to when, so a changed Schedule or a later $find horizon regenerates only what is needed.
 */

export interface SlotSyncOptions {
  now: Date;
  /** Slots are never materialized further ahead than this, whatever the planningHorizon says. */
  maxHorizonDays: number;
}

export interface SyncResult {
  created: number;
  removed: number;
  through: string;
}

interface GenerationMark {
  rulesHash: string;
  through: string;
}

/**
 * Materializes Slots up to `until` (capped by the planning horizon) when the rules or the horizon ask for it.
 * `current` is the Schedule as the caller just read it, if it has: the generation mark is written with If-Match
 * on its version, so a stale copy only costs a second attempt on a fresh read.
 */
export async function ensureSlots(repo: FhirRepository, scheduleId: string, until: Date, opts: SlotSyncOptions, current?: Schedule): Promise<SyncResult | undefined> {
  for (let attempt = 1; ; attempt++) {
    const schedule = attempt === 1 && current?.id === scheduleId ? current : await repo.read<Schedule>('Schedule', scheduleId);
    const availability = readAvailability(schedule);
    const hash = availabilityHash(availability);
    const mark = generationMark(schedule);
    const target = horizonEnd(schedule, until, opts);
    if (mark && mark.rulesHash === hash && mark.through >= instant(target)) return undefined;
    const from = horizonStart(schedule, opts.now);
    // Same rules: only the days beyond what is already there. New rules: everything from now on.
    const regenerateFrom = mark && mark.rulesHash === hash ? DateTime.max(DateTime.fromISO(mark.through), DateTime.fromJSDate(from)).toJSDate() : from;
    const through = mark && mark.rulesHash === hash && mark.through > instant(target) ? new Date(mark.through) : target;
    try {
      return await repo.withTransaction(async (tx) => {
        // Writing the mark with If-Match first locks the Schedule row: concurrent regenerations of one
        // schedule run one after the other, and the later one sees the Slots the first created.
        await tx.update<Schedule>(withGenerationMark(schedule, { rulesHash: hash, through: instant(through) }), { ifMatch: schedule.meta?.versionId });
        const counts = await syncSlots(tx, scheduleId, availability, regenerateFrom, through);
        return { ...counts, through: instant(through) };
      });
    } catch (err) {
      if (err instanceof OperationOutcomeError && err.status === 412 && attempt < 3) continue;
      if (err instanceof OperationOutcomeError && err.status === 412) throw conflict(`Schedule/${scheduleId} changed while its Slots were regenerated; try again`);
      throw err;
    }
  }
}

/** Makes the Slots of [from, to) match the rules. Runs inside the caller's transaction. */
export async function syncSlots(repo: FhirRepository, scheduleId: string, availability: Availability, from: Date, to: Date): Promise<{ created: number; removed: number }> {
  if (to <= from) return { created: 0, removed: 0 };
  const wanted = generateSlotTimes(availability, from, to);
  const existing = await slotsOf(repo, scheduleId, instant(from), instant(to));
  const existingByKey = new Map<string, Slot[]>();
  for (const s of existing) {
    const key = `${instant(s.start)}/${instant(s.end)}`;
    existingByKey.set(key, [...(existingByKey.get(key) ?? []), s]);
  }
  const wantedKeys = new Set(wanted.map((w) => `${w.start}/${w.end}`));
  let created = 0;
  let removed = 0;
  for (const w of wanted) {
    if (existingByKey.has(`${w.start}/${w.end}`)) continue;
    await repo.create<Slot>({ resourceType: 'Slot', schedule: reference<Schedule>('Schedule', scheduleId), status: 'free', start: w.start, end: w.end });
    created++;
  }
  for (const [key, slots] of existingByKey) {
    // A second free Slot at the same time (from an older generation) goes too.
    const extra = wantedKeys.has(key) ? slots.slice(1) : slots;
    for (const slot of extra) {
      if (slot.status !== 'free' || slotHolders(slot).length > 0) continue;
      if (await removeIfUnchanged(repo, slot)) removed++;
    }
  }
  return { created, removed };
}

/** Deletes a free Slot unless someone changed it since it was read (a booking that just took it). */
async function removeIfUnchanged(repo: FhirRepository, slot: Slot): Promise<boolean> {
  try {
    // An update with unchanged content writes nothing but takes the row lock and checks the version.
    await repo.update<Slot>(slot, { ifMatch: slot.meta?.versionId });
  } catch (err) {
    if (err instanceof OperationOutcomeError && err.status === 412) return false;
    throw err;
  }
  await repo.delete('Slot', slot.id!);
  return true;
}

function generationMark(schedule: Schedule): GenerationMark | undefined {
  const ext = schedule.extension?.find((e) => e.url === SLOT_GENERATION_EXTENSION);
  const rulesHash = ext?.extension?.find((e) => e.url === 'rulesHash')?.valueString;
  const through = ext?.extension?.find((e) => e.url === 'through')?.valueInstant;
  return rulesHash && through ? { rulesHash, through: instant(through) } : undefined;
}

function withGenerationMark(schedule: Schedule, mark: GenerationMark): Schedule {
  const ext: Extension = {
    url: SLOT_GENERATION_EXTENSION,
    extension: [
      { url: 'rulesHash', valueString: mark.rulesHash },
      { url: 'through', valueInstant: mark.through },
    ],
  };
  return { ...schedule, extension: [...(schedule.extension ?? []).filter((e) => e.url !== SLOT_GENERATION_EXTENSION), ext] };
}

function horizonStart(schedule: Schedule, now: Date): Date {
  const start = schedule.planningHorizon?.start ? new Date(schedule.planningHorizon.start) : undefined;
  return start && start > now ? start : now;
}

function horizonEnd(schedule: Schedule, until: Date, opts: SlotSyncOptions): Date {
  const max = new Date(opts.now.getTime() + opts.maxHorizonDays * 86_400_000);
  const planned = schedule.planningHorizon?.end ? new Date(schedule.planningHorizon.end) : undefined;
  let end = until < max ? until : max;
  if (planned && planned < end) end = planned;
  return end;
}
