import type { Appointment, AppointmentResponse } from '@medplum/fhirtypes';
import { badRequest, conflict, unprocessable } from '../fhir/outcomes.js';
import type { FhirRepository } from '../fhir/repository/repository.js';
import { releaseSlots, setVisitSlotStatus, statusFromParticipants } from './booking.js';
import { idOf, isRequired } from './fhir.js';

/**
 * A participant's answer to an Appointment (AppointmentResponse), applied in one transaction with the
 * response itself. The rules:
 *  - the participant whose actor the response names takes its participantStatus;
 *  - a decline by a required participant cancels the Appointment and frees its Slots (the visit cannot happen
 *    without them); a decline by an optional participant only marks that participant;
 *  - otherwise the Appointment is booked when every required participant has accepted and pending while any
 *    has not (tentative or needs-action); its visit Slots follow (busy / busy-tentative);
 *  - cancelled, fulfilled, noshow and entered-in-error Appointments take no more answers (409).
 */

const FINAL = new Set(['cancelled', 'noshow', 'fulfilled', 'entered-in-error']);
const ANSWERS = new Set(['accepted', 'declined', 'tentative', 'needs-action']);

export interface RespondResult {
  appointment: Appointment;
  response: AppointmentResponse;
  /** the Appointment moved to booked with this answer */
  becameBooked: boolean;
}

export async function respondToAppointment(repo: FhirRepository, appointmentId: string, input: AppointmentResponse): Promise<RespondResult> {
  if (input?.resourceType !== 'AppointmentResponse') throw badRequest('The body must be an AppointmentResponse (or Parameters with one as `response`)');
  const referenced = idOf(input.appointment, 'Appointment');
  if (referenced && referenced !== appointmentId) {
    throw badRequest(`The response is for Appointment/${referenced}, not Appointment/${appointmentId}`, 'AppointmentResponse.appointment');
  }
  if (!ANSWERS.has(input.participantStatus)) {
    throw badRequest('participantStatus must be accepted, declined, tentative or needs-action', 'AppointmentResponse.participantStatus');
  }
  const actorRef = input.actor?.reference;
  if (!actorRef) throw badRequest('The response must name its actor', 'AppointmentResponse.actor');

  return repo.withTransaction(async (tx) => {
    const appointment = await tx.read<Appointment>('Appointment', appointmentId);
    if (FINAL.has(appointment.status)) throw conflict(`Appointment/${appointmentId} is ${appointment.status}; it takes no more responses`);
    const index = (appointment.participant ?? []).findIndex((p) => sameReference(p.actor?.reference, actorRef));
    if (index < 0) throw unprocessable(`${actorRef} is not a participant of Appointment/${appointmentId}`, 'AppointmentResponse.actor');

    const participant = appointment.participant.map((p, i) => (i === index ? { ...p, status: input.participantStatus } : p));
    const answering = participant[index];
    const cancels = input.participantStatus === 'declined' && isRequired(answering);
    const status = cancels ? 'cancelled' : statusFromParticipants(participant);

    const response = (
      await tx.create<AppointmentResponse>({ ...input, id: undefined, meta: undefined, appointment: { reference: `Appointment/${appointmentId}` } })
    ).resource;
    if (cancels) await releaseSlots(tx, appointment);
    else if (status !== appointment.status) await setVisitSlotStatus(tx, appointment, status);
    const next: Appointment = { ...appointment, participant, status };
    if (cancels) next.cancelationReason = { text: `Declined by ${actorRef}` };
    const updated = (await tx.update(next, { ifMatch: appointment.meta?.versionId })).resource;
    return { appointment: updated, response, becameBooked: status === 'booked' && appointment.status !== 'booked' };
  });
}

function sameReference(a: string | undefined, b: string): boolean {
  if (!a) return false;
  const norm = (r: string) => /([A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(r)?.[1] ?? r;
  return norm(a) === norm(b);
}
