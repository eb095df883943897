import type { Appointment, AppointmentResponse, CodeableConcept, Parameters, Reference } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import type { Queryable } from '../db/database.js';
import { badRequest, unprocessable } from '../fhir/outcomes.js';
import { resourceResponse, type FhirOperation } from '../fhir/rest/router.js';
import type { FhirContext, FhirRequest, FhirResponse } from '../fhir/rest/types.js';
import { bookHeld, bookProposed, cancelAppointment } from './booking.js';
import { isVideoVisit } from './fhir.js';
import { findAppointments } from './find.js';
import { OperationInput, path } from './parameters.js';
import { respondToAppointment } from './responses.js';
import { createSlotIndex } from './slot-index.js';
import { ensureSlots } from './slot-sync.js';

/**
 * The scheduling operations as the FHIR router offers them. Handlers translate Parameters to calls of the
 * scheduling workflow and check access; the workflow knows nothing about HTTP.
 */

/** What scheduling needs from the virtual meetings workflow: a meeting for a booked video visit. */
export interface VideoVisitMeetings {
  createMeetingForAppointment(actor: Principal, appointmentId: string): Promise<unknown>;
}

export interface SchedulingOptions {
  /** The FHIR store's database: $find reads a schedule's Slots by start from it (slot-index.ts). */
  db: Queryable;
  meetings?: VideoVisitMeetings;
  now?: () => Date;
  /** Slots are materialized at most this far ahead (default 90 days). */
  maxHorizonDays?: number;
  /** How long $hold keeps time when the caller does not say (default 10 minutes, at most 60). */
  defaultHoldMinutes?: number;
  log?: { warn(obj: object, msg: string): void };
}

const BASE = 'https://telehealth-fhir.org/OperationDefinition';
const DEFAULT_COUNT = 50;
const MAX_COUNT = 500;
const MAX_FIND_DAYS = 92;

