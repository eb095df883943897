import { randomUUID } from 'node:crypto';
import type { Appointment, AppointmentParticipant, Bundle, Coding, Patient, Reference, Schedule, Slot } from '@medplum/fhirtypes';
import { unprocessable } from '../fhir/outcomes.js';
import type { FhirRepository, SearchQuery } from '../fhir/repository/repository.js';
import { readAvailability, type Availability, type VisitType } from './availability.js';
import { releaseExpiredHolds } from './booking.js';
import { idOf, reference, VIDEO_SERVICE_TYPE } from './fhir.js';
import { ensureSlots, type SlotSyncOptions } from './slot-sync.js';
import type { SlotIndex } from './slot-index.js';
import { searchAll } from './slot-store.js';
import { instant } from './slots.js';

/**
 * Appointment/$find: free time of one or more practitioners' Schedules as proposed Appointments, ordered by
 * start. A proposal names the Slots it would take, so $book can check and take exactly those.
 */

export interface FindRequest {
  start: Date;
  end: Date;
  practitioners: string[];
  schedules: string[];
  specialty?: string;
  location?: string;
  /** a visit type code (or system|code) of the Schedules */
  visitType?: string;
  /** minutes, instead of a visit type */
  durationMinutes?: number;
  patient?: Reference;
  count: number;
}

export async function findAppointments(repo: FhirRepository, slotIndex: SlotIndex, request: FindRequest, opts: SlotSyncOptions): Promise<Bundle<Appointment>> {
  const schedules = await schedulesFor(repo, request);
  const from = request.start > opts.now ? request.start : opts.now;
  const proposals: Appointment[] = [];
  for (const schedule of schedules) {
    const availability = readAvailability(schedule);
    const visitType = pickVisitType(availability, request);
    if (!visitType && request.visitType) continue;
    const minutes = request.durationMinutes ?? visitType!.durationMinutes;
    await ensureSlots(repo, schedule.id!, request.end, opts, schedule);
    // Runs come in start order, so the first `count` of each schedule hold the first `count` overall.
    for (const run of await firstRuns(repo, slotIndex, schedule.id!, { from, until: request.end, now: opts.now, minutes, slotMinutes: availability.slotMinutes, count: request.count })) {
      proposals.push(proposal(schedule, run, minutes, visitType, request.patient));
    }
  }
  proposals.sort((a, b) => Date.parse(a.start!) - Date.parse(b.start!));
  const page = proposals.slice(0, request.count);
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: page.length,
    entry: page.map((resource) => ({ fullUrl: `urn:uuid:${randomUUID()}`, resource, search: { mode: 'match' } })),
  };
}

async function schedulesFor(repo: FhirRepository, request: FindRequest): Promise<Schedule[]> {
  const found = new Map<string, Schedule>();
  for (const [i, practitionerId] of request.practitioners.entries()) {
    const [practitioner, schedules] = await Promise.all([
      repo.readIfExists('Practitioner', practitionerId),
      searchAll<Schedule>(repo, 'Schedule', { actor: `Practitioner/${practitionerId}`, active: 'true' }),
    ]);
    if (!practitioner) throw unprocessable(`Practitioner/${practitionerId} is not known`, `Parameters.parameter.where(name='practitioner')[${i}]`);
    for (const s of schedules) found.set(s.id!, s);
  }
  for (const [i, id] of request.schedules.entries()) {
    const s = await repo.readIfExists<Schedule>('Schedule', id);
    if (!s) throw unprocessable(`Schedule/${id} is not known`, `Parameters.parameter.where(name='schedule')[${i}]`);
    found.set(s.id!, s);
  }
  const narrowing: SearchQuery = { active: 'true' };
  if (request.specialty) narrowing.specialty = request.specialty;
  if (request.location) narrowing.actor = `Location/${request.location}`;
  if (request.practitioners.length === 0 && request.schedules.length === 0) {
    if (!request.specialty && !request.location) {
      throw unprocessable('$find needs a practitioner, schedule, specialty or location', 'Parameters.parameter');
    }
    for (const s of await searchAll<Schedule>(repo, 'Schedule', narrowing)) found.set(s.id!, s);
  }
  return [...found.values()].filter((s) => s.active !== false && readableAvailability(s));
}

