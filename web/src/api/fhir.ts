import type { Appointment, Bundle, Encounter, Parameters, ParametersParameter, Patient, Reference, Resource } from '@medplum/fhirtypes';
import type { HttpClient } from './http.js';

export const VIRTUAL_SERVICE_URL = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService';
export const SERVICE_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/service-type';
/** service-type 540: how an appointment says "this is a video visit" before its meeting exists. */
export const ONLINE_SERVICE = { system: SERVICE_TYPE_SYSTEM, code: '540', display: 'Online Service' };

export interface NewPatient {
  given: string;
  family: string;
  birthDate: string;
  gender?: Patient['gender'];
  email?: string;
  phone?: string;
}

/** What to ask Appointment/$find for: free times of one practitioner's published availability. */
export interface FreeTimeQuery {
  practitioner: string;
  /** The patient the visit is for; $find names them as a participant of every proposal. */
  patient?: Reference<Patient>;
  from: Date;
  to: Date;
  minutes: number;
  count: number;
}

export interface AppointmentsWithPatients {
  appointments: Appointment[];
  patients: Map<string, Patient>;
}

function resourcesOf<T extends Resource>(bundle: Bundle, type: T['resourceType']): T[] {
  return (bundle.entry ?? []).map((e) => e.resource).filter((r): r is T => r?.resourceType === type);
}

function query(params: [string, string][]): string {
  return params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

export function patientDisplayName(patient: Patient | undefined): string {
  const name = patient?.name?.find((n) => n.use === 'official') ?? patient?.name?.[0];
  if (!name) return 'Unnamed patient';
  if (name.text) return name.text;
  return [...(name.given ?? []), name.family].filter(Boolean).join(' ') || 'Unnamed patient';
}

/** The participant of the given resource type, chosen by reference type and never by position. */
export function participantOf(appointment: Appointment, type: 'Patient' | 'Practitioner'): Reference | undefined {
  return appointment.participant?.find((p) => p.actor?.reference?.startsWith(`${type}/`))?.actor;
}

export function idOf(reference: string | undefined): string | undefined {
  return reference?.split('/')[1];
}

export function isVideoAppointment(appointment: Appointment): boolean {
  return (
    appointment.extension?.some((e) => e.url === VIRTUAL_SERVICE_URL) === true ||
    appointment.serviceType?.some((c) => c.coding?.some((x) => x.system === SERVICE_TYPE_SYSTEM && x.code === '540')) === true
  );
}

/** The join link written into the Appointment by the meetings workflow, when there is one. */
export function appointmentJoinLink(appointment: Appointment): string | undefined {
  const ext = appointment.extension?.find((e) => e.url === VIRTUAL_SERVICE_URL);
  return ext?.extension?.find((e) => e.url === 'address')?.valueUrl;
}

export function createFhirApi(http: HttpClient) {
  const base = '/fhir';
  return {
    async read<T extends Resource>(type: T['resourceType'], id: string): Promise<T> {
      return http.request<T>('GET', `${base}/${type}/${encodeURIComponent(id)}`);
    },

    async appointmentsFor(practitioner: string, from: Date, to: Date): Promise<AppointmentsWithPatients> {
      const q = query([
        ['actor', practitioner],
        ['date', `ge${from.toISOString()}`],
        ['date', `lt${to.toISOString()}`],
        ['_sort', 'date'],
        ['_count', '200'],
        ['_include', 'Appointment:patient'],
      ]);
      const bundle = await http.request<Bundle>('GET', `${base}/Appointment?${q}`);
      const patients = new Map(resourcesOf<Patient>(bundle, 'Patient').map((p) => [`Patient/${p.id}`, p]));
      const appointments = resourcesOf<Appointment>(bundle, 'Appointment').sort((a, b) => (a.start ?? '').localeCompare(b.start ?? ''));
      return { appointments, patients };
    },

    async searchPatients(text: string): Promise<Patient[]> {
      const params: [string, string][] = [['_count', '20'], ['_sort', 'family']];
      if (text.trim()) params.push(['name', text.trim()]);
      const bundle = await http.request<Bundle>('GET', `${base}/Patient?${query(params)}`);
      return resourcesOf<Patient>(bundle, 'Patient');
    },

    async createPatient(input: NewPatient): Promise<Patient> {
      const telecom: Patient['telecom'] = [];
      if (input.email) telecom.push({ system: 'email', value: input.email });
      if (input.phone) telecom.push({ system: 'phone', value: input.phone, use: 'mobile' });
      const patient: Patient = {
        resourceType: 'Patient',
        active: true,
        name: [{ use: 'official', family: input.family.trim(), given: [input.given.trim()] }],
        birthDate: input.birthDate,
        ...(input.gender ? { gender: input.gender } : {}),
        ...(telecom.length ? { telecom } : {}),
      };
      return http.request<Patient>('POST', `${base}/Patient`, { body: patient, contentType: 'application/fhir+json' });
    },

    /** Free times as proposed Appointments (status `proposed`, with the Slots they take), earliest first. */
    async findFreeTimes(q: FreeTimeQuery): Promise<Appointment[]> {
      const parameter: ParametersParameter[] = [
        { name: 'practitioner', valueString: q.practitioner },
        { name: 'start', valueDateTime: q.from.toISOString() },
        { name: 'end', valueDateTime: q.to.toISOString() },
        { name: 'duration', valueInteger: q.minutes },
        { name: '_count', valueInteger: q.count },
      ];
      if (q.patient?.reference) parameter.push({ name: 'patient', valueString: q.patient.reference });
      const body: Parameters = { resourceType: 'Parameters', parameter };
      const bundle = await http.request<Bundle>('POST', `${base}/Appointment/$find`, { body, contentType: 'application/fhir+json' });
      return resourcesOf<Appointment>(bundle, 'Appointment');
    },

    /** Books a proposal of findFreeTimes; 409 (ApiError) when someone else took the time first. */
    async book(proposal: Appointment): Promise<Appointment> {
      const body: Parameters = { resourceType: 'Parameters', parameter: [{ name: 'appointment', resource: proposal }] };
      return http.request<Appointment>('POST', `${base}/Appointment/$book`, { body, contentType: 'application/fhir+json' });
    },

    /** Cancels the Appointment and frees the time it held. */
    async cancelAppointment(id: string, reason: string): Promise<Appointment> {
      const body: Parameters = { resourceType: 'Parameters', parameter: [{ name: 'reason', valueString: reason }] };
      return http.request<Appointment>('POST', `${base}/Appointment/${encodeURIComponent(id)}/$cancel`, { body, contentType: 'application/fhir+json' });
    },

    /** Every version, oldest first: the status history of the drawer. */
    async history<T extends Resource>(type: T['resourceType'], id: string): Promise<T[]> {
      const bundle = await http.request<Bundle>('GET', `${base}/${type}/${encodeURIComponent(id)}/_history?_count=100`);
      return resourcesOf<T>(bundle, type).sort((a, b) => Number(a.meta?.versionId ?? 0) - Number(b.meta?.versionId ?? 0));
    },

    async encountersForAppointment(appointmentId: string): Promise<Encounter[]> {
      const bundle = await http.request<Bundle>('GET', `${base}/Encounter?${query([['appointment', `Appointment/${appointmentId}`]])}`);
      return resourcesOf<Encounter>(bundle, 'Encounter');
    },
  };
}

export type FhirApi = ReturnType<typeof createFhirApi>;
