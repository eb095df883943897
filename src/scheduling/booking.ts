import type { Appointment, AppointmentParticipant, CodeableConcept, Extension, Schedule, Slot } from '@medplum/fhirtypes';
import { badRequest, conflict, OperationOutcomeError, unprocessable } from '../fhir/outcomes.js';
import { newResourceId } from '../fhir/repository/ids.js';
import type { FhirRepository } from '../fhir/repository/repository.js';
import { readAvailability } from './availability.js';
import {
  HOLD_EXPIRES_EXTENSION,
  holdExpiry,
  idOf,
  isRequired,
  reference,
  slotHolderExtension,
  slotHolders,
  withoutHolder,
} from './fhir.js';
import { changeSlot, slotsOf, type SlotDecision } from './slot-store.js';
import { instant } from './slots.js';

/**
 * Booking, holding and cancelling, each in ONE transaction through the FHIR repository.
 *
 * Double booking is prevented by the Slots themselves: a booking changes every Slot it needs with If-Match on
 * the version it saw free, so the repository row lock lets exactly one of two racing bookings through; the
 * other re-reads the Slot, finds it taken and answers 409. Slots are always changed in start order, so two
 * bookings never wait on each other in a circle.
 *
 * Buffers: the Slots within `buffer` before and after a visit become busy-unavailable, held by the visit. A
 * visit may not start in a Slot that is a buffer, and its buffer may not cover another visit, so two visits
 * are always at least `buffer` apart. A Slot can be the buffer of two visits; it is free again only when no
 * visit holds it any more.
 */

const CLOSED = new Set(['cancelled', 'noshow', 'fulfilled', 'entered-in-error']);
/** The largest buffer a schedule may have (availability.ts): how far around a visit its buffer Slots lie. */
const MAX_BUFFER_MINUTES = 240;

export interface BookingOptions {
  now: Date;
  /** $hold: the Slots are held (busy-tentative) until this instant, and the Appointment stays pending. */
  holdUntil?: Date;
  /** The new Appointment's id (a new UUID by default): data set up with known ids, such as the demo's. */
  appointmentId?: string;
}

/** Books (or holds) a proposed Appointment as $find returned it. */
export async function bookProposed(repo: FhirRepository, proposed: Appointment, opts: BookingOptions): Promise<Appointment> {
  const { start, end } = checkTimes(proposed, opts.now);
  const slotIds = (proposed.slot ?? []).map((s, i) => {
    const id = idOf(s, 'Slot');
    if (!id) throw badRequest('Every slot must reference a Slot', `Appointment.slot[${i}]`);
    return id;
  });
  if (slotIds.length === 0) throw unprocessable('A booking needs the Slot(s) it takes, as $find proposes them', 'Appointment.slot');

  return repo.withTransaction(async (tx) => {
    // One after the other: a transaction is one connection, which runs one statement at a time anyway.
    const slots: Slot[] = [];
    for (const id of slotIds) slots.push(await readSlotForBooking(tx, id));
    slots.sort((a, b) => compare(a.start, b.start));
    const scheduleId = idOf(slots[0].schedule, 'Schedule')!;
    if (slots.some((s) => idOf(s.schedule, 'Schedule') !== scheduleId)) throw unprocessable('All Slots of one booking must be of one Schedule', 'Appointment.slot');
    if (instant(slots[0].start) !== start) throw unprocessable('The Appointment must start when its first Slot starts', 'Appointment.start');
    for (let i = 1; i < slots.length; i++) {
      if (instant(slots[i].start) !== instant(slots[i - 1].end)) throw unprocessable('The Slots of one booking must follow each other without gaps', 'Appointment.slot');
    }
    if (instant(slots[slots.length - 1].end) < end) throw unprocessable('The Slots do not cover the Appointment', 'Appointment.end');

    const schedule = await tx.read<Schedule>('Schedule', scheduleId);
    const practitionerRef = schedule.actor.find((a) => idOf(a, 'Practitioner'))?.reference;
    const participant = withScheduleActor(proposed.participant ?? [], practitionerRef, opts.holdUntil === undefined);
    const status = opts.holdUntil ? 'pending' : statusFromParticipants(participant);
    const appointmentId = opts.appointmentId ?? newResourceId();
    const holdExt: Extension[] = opts.holdUntil ? [{ url: HOLD_EXPIRES_EXTENSION, valueInstant: instant(opts.holdUntil) }] : [];

    const { bufferMinutes } = readAvailability(schedule);
    const buffers = bufferMinutes > 0 ? await bufferSlots(tx, scheduleId, start, end, bufferMinutes) : [];
    const visitIds = new Set(slots.map((s) => s.id!));
    const touched = [...slots, ...buffers.filter((b) => !visitIds.has(b.id!))].sort((a, b) => compare(a.start, b.start));
    for (const slot of touched) {
      const isVisit = visitIds.has(slot.id!);
      await changeSlotOrConflict(tx, slot.id!, (current) =>
        isVisit ? takeVisitSlot(current, appointmentId, status, holdExt) : takeBufferSlot(current, appointmentId, opts.now),
      );
    }

    const appointment: Appointment = {
      ...stripServerFields(proposed),
      ...(holdExt.length > 0 ? { extension: [...(proposed.extension ?? []).filter((e) => e.url !== HOLD_EXPIRES_EXTENSION), ...holdExt] } : {}),
      status,
      start,
      end,
      minutesDuration: Math.round((Date.parse(end) - Date.parse(start)) / 60_000),
      slot: slots.map((s) => reference<Slot>('Slot', s.id!)),
      created: instant(opts.now),
      participant,
    };
    return (await tx.create(appointment, { assignedId: appointmentId })).resource;
  });
}