function readableAvailability(schedule: Schedule): boolean {
  try {
    readAvailability(schedule);
    return true;
  } catch {
    // A Schedule without our rules (kept by another system) has no Slots we could offer.
    return false;
  }
}

function pickVisitType(availability: Availability, request: FindRequest): VisitType | undefined {
  if (!request.visitType) return availability.visitTypes[0];
  const [system, code] = request.visitType.includes('|') ? request.visitType.split('|') : [undefined, request.visitType];
  return availability.visitTypes.find((v) => v.type.code === code && (system === undefined || system === '' || v.type.system === system));
}

/**
 * The first `count` runs of free Slots of one schedule in [from, until). Slots are read in start order, a few
 * more than `count` visits need; when booked time breaks them into too few runs, four times as many. A run
 * found in the Slots read so far is final: one that the unread Slots could still complete would have to reach
 * past the last Slot read, so it starts after every run already found. Held Slots are read along with the free
 * ones, so that holds which ran out are released (and their time read again as free) in the same pass.
 */
async function firstRuns(
  repo: FhirRepository,
  slotIndex: SlotIndex,
  scheduleId: string,
  want: { from: Date; until: Date; now: Date; minutes: number; slotMinutes: number; count: number },
): Promise<Slot[][]> {
  const { until, minutes, count } = want;
  const scope = { orgId: repo.context.orgId, baseUrl: repo.context.baseUrl };
  const window = { scheduleId, statuses: ['free', 'busy-tentative'] as Slot['status'][], from: instant(want.from), to: instant(until) };
  const tried = new Set<string>();
  // `count` back-to-back visits of k Slots each take count + k - 1 Slots; twice that leaves room for gaps.
  let limit = 2 * (count + Math.ceil(minutes / want.slotMinutes));
  for (;;) {
    const slots = await slotIndex.slotsStarting(scope, { ...window, limit });
    if ((await releaseExpiredHolds(repo, slots, want.now, tried)) > 0) continue;
    const runs = candidateRuns(slots.filter((s) => s.status === 'free'), minutes, until);
    if (runs.length >= count || slots.length < limit) return runs.slice(0, count);
    limit *= 4;
  }
}

/** Runs of back-to-back free Slots long enough for the visit, one per possible start. */
export function candidateRuns(free: Slot[], minutes: number, until: Date): Slot[][] {
  const runs: Slot[][] = [];
  const needed = minutes * 60_000;
  for (let i = 0; i < free.length; i++) {
    const start = Date.parse(free[i].start);
    if (start + needed > until.getTime()) break;
    const run = [free[i]];
    let end = Date.parse(free[i].end);
    for (let j = i + 1; end - start < needed && j < free.length; j++) {
      if (Date.parse(free[j].start) !== end) break;
      run.push(free[j]);
      end = Date.parse(free[j].end);
    }
    if (end - start >= needed) runs.push(run);
  }
  return runs;
}

function proposal(schedule: Schedule, run: Slot[], minutes: number, visitType: VisitType | undefined, patient: Reference | undefined): Appointment {
  const start = instant(run[0].start);
  const participant: AppointmentParticipant[] = schedule.actor
    .filter((a) => idOf(a, 'Practitioner') || idOf(a, 'Location') || idOf(a, 'HealthcareService'))
    .map((actor) => ({ actor, required: 'required', status: 'needs-action' }));
  if (patient) participant.push({ actor: patient as Reference<Patient>, required: 'required', status: 'needs-action' });
  const appointment: Appointment = {
    resourceType: 'Appointment',
    status: 'proposed',
    start,
    end: instant(new Date(Date.parse(start) + minutes * 60_000)),
    minutesDuration: minutes,
    slot: run.map((s) => reference<Slot>('Slot', s.id!)),
    participant,
  };
  if (visitType) appointment.appointmentType = { coding: [visitType.type as Coding] };
  if (visitType?.video) appointment.serviceType = [{ coding: [VIDEO_SERVICE_TYPE], text: 'Video visit' }];
  if (schedule.specialty) appointment.specialty = schedule.specialty;
  return appointment;
}
