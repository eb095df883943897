import type { Appointment, Patient } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import type { FhirStore } from '../fhir/store.js';
import type { MeetingService } from '../meetings/service.js';
import { DEFAULT_ORG_ID } from '../tenancy.js';

const PRACTITIONER = { reference: 'Practitioner/demo-practitioner', display: 'Dr. Alex Morgan' };

const DEMO_PATIENTS: Patient[] = [
  { resourceType: 'Patient', id: 'demo-patient', active: true, name: [{ given: ['Sam'], family: 'Rivera' }], birthDate: '1980-04-12' },
  { resourceType: 'Patient', id: 'demo-patient-2', active: true, name: [{ given: ['Priya'], family: 'Shah' }], birthDate: '1975-09-30', gender: 'female' },
  { resourceType: 'Patient', id: 'demo-patient-3', active: true, name: [{ given: ['Jonas'], family: 'Berg' }], birthDate: '1992-01-17', gender: 'male' },
];

/**
 * A day's worth of demo visits for the demo practitioner, so the schedule is not empty on first sign-in:
 * video visits later today (with their meetings and join links) and one tomorrow. Fixed ids make it safe to
 * run twice. Written through the FHIR store and the meetings workflow like any other data.
 */
export async function seedDemoData(opts: { store: FhirStore; meetings: MeetingService; baseUrl: string; now?: Date }): Promise<void> {
  const repo = opts.store.repository({ orgId: DEFAULT_ORG_ID, baseUrl: opts.baseUrl });
  for (const p of DEMO_PATIENTS) {
    if (!(await repo.readIfExists('Patient', p.id!))) await repo.update(p);
  }
  const now = opts.now ?? new Date();
  const at = (minutesFromNow: number) => {
    const d = new Date(now.getTime() + minutesFromNow * 60_000);
    d.setUTCSeconds(0, 0);
    d.setUTCMinutes(Math.ceil(d.getUTCMinutes() / 15) * 15);
    return d;
  };
  const visits = [
    { id: 'demo-visit-1', patient: DEMO_PATIENTS[0], start: at(15), minutes: 30, video: true, reason: 'Follow-up consultation' },
    { id: 'demo-visit-2', patient: DEMO_PATIENTS[1], start: at(90), minutes: 20, video: true, reason: 'Medication review' },
    { id: 'demo-visit-3', patient: DEMO_PATIENTS[2], start: at(24 * 60), minutes: 30, video: true, reason: 'New patient visit' },
  ];
  const practitioner: Principal = {
    orgId: DEFAULT_ORG_ID,
    kind: 'user',
    subject: 'demo-practitioner',
    role: 'practitioner',
    fhirUser: PRACTITIONER.reference,
    displayName: PRACTITIONER.display,
    scopes: ['user/*.cruds'],
  };
  for (const v of visits) {
    if (await repo.readIfExists('Appointment', v.id)) continue;
    const name = v.patient.name![0];
    await repo.update<Appointment>({
      resourceType: 'Appointment',
      id: v.id,
      status: 'booked',
      description: v.reason,
      start: v.start.toISOString(),
      end: new Date(v.start.getTime() + v.minutes * 60_000).toISOString(),
      minutesDuration: v.minutes,
      participant: [
        { actor: { reference: `Patient/${v.patient.id}`, display: `${name.given![0]} ${name.family}` }, status: 'accepted', required: 'required' },
        { actor: PRACTITIONER, status: 'accepted', required: 'required' },
      ],
    });
    if (v.video) await opts.meetings.createMeetingForAppointment(practitioner, v.id);
  }
}