export function schedulingOperations(opts: SchedulingOptions): FhirOperation[] {
  const now = opts.now ?? (() => new Date());
  const slotIndex = createSlotIndex(opts.db);
  const sync = () => ({ now: now(), maxHorizonDays: opts.maxHorizonDays ?? 90 });

  /** Books happen first; the meeting follows outside the transaction, since a video vendor may be slow. */
  const afterBooking = async (ctx: FhirContext, appointment: Appointment): Promise<Appointment> => {
    if (!opts.meetings || appointment.status !== 'booked' || !isVideoVisit(appointment)) return appointment;
    try {
      await opts.meetings.createMeetingForAppointment(meetingActor(ctx), appointment.id!);
      return await ctx.repo.read<Appointment>('Appointment', appointment.id!);
    } catch (err) {
      // The booking stands; the meeting can be created later (it is idempotent), and the Appointment shows
      // no join address until then.
      opts.log?.warn({ err, appointment: appointment.id }, 'video meeting for a booked appointment could not be created');
      return appointment;
    }
  };

  const find = async (req: FhirRequest, ctx: FhirContext): Promise<FhirResponse> => {
    ctx.access.assertInteraction('operation', 'Appointment');
    ctx.access.assertInteraction('search', 'Slot');
    const input = OperationInput.from(req);
    const start = input.time('start') ?? now();
    const end = input.time('end') ?? new Date(start.getTime() + 14 * 86_400_000);
    if (end <= start) throw badRequest(`end (${end.toISOString()}) must be after start (${start.toISOString()})`, path('end'));
    if (end.getTime() - start.getTime() > MAX_FIND_DAYS * 86_400_000) throw badRequest(`$find looks at most ${MAX_FIND_DAYS} days ahead at once`, path('end'));
    if (end <= now()) throw unprocessable('The period asked for is in the past', path('end'));
    const count = Math.min(input.integer('_count') ?? DEFAULT_COUNT, MAX_COUNT);
    const duration = input.integer('duration');
    if (duration !== undefined && (duration < 5 || duration > 480)) throw badRequest('duration must be between 5 and 480 minutes', path('duration'));
    const patientRef = input.text('patient');
    const patient: Reference | undefined = patientRef ? { reference: patientRef.includes('/') ? patientRef : `Patient/${patientRef}` } : undefined;
    const bundle = await findAppointments(
      ctx.repo,
      slotIndex,
      {
        start,
        end,
        practitioners: input.texts('practitioner').map((p, i) => bareId(p, 'Practitioner', 'practitioner', i)),
        schedules: input.texts('schedule').map((s, i) => bareId(s, 'Schedule', 'schedule', i)),
        specialty: input.text('specialty'),
        location: input.text('location') ? bareId(input.text('location')!, 'Location', 'location', 0) : undefined,
        visitType: input.text('visit-type'),
        durationMinutes: duration,
        patient,
        count,
      },
      sync(),
    );
    return { status: 200, body: bundle };
  };

  const book = (hold: boolean) => async (req: FhirRequest, ctx: FhirContext): Promise<FhirResponse> => {
    ctx.access.assertInteraction('operation', 'Appointment');
    ctx.access.assertInteraction('create', 'Appointment');
    const appointment = appointmentInput(req);
    ctx.access.assertResource('create', appointment);
    let result: Appointment;
    if (!hold && appointment.id) {
      result = await bookHeld(ctx.repo, appointment.id, { now: now() });
    } else {
      const input = OperationInput.from({ ...req, body: (req.body as Parameters)?.resourceType === 'Parameters' ? req.body : undefined });
      const minutes = Math.min(input.integer('hold-minutes') ?? opts.defaultHoldMinutes ?? 10, 60);
      const at = now();
      result = await bookProposed(ctx.repo, appointment, { now: at, holdUntil: hold ? new Date(at.getTime() + minutes * 60_000) : undefined });
    }
    return resourceResponse(hold ? 201 : 200, await afterBooking(ctx, result));
  };

  const cancel = async (req: FhirRequest, ctx: FhirContext, target: { id?: string }): Promise<FhirResponse> => {
    ctx.access.assertInteraction('operation', 'Appointment');
    ctx.access.assertInteraction('update', 'Appointment');
    const id = requireId(target);
    ctx.access.assertResource('update', await ctx.repo.read('Appointment', id));
    const input = OperationInput.from(req);
    const reasonParam = input.one('reason');
    const reason: CodeableConcept | undefined = reasonParam?.valueCodeableConcept ?? (reasonParam?.valueString ? { text: reasonParam.valueString } : undefined);
    return resourceResponse(200, await cancelAppointment(ctx.repo, id, reason));
  };

  const respond = async (req: FhirRequest, ctx: FhirContext, target: { id?: string }): Promise<FhirResponse> => {
    ctx.access.assertInteraction('operation', 'Appointment');
    ctx.access.assertInteraction('create', 'AppointmentResponse');
    const id = requireId(target);
    const body = req.body as AppointmentResponse | Parameters | undefined;
    const response = body?.resourceType === 'Parameters' ? OperationInput.from(req).resource<AppointmentResponse>('response') : (body as AppointmentResponse);
    if (!response) throw badRequest('Give the AppointmentResponse as the body or as the `response` parameter', path('response'));
    ctx.access.assertResource('create', { ...response, appointment: { reference: `Appointment/${id}` } });
    const result = await respondToAppointment(ctx.repo, id, response);
    const appointment = result.becameBooked ? await afterBooking(ctx, result.appointment) : result.appointment;
    const out: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'appointment', resource: appointment },
        { name: 'response', resource: result.response },
      ],
    };
    return { status: 200, body: out };
  };

  const generate = async (req: FhirRequest, ctx: FhirContext, target: { id?: string }): Promise<FhirResponse> => {
    ctx.access.assertInteraction('operation', 'Schedule');
    ctx.access.assertInteraction('create', 'Slot');
    const id = requireId(target);
    const input = OperationInput.from(req);
    const s = sync();
    const end = input.time('end') ?? new Date(s.now.getTime() + s.maxHorizonDays * 86_400_000);
    const result = await ensureSlots(ctx.repo, id, end, s);
    const out: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'created', valueInteger: result?.created ?? 0 },
        { name: 'removed', valueInteger: result?.removed ?? 0 },
        ...(result ? [{ name: 'through', valueInstant: result.through }] : []),
      ],
    };
    return { status: 200, body: out };
  };

  return [
    { key: 'Appointment/$find', definition: `${BASE}/appointment-find`, handler: find },
    { key: 'Appointment/$hold', definition: `${BASE}/appointment-hold`, handler: book(true) },
    { key: 'Appointment/$book', definition: `${BASE}/appointment-book`, handler: book(false) },
    { key: 'Appointment/$cancel', definition: `${BASE}/appointment-cancel`, handler: cancel },
    { key: 'Appointment/$respond', definition: `${BASE}/appointment-respond`, handler: respond },
    { key: 'Schedule/$generate-slots', definition: `${BASE}/schedule-generate-slots`, handler: generate },
  ];
}

/** $book/$hold take the Appointment as the `appointment` parameter, or as the whole body. */
function appointmentInput(req: FhirRequest): Appointment {
  const body = req.body as Appointment | Parameters | undefined;
  if (body?.resourceType === 'Appointment') return body;
  if (body?.resourceType === 'Parameters') {
    const a = OperationInput.from({ ...req, query: {} }).resource<Appointment>('appointment');
    if (a?.resourceType === 'Appointment') return a;
  }
  throw badRequest('Give the Appointment (as $find proposed it) as the `appointment` parameter', path('appointment'));
}

function requireId(target: { id?: string }): string {
  if (!target.id) throw badRequest('This operation works on one Appointment: POST [base]/Appointment/{id}/$…');
  return target.id;
}

function bareId(value: string, type: string, name: string, index: number): string {
  const m = new RegExp(`^(?:.*/)?(?:${type}/)?([A-Za-z0-9\\-.]{1,64})$`).exec(value);
  if (!m || (value.includes('/') && !value.includes(`${type}/`))) throw badRequest(`'${value}' is not a ${type} reference`, `${path(name)}[${index}]`);
  return m[1];
}

/**
 * The meetings workflow creates rooms for staff. A booking was already authorized by the caller's scopes, so
 * the meeting that follows from it is created by the scheduling service itself unless a staff user booked.
 */
function meetingActor(ctx: FhirContext): Principal {
  const caller = ctx.repo.context.principal;
  if (caller && caller.kind === 'user' && (caller.role === 'practitioner' || caller.role === 'admin')) return caller;
  return { orgId: ctx.repo.context.orgId, kind: 'user', role: 'admin', subject: 'system:scheduling', displayName: 'Scheduling', scopes: [] };
}