/** $book of an Appointment that $hold created: the hold becomes a booking, if it has not expired. */
export async function bookHeld(repo: FhirRepository, appointmentId: string, opts: BookingOptions): Promise<Appointment> {
  return repo.withTransaction(async (tx) => {
    const held = await tx.read<Appointment>('Appointment', appointmentId);
    const expires = holdExpiry(held);
    if (held.status !== 'pending' || !expires) throw conflict(`Appointment/${appointmentId} is not held (status ${held.status}); $book takes a proposed or held Appointment`);
    if (Date.parse(expires) <= opts.now.getTime()) throw conflict(`The hold on Appointment/${appointmentId} expired at ${expires}`);
    const participant = withScheduleActor(held.participant ?? [], undefined, true);
    const status = statusFromParticipants(participant);
    await setVisitSlotStatus(tx, held, status, true);
    const booked: Appointment = { ...held, status, participant, extension: (held.extension ?? []).filter((e) => e.url !== HOLD_EXPIRES_EXTENSION) };
    if (booked.extension?.length === 0) delete booked.extension;
    return (await tx.update(booked, { ifMatch: held.meta?.versionId })).resource;
  });
}

/**
 * Cancels an Appointment and frees its Slots (visit and buffer) in one transaction. Cancelling twice is not an
 * error; cancelling a visit that took place (fulfilled, noshow) is. The one cancel of a visit: Appointment/$cancel
 * and the meeting cancel both come here; given a repository bound to an open transaction, it runs in that one.
 */
export async function cancelAppointment(
  repo: FhirRepository,
  appointmentId: string,
  reason: CodeableConcept | undefined,
  opts: { onlyExpiredHoldAt?: Date } = {},
): Promise<Appointment> {
  return repo.withTransaction(async (tx) => {
    const appointment = await tx.read<Appointment>('Appointment', appointmentId);
    if (appointment.status === 'cancelled') {
      // Cancelled before, perhaps by a plain update: free any Slot it still holds.
      if (!opts.onlyExpiredHoldAt) await releaseSlots(tx, appointment);
      return appointment;
    }
    if (opts.onlyExpiredHoldAt) {
      const expires = holdExpiry(appointment);
      // Booked from its hold meanwhile (or never held): not ours to release.
      if (appointment.status !== 'pending' || !expires || Date.parse(expires) > opts.onlyExpiredHoldAt.getTime()) return appointment;
    }
    if (CLOSED.has(appointment.status)) throw conflict(`Appointment/${appointmentId} is ${appointment.status}; it cannot be cancelled`);
    await releaseSlots(tx, appointment);
    const cancelled: Appointment = { ...appointment, status: 'cancelled', ...(reason ? { cancelationReason: reason } : {}) };
    delete cancelled.extension;
    const others = (appointment.extension ?? []).filter((e) => e.url !== HOLD_EXPIRES_EXTENSION);
    if (others.length > 0) cancelled.extension = others;
    return (await tx.update(cancelled, { ifMatch: appointment.meta?.versionId })).resource;
  });
}

