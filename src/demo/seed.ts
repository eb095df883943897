import type { Appointment, AppointmentParticipant, Patient, Schedule, Slot } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import type { FhirStore } from '../fhir/store.js';
import type { MeetingService } from '../meetings/service.js';
import { visitTypeCoding, withAvailability, type Availability, type DayOfWeek } from '../scheduling/availability.js';
import { bookProposed } from '../scheduling/booking.js';
import { reference, VIDEO_SERVICE_TYPE } from '../scheduling/fhir.js';
import { ensureSlots } from '../scheduling/slot-sync.js';
import { slotsOf } from '../scheduling/slot-store.js';
import { instant } from '../scheduling/slots.js';
import { DEFAULT_ORG_ID } from '../tenancy.js';

const PRACTITIONER = { reference: 'Practitioner/demo-practitioner', display: 'Dr. Alex Morgan' };
export const DEMO_SCHEDULE_ID = 'demo-schedule';

const DEMO_PATIENTS: Patient[] = [
  { resourceType: 'Patient', id: 'demo-patient', active: true, name: [{ given: ['Sam'], family: 'Rivera' }], birthDate: '1980-04-12' },
  { resourceType: 'Patient', id: 'demo-patient-2', active: true, name: [{ given: ['Priya'], family: 'Shah' }], birthDate: '1975-09-30', gender: 'female' },
  { resourceType: 'Patient', id: 'demo-patient-3', active: true, name: [{ given: ['Jonas'], family: 'Berg' }], birthDate: '1992-01-17', gender: 'male' },
];

const WEEKDAYS: DayOfWeek[] = ['mon', 'tue', 'wed', 'thu', 'fri'];
const VIDEO_VISIT = { type: visitTypeCoding('video-30', 'Video visit, 30 min'), durationMinutes: 30, video: true };
/**
 * Slots are made this far ahead at first start: the days the booking form looks at. Later days are made when
 * $find is asked about them, as for any Schedule; a whole planning horizon here would slow the first start.
 */
const SEEDED_SLOT_DAYS = 14;
const QUARTER_HOUR = 15 * 60_000;

/** The demo practitioner's published availability: weekdays 09:00–17:00 in the clinic's zone, lunch 12–13. */
export function demoAvailability(timeZone: string): Availability {
  return {
    timeZone,
    slotMinutes: 30,
    bufferMinutes: 0,
    weeklyHours: [{ days: WEEKDAYS, start: '09:00:00', end: '17:00:00' }],
    breaks: [{ days: WEEKDAYS, start: '12:00:00', end: '13:00:00' }],
    visitTypes: [VIDEO_VISIT],
    exceptions: [],
  };
}

export interface DemoSeedOptions {
  store: FhirStore;
  meetings: MeetingService;
  baseUrl: string;
  /** The clinic's IANA time zone (the organization's): the demo working hours are wall-clock times there. */
  timeZone: string;
  now?: Date;
}

/**
 * The demo practitioner's availability and a day's worth of visits, so booking offers free times and the
 * schedule is not empty on first sign-in: a Schedule with its Slots, video visits later today (with their
 * meetings and join links) and one tomorrow. Visits in working hours are booked through the Schedule's Slots
 * like any booking, so their time is not offered again. Fixed ids make it safe to run twice. Everything goes
 * through the FHIR store and the scheduling and meetings workflows like any other data.
 */
export async function seedDemoData(opts: DemoSeedOptions): Promise<void> {
  const repo = opts.store.repository({ orgId: DEFAULT_ORG_ID, baseUrl: opts.baseUrl });
  for (const p of DEMO_PATIENTS) {
    if (!(await repo.readIfExists('Patient', p.id!))) await repo.update(p);
  }
  const now = opts.now ?? new Date();
  if (!(await repo.readIfExists('Schedule', DEMO_SCHEDULE_ID))) {
    const schedule: Schedule = { resourceType: 'Schedule', id: DEMO_SCHEDULE_ID, active: true, actor: [PRACTITIONER], comment: 'Video visits' };
    await repo.update(withAvailability(schedule, demoAvailability(opts.timeZone)));
  }
  await ensureSlots(repo, DEMO_SCHEDULE_ID, new Date(now.getTime() + SEEDED_SLOT_DAYS * 86_400_000), { now, maxHorizonDays: SEEDED_SLOT_DAYS });

  const at = (minutesFromNow: number) => {
    const d = new Date(now.getTime() + minutesFromNow * 60_000);
    d.setUTCSeconds(0, 0);
    d.setUTCMinutes(Math.ceil(d.getUTCMinutes() / 15) * 15);
    return d;
  };
  const visits = [
    { id: 'demo-visit-1', patient: DEMO_PATIENTS[0], start: at(15), minutes: 30, reason: 'Follow-up consultation' },
    { id: 'demo-visit-2', patient: DEMO_PATIENTS[1], start: at(90), minutes: 20, reason: 'Medication review' },
    { id: 'demo-visit-3', patient: DEMO_PATIENTS[2], start: at(24 * 60), minutes: 30, reason: 'New patient visit' },
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
    const slots = await slotsOf(repo, DEMO_SCHEDULE_ID, instant(new Date(v.start.getTime() - 86_400_000)), instant(new Date(v.start.getTime() + 86_400_000)));
    const placed = placeVisit(slots, v.start, v.minutes);
    const participant: AppointmentParticipant[] = [
      { actor: { reference: `Patient/${v.patient.id}`, display: `${name.given![0]} ${name.family}` }, status: 'accepted', required: 'required' },
      { actor: PRACTITIONER, status: 'accepted', required: 'required' },
    ];
    const visit: Appointment = {
      resourceType: 'Appointment',
      status: 'proposed',
      description: v.reason,
      appointmentType: { coding: [VIDEO_VISIT.type] },
      serviceType: [{ coding: [VIDEO_SERVICE_TYPE], text: 'Video visit' }],
      start: instant(placed.start),
      end: instant(new Date(placed.start.getTime() + v.minutes * 60_000)),
      minutesDuration: v.minutes,
      participant,
    };
    if (placed.slots.length > 0) {
      await bookProposed(repo, { ...visit, slot: placed.slots.map((s) => reference<Slot>('Slot', s.id!)) }, { now, appointmentId: v.id });
    } else {
      // Outside the published hours: no Slot there, so the time is offered to no one else.
      await repo.update<Appointment>({ ...visit, id: v.id, status: 'booked', created: instant(now) });
    }
    await opts.meetings.createMeetingForAppointment(practitioner, v.id);
  }
}

/**
 * Where a visit planned at `planned` takes place: on the Schedule's free Slots that cover it exactly from their
 * start, or where no Slot lies at all. A time that straddles the edge of working hours or starts inside a Slot
 * moves on by quarter hours until it is one or the other.
 */
function placeVisit(slots: Slot[], planned: Date, minutes: number): { start: Date; slots: Slot[] } {
  for (let start = planned.getTime(); start < planned.getTime() + 86_400_000; start += QUARTER_HOUR) {
    const end = start + minutes * 60_000;
    const overlapping = slots.filter((s) => Date.parse(s.start) < end && Date.parse(s.end) > start);
    if (overlapping.length === 0) return { start: new Date(start), slots: [] };
    const fromStart = Date.parse(overlapping[0].start) === start;
    const gapless = overlapping.every((s, i) => i === 0 || Date.parse(s.start) === Date.parse(overlapping[i - 1].end));
    if (fromStart && gapless && overlapping.every((s) => s.status === 'free')) return { start: new Date(start), slots: overlapping };
  }
  throw new Error(`No time for a demo visit within a day of ${planned.toISOString()}`);
}

