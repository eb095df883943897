import type { Appointment, Bundle, Practitioner, Schedule } from '@medplum/fhirtypes';
import { withAvailability, visitTypeCoding, type Availability } from '../../src/scheduling/availability.js';
import type { FhirRepository } from '../../src/fhir/repository/repository.js';
import { schedulingOperations, type SchedulingOptions } from '../../src/scheduling/operations.js';
import { allowAll, type FhirRequest, type FhirResponse } from '../../src/fhir/rest/types.js';

/** Weekdays 09:00–17:00 with a lunch break, 15-minute slots, a 30-minute video visit and a 60-minute one. */
export function weekdayAvailability(timeZone: string, overrides: Partial<Availability> = {}): Availability {
  return {
    timeZone,
    slotMinutes: 15,
    bufferMinutes: 0,
    weeklyHours: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00:00', end: '17:00:00' }],
    breaks: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '12:00:00', end: '13:00:00' }],
    visitTypes: [
      { type: visitTypeCoding('video-30', 'Video visit, 30 min'), durationMinutes: 30, video: true },
      { type: visitTypeCoding('in-person-60', 'In person, 60 min'), durationMinutes: 60, video: false },
    ],
    exceptions: [],
    ...overrides,
  };
}

export async function createPractitionerWithSchedule(
  repo: FhirRepository,
  availability: Availability,
  name = 'Curie',
): Promise<{ practitioner: Practitioner; schedule: Schedule }> {
  const practitioner = (await repo.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: name, given: ['Marie'] }] })).resource;
  const schedule = (
    await repo.create<Schedule>(
      withAvailability(
        { resourceType: 'Schedule', active: true, actor: [{ reference: `Practitioner/${practitioner.id}`, display: `Dr. ${name}` }] },
        availability,
      ),
    )
  ).resource;
  return { practitioner, schedule };
}

/** The scheduling operations called the way the router calls them, without HTTP. */
export function operationsClient(repo: FhirRepository, opts: SchedulingOptions) {
  const ops = new Map(schedulingOperations(opts).map((o) => [o.key, o.handler]));
  const call = (key: string, body: unknown, target: { resourceType?: string; id?: string } = { resourceType: 'Appointment' }, query: FhirRequest['query'] = {}): Promise<FhirResponse> =>
    ops.get(key)!({ method: 'POST', path: key, query, body, headers: {} }, { repo, access: allowAll }, target);
  return {
    call,
    async find(params: Record<string, string | string[]>): Promise<Appointment[]> {
      const parameter = Object.entries(params).flatMap(([name, v]) => (Array.isArray(v) ? v : [v]).map((valueString) => ({ name, valueString })));
      const res = await call('Appointment/$find', { resourceType: 'Parameters', parameter });
      return ((res.body as Bundle<Appointment>).entry ?? []).map((e) => e.resource!);
    },
    book(appointment: Appointment) {
      return call('Appointment/$book', { resourceType: 'Parameters', parameter: [{ name: 'appointment', resource: appointment }] });
    },
    hold(appointment: Appointment, minutes?: number) {
      return call('Appointment/$hold', {
        resourceType: 'Parameters',
        parameter: [{ name: 'appointment', resource: appointment }, ...(minutes ? [{ name: 'hold-minutes', valueInteger: minutes }] : [])],
      });
    },
    cancel(id: string, reason?: string) {
      return call('Appointment/$cancel', reason ? { resourceType: 'Parameters', parameter: [{ name: 'reason', valueString: reason }] } : undefined, { resourceType: 'Appointment', id });
    },
    respond(id: string, actor: string, participantStatus: string) {
      return call('Appointment/$respond', { resourceType: 'AppointmentResponse', appointment: { reference: `Appointment/${id}` }, actor: { reference: actor }, participantStatus }, { resourceType: 'Appointment', id });
    },
  };
}

/** Runs fn and gives back the OperationOutcomeError's status and first issue, or fails when nothing is thrown. */
export async function failure(fn: () => Promise<unknown>): Promise<{ status: number; code?: string; diagnostics?: string; expression?: string[] }> {
  try {
    await fn();
  } catch (err) {
    const e = err as { status?: number; outcome?: { issue?: { code?: string; diagnostics?: string; expression?: string[] }[] } };
    const issue = e.outcome?.issue?.[0];
    return { status: e.status ?? 500, code: issue?.code, diagnostics: issue?.diagnostics, expression: issue?.expression };
  }
  throw new Error('expected an OperationOutcomeError');
}