/** Frees every Slot the Appointment holds, in start order. Runs in the caller's transaction. */
export async function releaseSlots(tx: FhirRepository, appointment: Appointment): Promise<void> {
  const visitIds = (appointment.slot ?? []).map((s) => idOf(s, 'Slot')).filter((id): id is string => id !== undefined);
  if (visitIds.length === 0) return;
  const first = await tx.readIfExists<Slot>('Slot', visitIds[0]);
  const scheduleId = idOf(first?.schedule, 'Schedule');
  if (!scheduleId || !appointment.start || !appointment.end) return;
  const around = await slotsOf(
    tx,
    scheduleId,
    instant(new Date(Date.parse(appointment.start) - MAX_BUFFER_MINUTES * 60_000)),
    instant(new Date(Date.parse(appointment.end) + MAX_BUFFER_MINUTES * 60_000)),
  );
  const held = around.filter((s) => slotHolders(s).some((h) => h.appointmentId === appointment.id));
  for (const slot of held) {
    await changeSlot(tx, slot.id!, (current) => {
      if (!slotHolders(current).some((h) => h.appointmentId === appointment.id)) return { skip: true };
      const rest = withoutHolder(current, appointment.id!);
      const remaining = slotHolders(rest);
      const write: Slot = { ...rest, status: remaining.length === 0 ? 'free' : remaining.some((h) => h.role === 'visit') ? current.status : 'busy-unavailable' };
      if (remaining.length === 0) {
        const ext = (write.extension ?? []).filter((e) => e.url !== HOLD_EXPIRES_EXTENSION);
        if (ext.length > 0) write.extension = ext;
        else delete write.extension;
      }
      return { write };
    });
  }
}

/**
 * Holds ($hold) whose time ran out are cancelled, so their Slots are free again. $find calls this with the
 * Slots it has read, before it proposes times; each expired hold is released in its own transaction. Returns
 * how many holds it tried to release that are not in `tried` (which it extends), so a caller reading again
 * after a release never tries the same one twice.
 */
export async function releaseExpiredHolds(repo: FhirRepository, slots: Slot[], now: Date, tried = new Set<string>()): Promise<number> {
  const expired = new Set<string>();
  for (const slot of slots) {
    if (slot.status !== 'busy-tentative') continue;
    const expires = holdExpiry(slot);
    if (!expires || Date.parse(expires) > now.getTime()) continue;
    for (const h of slotHolders(slot)) if (h.role === 'visit' && !tried.has(h.appointmentId)) expired.add(h.appointmentId);
  }
  for (const id of expired) {
    tried.add(id);
    try {
      await cancelAppointment(repo, id, { text: 'Hold expired' }, { onlyExpiredHoldAt: now });
    } catch (err) {
      // Booked or cancelled by someone else meanwhile: nothing left to release.
      if (!(err instanceof OperationOutcomeError && (err.status === 409 || err.status === 412))) throw err;
    }
  }
  return expired.size;
}

/** Visit Slots follow the Appointment: busy when booked, busy-tentative while pending. */
export async function setVisitSlotStatus(tx: FhirRepository, appointment: Appointment, status: Appointment['status'], dropHold = false): Promise<void> {
  const slotStatus: Slot['status'] = status === 'booked' ? 'busy' : 'busy-tentative';
  const ids = (appointment.slot ?? []).map((s) => idOf(s, 'Slot')).filter((id): id is string => id !== undefined);
  for (const id of ids) {
    await changeSlot(tx, id, (current) => {
      if (!slotHolders(current).some((h) => h.appointmentId === appointment.id && h.role === 'visit')) {
        return { fail: conflict(`Slot/${id} is no longer held by Appointment/${appointment.id}`) };
      }
      const extension = dropHold ? current.extension?.filter((e) => e.url !== HOLD_EXPIRES_EXTENSION) : current.extension;
      return { write: { ...current, status: slotStatus, extension } };
    });
  }
}

/** booked when every required participant has accepted; pending while any has not (declines are handled by the caller). */
export function statusFromParticipants(participants: AppointmentParticipant[]): 'booked' | 'pending' {
  return participants.filter(isRequired).every((p) => p.status === 'accepted') ? 'booked' : 'pending';
}

function checkTimes(appointment: Appointment, now: Date): { start: string; end: string } {
  if (appointment?.resourceType !== 'Appointment') throw badRequest('The appointment must be an Appointment resource', 'Parameters.parameter.resource');
  if (!appointment.start || Number.isNaN(Date.parse(appointment.start))) throw badRequest('The Appointment needs a start instant', 'Appointment.start');
  if (!appointment.end || Number.isNaN(Date.parse(appointment.end))) throw badRequest('The Appointment needs an end instant', 'Appointment.end');
  const start = instant(appointment.start);
  const end = instant(appointment.end);
  if (Date.parse(end) <= Date.parse(start)) throw badRequest(`The Appointment ends (${end}) before it starts (${start})`, 'Appointment.end');
  if (Date.parse(start) < now.getTime()) throw unprocessable(`The Appointment starts in the past (${start})`, 'Appointment.start');
  return { start, end };
}

