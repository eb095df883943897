import type { Appointment, Coding, Extension, Reference, Resource, Slot } from '@medplum/fhirtypes';

/**
 * The FHIR vocabulary of scheduling: extension URLs, code systems and small pure helpers on Slot and
 * Appointment. Everything scheduling stores is plain R4 plus these extensions, so any FHIR client can read it.
 */

/** Official IANA time zone extension (valueCode), on the Schedule: weekly rules are wall-clock times there. */
export const TIMEZONE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/timezone';
/** Our availability rules on a Schedule (sub-extensions documented in availability.ts). */
export const AVAILABILITY_EXTENSION = 'https://telehealth-fhir.org/StructureDefinition/schedule-availability';
/** On a Schedule: which rules (hash) the Slots were materialized from, and up to when. */
export const SLOT_GENERATION_EXTENSION = 'https://telehealth-fhir.org/StructureDefinition/schedule-slot-generation';
/** On a Slot: the Appointment(s) holding it, as a visit slot or as a buffer around a visit (repeats). */
export const SLOT_APPOINTMENT_EXTENSION = 'https://telehealth-fhir.org/StructureDefinition/slot-appointment';
/** On a Slot / Appointment: a $hold lasts until this instant; after it the time is free again. */
export const HOLD_EXPIRES_EXTENSION = 'https://telehealth-fhir.org/StructureDefinition/hold-expires';

/** Our code system for visit types (Appointment.appointmentType), unless a schedule names its own codings. */
export const VISIT_TYPE_SYSTEM = 'https://telehealth-fhir.org/CodeSystem/visit-type';
/** Video visits carry this service type, the same one the meetings workflow gives their Encounters. */
export const VIDEO_SERVICE_TYPE: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/service-type',
  code: '540',
  display: 'Online Service',
};

export const UCUM = 'http://unitsofmeasure.org';

export type SlotRole = 'visit' | 'buffer';

export function reference<T extends Resource = Resource>(resourceType: T['resourceType'], id: string, display?: string): Reference<T> {
  return display ? { reference: `${resourceType}/${id}`, display } : { reference: `${resourceType}/${id}` };
}

/** The id from a "Type/id" (or absolute …/Type/id) reference; undefined for other types. */
export function idOf(ref: Reference | string | undefined, resourceType: string): string | undefined {
  const value = typeof ref === 'string' ? ref : ref?.reference;
  if (!value) return undefined;
  const m = new RegExp(`(?:^|/)${resourceType}/([A-Za-z0-9\\-.]{1,64})(?:/_history/[^/]+)?$`).exec(value);
  return m?.[1];
}

/** The Appointments a Slot is held by, with the role it plays for each. */
export function slotHolders(slot: Slot): { appointmentId: string; role: SlotRole }[] {
  const holders: { appointmentId: string; role: SlotRole }[] = [];
  for (const ext of slot.extension ?? []) {
    if (ext.url !== SLOT_APPOINTMENT_EXTENSION) continue;
    const id = idOf(ext.extension?.find((e) => e.url === 'appointment')?.valueReference, 'Appointment');
    const role = ext.extension?.find((e) => e.url === 'role')?.valueCode;
    if (id && (role === 'visit' || role === 'buffer')) holders.push({ appointmentId: id, role });
  }
  return holders;
}

export function slotHolderExtension(appointmentId: string, role: SlotRole): Extension {
  return {
    url: SLOT_APPOINTMENT_EXTENSION,
    extension: [
      { url: 'appointment', valueReference: reference('Appointment', appointmentId) },
      { url: 'role', valueCode: role },
    ],
  };
}

export function withoutHolder(slot: Slot, appointmentId: string): Slot {
  const extension = (slot.extension ?? []).filter(
    (e) => !(e.url === SLOT_APPOINTMENT_EXTENSION && idOf(e.extension?.find((x) => x.url === 'appointment')?.valueReference, 'Appointment') === appointmentId),
  );
  const copy: Slot = { ...slot, extension };
  if (extension.length === 0) delete copy.extension;
  return copy;
}

export function holdExpiry(resource: { extension?: Extension[] }): string | undefined {
  return resource.extension?.find((e) => e.url === HOLD_EXPIRES_EXTENSION)?.valueInstant;
}

export function isVideoVisit(appointment: Appointment): boolean {
  return (appointment.serviceType ?? []).some((c) =>
    (c.coding ?? []).some((x) => x.system === VIDEO_SERVICE_TYPE.system && x.code === VIDEO_SERVICE_TYPE.code),
  );
}

/** Participants without `required` are required (R4 Appointment.participant.required defaults to it). */
export function isRequired(p: NonNullable<Appointment['participant']>[number]): boolean {
  return p.required === undefined || p.required === 'required';
}
