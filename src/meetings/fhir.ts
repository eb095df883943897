import type { Appointment, Encounter, Extension, Reference } from '@medplum/fhirtypes';
import type { VideoProviderName } from './providers/types.js';

/**
 * The FHIR side of a video visit, as pure functions: what the Appointment carries once its meeting exists,
 * the Encounter opened when the host joins, and how that Encounter is finished. Shapes follow
 * shared/reference/fhir-telehealth.md (R4, with R5's virtualService as a cross-version extension).
 */

/** Our code system for `channelType`: R5's virtual-service-type has no code for these providers. */
export const VIDEO_PROVIDER_SYSTEM = 'https://telehealth-fhir.org/CodeSystem/video-provider';
/** Encounter.identifier system carrying the virtual meeting id (VirtualMeeting is not a FHIR resource). */
export const MEETING_ID_SYSTEM = 'https://telehealth-fhir.org/NamingSystem/virtual-meeting-id';

export const APPOINTMENT_VIRTUAL_SERVICE = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService';
export const ENCOUNTER_VIRTUAL_SERVICE = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.virtualService';
const DATATYPE = 'http://hl7.org/fhir/StructureDefinition/_datatype';

/** Appointment statuses after which no meeting may be created for it. */
export const CLOSED_APPOINTMENT_STATUSES = new Set(['cancelled', 'noshow', 'fulfilled', 'entered-in-error']);
/** Appointment statuses the meeting workflow may move on (to arrived, fulfilled or noshow). */
const OPEN_APPOINTMENT_STATUSES = new Set(['proposed', 'pending', 'booked', 'arrived', 'checked-in', 'waitlist']);

export interface ActorRef {
  id: string;
  display?: string;
}

/** The id of a reference to that resource type, relative or absolute; undefined for anything else. */
export function referencedId(reference: Reference | undefined, resourceType: string): string | undefined {
  const ref = reference?.reference;
  if (!ref) return undefined;
  const m = new RegExp(`(?:^|/)${resourceType}/([A-Za-z0-9\\-.]{1,64})(?:/_history/[^/]+)?$`).exec(ref);
  return m?.[1];
}

/** Participants are chosen by the type their reference points to: order means nothing in FHIR. */
export function findAppointmentActors(appointment: Appointment): { practitioner?: ActorRef; patient?: ActorRef } {
  const pick = (type: string): ActorRef | undefined => {
    for (const p of appointment.participant ?? []) {
      if (p.status === 'declined') continue;
      const id = referencedId(p.actor, type);
      if (id) return { id, display: p.actor?.display };
    }
    return undefined;
  };
  return { practitioner: pick('Practitioner'), patient: pick('Patient') };
}

export function isAppointmentClosed(appointment: Appointment): boolean {
  return CLOSED_APPOINTMENT_STATUSES.has(appointment.status);
}

export function isAppointmentOpen(appointment: Appointment): boolean {
  return OPEN_APPOINTMENT_STATUSES.has(appointment.status);
}

/** The Appointment with its virtualService extension set (replacing an earlier one), all else untouched. */
export function withVirtualService(
  appointment: Appointment,
  service: { provider: VideoProviderName; address: string; sessionKey: string },
): Appointment {
  const extension: Extension = {
    url: APPOINTMENT_VIRTUAL_SERVICE,
    extension: [
      { url: DATATYPE, valueString: 'VirtualServiceDetail' },
      { url: 'channelType', valueCoding: { system: VIDEO_PROVIDER_SYSTEM, code: service.provider } },
      { url: 'address', valueUrl: service.address },
      { url: 'sessionKey', valueString: service.sessionKey },
    ],
  };
  const others = (appointment.extension ?? []).filter((e) => e.url !== APPOINTMENT_VIRTUAL_SERVICE);
  return { ...appointment, extension: [...others, extension] };
}

export interface NewEncounterInput {
  meetingId: string;
  patientId: string;
  practitionerId: string;
  appointmentId?: string;
  publicLink: string;
  start: Date;
}

/** The Encounter opened when the host joins: in-progress, virtual, with the meeting id as identifier. */
export function newTelehealthEncounter(input: NewEncounterInput): Encounter {
  const start = input.start.toISOString();
  const encounter: Encounter = {
    resourceType: 'Encounter',
    extension: [
      {
        url: ENCOUNTER_VIRTUAL_SERVICE,
        extension: [
          { url: DATATYPE, valueString: 'VirtualServiceDetail' },
          { url: 'address', valueUrl: input.publicLink },
        ],
      },
    ],
    identifier: [{ system: MEETING_ID_SYSTEM, value: input.meetingId }],
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' },
    serviceType: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '540', display: 'Online Service' }],
      text: 'Telehealth',
    },
    subject: { reference: `Patient/${input.patientId}` },
    participant: [
      {
        type: [
          {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' },
            ],
          },
        ],
        period: { start },
        individual: { reference: `Practitioner/${input.practitionerId}` },
      },
    ],
    period: { start },
  };
  if (input.appointmentId) encounter.appointment = [{ reference: `Appointment/${input.appointmentId}` }];
  return encounter;
}

/** Finished at `end`: period.end, length in minutes (UCUM), and the end of every open participant period. */
export function finishEncounter(encounter: Encounter, end: Date): Encounter {
  const endIso = end.toISOString();
  const startMs = encounter.period?.start ? Date.parse(encounter.period.start) : end.getTime();
  const minutes = Math.max(0, Math.round(((end.getTime() - startMs) / 60_000) * 100) / 100);
  return {
    ...encounter,
    status: 'finished',
    period: { ...encounter.period, end: endIso },
    length: { value: minutes, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' },
    participant: encounter.participant?.map((p) =>
      p.period?.start && !p.period.end ? { ...p, period: { ...p.period, end: endIso } } : p,
    ),
  };
}