async function readSlotForBooking(tx: FhirRepository, id: string): Promise<Slot> {
  const slot = await tx.readIfExists<Slot>('Slot', id);
  if (!slot) throw conflict(`Slot/${id} does not exist (any more); search again with $find`);
  return slot;
}

async function bufferSlots(tx: FhirRepository, scheduleId: string, start: string, end: string, bufferMinutes: number): Promise<Slot[]> {
  const before = instant(new Date(Date.parse(start) - bufferMinutes * 60_000));
  const after = instant(new Date(Date.parse(end) + bufferMinutes * 60_000));
  const around = await slotsOf(tx, scheduleId, instant(new Date(Date.parse(before) - MAX_BUFFER_MINUTES * 60_000)), after);
  const [b, st, en, af] = [before, start, end, after].map((t) => Date.parse(t));
  // Slots that overlap [start - buffer, start) or [end, end + buffer).
  return around.filter((s) => {
    const [ss, se] = [Date.parse(s.start), Date.parse(s.end)];
    return (ss < st && se > b) || (ss < af && se > en);
  });
}

function takeVisitSlot(current: Slot, appointmentId: string, status: 'booked' | 'pending', holdExt: Extension[]): SlotDecision {
  if (current.status !== 'free' || slotHolders(current).length > 0) {
    return { fail: conflict(`The time at ${current.start} is no longer free (Slot/${current.id} is ${current.status}); search again with $find`) };
  }
  return {
    write: {
      ...current,
      status: status === 'booked' ? 'busy' : 'busy-tentative',
      extension: [...(current.extension ?? []), slotHolderExtension(appointmentId, 'visit'), ...holdExt],
    },
  };
}

function takeBufferSlot(current: Slot, appointmentId: string, _now: Date): SlotDecision {
  if (slotHolders(current).some((h) => h.role === 'visit') || current.status === 'busy' || current.status === 'busy-tentative') {
    return { fail: conflict(`The time at ${current.start} is too close to another visit (Slot/${current.id} is ${current.status})`) };
  }
  if (slotHolders(current).some((h) => h.appointmentId === appointmentId)) return { skip: true };
  return { write: { ...current, status: 'busy-unavailable', extension: [...(current.extension ?? []), slotHolderExtension(appointmentId, 'buffer')] } };
}

async function changeSlotOrConflict(tx: FhirRepository, id: string, decide: (current: Slot) => SlotDecision): Promise<void> {
  try {
    await changeSlot(tx, id, decide);
  } catch (err) {
    // A Slot removed by a regeneration after the caller saw it: the time is simply not bookable any more.
    if (err instanceof OperationOutcomeError && (err.status === 404 || err.status === 410 || err.status === 412)) {
      throw conflict(`Slot/${id} was changed or removed meanwhile; search again with $find`);
    }
    throw err;
  }
}

/**
 * The schedule's practitioner takes part (accepted: the Schedule is their published availability). Other
 * participants keep their status; absent ones are needs-action. With `acceptPatient`, the patient the booking
 * is made for has accepted by booking.
 */
function withScheduleActor(participants: AppointmentParticipant[], practitionerRef: string | undefined, acceptPatient: boolean): AppointmentParticipant[] {
  const list = participants.map((p): AppointmentParticipant => {
    const isPractitioner = practitionerRef !== undefined && idOf(p.actor, 'Practitioner') === idOf(practitionerRef, 'Practitioner');
    const isPatient = idOf(p.actor, 'Patient') !== undefined;
    const status = isPractitioner || (isPatient && acceptPatient) ? 'accepted' : (p.status ?? 'needs-action');
    return { ...p, status };
  });
  if (practitionerRef && !list.some((p) => idOf(p.actor, 'Practitioner') === idOf(practitionerRef, 'Practitioner'))) {
    list.unshift({ actor: { reference: practitionerRef }, required: 'required', status: 'accepted' });
  }
  return list;
}

function stripServerFields(a: Appointment): Appointment {
  const { id: _id, meta: _meta, ...rest } = a;
  return rest as Appointment;
}

function compare(a: string | undefined, b: string | undefined): number {
  const x = Date.parse(a ?? '');
  const y = Date.parse(b ?? '');
  return x - y;
}
