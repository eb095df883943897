import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Appointment, Encounter } from '@medplum/fhirtypes';
import { testDatabaseKinds } from '../support/db.js';
import { OperationOutcomeError } from '../../src/fhir/outcomes.js';
import { MEETING_ID_SYSTEM, VIDEO_PROVIDER_SYSTEM } from '../../src/meetings/fhir.js';
import { assertAllFhirValid, book, createMeetingsFixture, eventTypes, ORG, OTHER_ORG, PUBLIC_BASE_URL, practitionerPrincipal, type MeetingsFixture } from './support.js';

async function status(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err.status;
    throw err;
  }
}

describe.each(testDatabaseKinds())('meeting workflow rules on %s', (kind) => {
  let fx: MeetingsFixture;
  beforeAll(async () => {
    fx = await createMeetingsFixture(kind);
  });
  afterAll(() => fx.close());
  const service = () => fx.module.service;

  describe('create for an Appointment', () => {
    it('stores the meeting, a code and link, and puts the virtualService extension on the Appointment', async () => {
      const b = await book(fx.repo());
      const { meeting, created } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
      expect(created).toBe(true);
      expect(meeting).toMatchObject({
        orgId: ORG,
        appointmentId: b.appointment.id,
        hostPractitionerId: b.practitioner.id,
        patientId: b.patient.id,
        provider: 'p2p',
        status: 'scheduled',
        scheduledStart: b.appointment.start,
        scheduledEnd: b.appointment.end,
      });
      expect(meeting.meetingCode).toMatch(/^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{10}$/);
      expect(meeting.publicLink).toBe(`${PUBLIC_BASE_URL}/join/${meeting.meetingCode}`);

      const appt = await fx.repo().read<Appointment>('Appointment', b.appointment.id!);
      expect(appt.meta?.versionId).toBe('2');
      expect(appt.status).toBe('booked');
      expect((appt as unknown as Record<string, unknown>).telehealth).toBeUndefined();
      expect(appt.extension).toEqual([
        {
          url: 'http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService',
          extension: [
            { url: 'http://hl7.org/fhir/StructureDefinition/_datatype', valueString: 'VirtualServiceDetail' },
            { url: 'channelType', valueCoding: { system: VIDEO_PROVIDER_SYSTEM, code: 'p2p' } },
            { url: 'address', valueUrl: meeting.publicLink },
            { url: 'sessionKey', valueString: meeting.meetingCode },
          ],
        },
      ]);
      expect(await eventTypes(fx.db, meeting.id)).toEqual(['meeting_created']);
    });

    it('is idempotent, also when requests race', async () => {
      const b = await book(fx.repo());
      const results = await Promise.all(Array.from({ length: 5 }, () => service().createMeetingForAppointment(b.host, b.appointment.id!)));
      const ids = new Set(results.map((r) => r.meeting.id));
      expect(ids.size).toBe(1);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      const again = await service().createMeetingForAppointment(b.admin, b.appointment.id!);
      expect(again).toMatchObject({ created: false, meeting: { id: [...ids][0] } });
      expect((await fx.repo().read<Appointment>('Appointment', b.appointment.id!)).meta?.versionId).toBe('2');
    });

    it('404 for an Appointment of another org, 409 when closed, 422 without a practitioner or patient', async () => {
      const b = await book(fx.repo());
      const stranger = practitionerPrincipal(OTHER_ORG, b.practitioner.id!);
      expect(await status(service().createMeetingForAppointment(stranger, b.appointment.id!))).toBe(404);
      for (const closed of ['cancelled', 'noshow', 'fulfilled', 'entered-in-error'] as const) {
        const c = await book(fx.repo());
        await fx.repo().update({ ...c.appointment, status: closed });
        expect(await status(service().createMeetingForAppointment(c.host, c.appointment.id!))).toBe(409);
      }
      const noPatient = await book(fx.repo());
      await fx.repo().update({ ...noPatient.appointment, participant: noPatient.appointment.participant.slice(1) });
      expect(await status(service().createMeetingForAppointment(noPatient.host, noPatient.appointment.id!))).toBe(422);
      const noPrac = await book(fx.repo());
      await fx.repo().update({ ...noPrac.appointment, participant: noPrac.appointment.participant.slice(0, 1) });
      expect(await status(service().createMeetingForAppointment(noPrac.host, noPrac.appointment.id!))).toBe(422);
      const count = await fx.db.query('SELECT 1 FROM virtual_meetings WHERE appointment_id = ANY($1)', [
        [noPatient.appointment.id, noPrac.appointment.id],
      ]);
      expect(count.rowCount).toBe(0);
    });

    it('only staff may create', async () => {
      const b = await book(fx.repo());
      expect(await status(service().createMeetingForAppointment(b.patientUser, b.appointment.id!))).toBe(403);
    });
  });

  describe('join', () => {
    it('decides the role on the server: host, patient signed in or by birth date, else guest', async () => {
      const b = await book(fx.repo());
      const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
      const code = meeting.meetingCode.toLowerCase();
      expect((await service().joinByCode(code, { displayName: 'Anyone' })).role).toBe('guest');
      expect((await service().joinByCode(code, {}, b.patientUser)).role).toBe('patient');
      expect((await service().joinByCode(code, { birthDate: '1980-04-12' })).role).toBe('patient');
      expect(await status(service().joinByCode(code, { birthDate: '1980-04-13' }))).toBe(403);
      const otherPrac = practitionerPrincipal(ORG, 'someone-else');
      expect((await service().joinByCode(code, {}, otherPrac)).role).toBe('guest');
      // The host's practitioner of another org is not this meeting's host.
      expect((await service().joinByCode(code, {}, practitionerPrincipal(OTHER_ORG, b.practitioner.id!))).role).toBe('guest');
      const host = await service().joinByCode(code, {}, b.host);
      expect(host.role).toBe('host');
      expect(host.meeting).toEqual({
        meetingId: meeting.id,
        code: meeting.meetingCode,
        status: 'active',
        provider: 'p2p',
        scheduledStart: b.appointment.start,
        scheduledEnd: b.appointment.end,
        practitionerName: 'Dr. Smith',
      });
      expect(host.credentials).toMatchObject({ provider: 'p2p', token: expect.any(String), participantId: host.participantId, role: 'host' });
    });

    it('unknown code 404, ended 410, malformed 404', async () => {
      expect(await status(service().joinByCode('ZZZZZZZZZZ', {}))).toBe(404);
      expect(await status(service().joinByCode('not a code!', {}))).toBe(404);
      const b = await book(fx.repo());
      const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
      await service().endMeeting(b.host, meeting.id);
      expect(await status(service().joinByCode(meeting.meetingCode, {}))).toBe(410);
      expect(await status(service().publicViewByCode(meeting.meetingCode))).toBe(410);
    });

    it('a patient or guest waiting does not start the meeting', async () => {
      const b = await book(fx.repo());
      const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
      await service().joinByCode(meeting.meetingCode, {}, b.patientUser);
      expect((await service().getMeeting(b.host, meeting.id)).status).toBe('scheduled');
      expect((await fx.repo().read<Appointment>('Appointment', b.appointment.id!)).status).toBe('booked');
    });
  });

  describe('start: exactly once', () => {
    it('20 simultaneous host joins make one Encounter and one Appointment status change', async () => {
      const b = await book(fx.repo());
      const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
      const joins = await Promise.all(Array.from({ length: 20 }, () => service().joinByCode(meeting.meetingCode, {}, b.host)));
      expect(joins.every((j) => j.role === 'host')).toBe(true);
      const encounters = await fx.db.query<{ id: string }>(
        `SELECT id FROM fhir_resources WHERE resource_type = 'Encounter' AND resource_data->'identifier' @> $1::jsonb`,
        [JSON.stringify([{ system: MEETING_ID_SYSTEM, value: meeting.id }])],
      );
      expect(encounters.rowCount).toBe(1);
      const started = await service().getMeeting(b.host, meeting.id);
      expect(started).toMatchObject({ status: 'active', encounterId: encounters.rows[0].id, startedAt: expect.any(String) });
      const history = await fx.db.query<{ status: string }>(
        `SELECT resource_data->>'status' AS status FROM fhir_resource_history WHERE resource_type = 'Appointment' AND id = $1 ORDER BY version_id`,
        [b.appointment.id],
      );
      expect(history.rows.map((r) => r.status)).toEqual(['booked', 'booked', 'arrived']);
      const types = await eventTypes(fx.db, meeting.id);
      expect(types.filter((t) => t === 'meeting_started')).toHaveLength(1);
      expect(types.filter((t) => t === 'encounter_created')).toHaveLength(1);
      expect(types.filter((t) => t === 'appointment_status_changed')).toHaveLength(1);
      expect(types.filter((t) => t === 'participant_joined')).toHaveLength(20);

      const encounter = await fx.repo().read<Encounter>('Encounter', encounters.rows[0].id);
      expect(encounter).toMatchObject({
        status: 'in-progress',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' },
        serviceType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '540', display: 'Online Service' }], text: 'Telehealth' },
        subject: { reference: `Patient/${b.patient.id}` },
        appointment: [{ reference: `Appointment/${b.appointment.id}` }],
        identifier: [{ system: MEETING_ID_SYSTEM, value: meeting.id }],
        period: { start: started.startedAt },
      });
      expect(encounter.participant).toEqual([
        {
          type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }] }],
          period: { start: started.startedAt },
          individual: { reference: `Practitioner/${b.practitioner.id}` },
        },
      ]);
    });

    it('patient and guest joins racing the end: each either gets a session the end closed or a 410, never an open session in an ended meeting', async () => {
      const b = await book(fx.repo());
      const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
      await service().joinByCode(meeting.meetingCode, {}, b.host);
      const joins = Array.from({ length: 12 }, (_, i) =>
        service()
          .joinByCode(meeting.meetingCode, { displayName: `Guest ${i}` }, i % 3 === 0 ? b.patientUser : undefined)
          .then((j) => j.participantId, (err: OperationOutcomeError) => err.status),
      );
      const [ended, ...outcomes] = await Promise.all([service().endMeeting(b.host, meeting.id), ...joins]);
      expect(ended.status).toBe('ended');
      const sessions = outcomes.filter((o): o is string => typeof o === 'string');
      expect(outcomes.filter((o) => typeof o !== 'string').every((o) => o === 410)).toBe(true);
      const open = await fx.db.query('SELECT id FROM virtual_meeting_participants WHERE meeting_id = $1 AND left_at IS NULL', [meeting.id]);
      expect(open.rows).toEqual([]);
      const events = await fx.db.query<{ event_type: string; id: string }>(
        `SELECT event_type, event_data->>'participantId' AS id FROM virtual_meeting_events WHERE meeting_id = $1 AND event_type IN ('participant_joined', 'participant_left') ORDER BY seq`,
        [meeting.id],
      );
      // Every session that was opened has its join and its leave recorded, the join first.
      for (const id of sessions) {
        expect(events.rows.filter((e) => e.id === id).map((e) => e.event_type)).toEqual(['participant_joined', 'participant_left']);
      }
      expect(await status(service().joinByCode(meeting.meetingCode, {}, b.patientUser))).toBe(410);
    });

    it('an instant meeting with a known patient gets an Encounter without an appointment link; without one, none', async () => {
      const b = await book(fx.repo());
      const withPatient = await service().createInstantMeeting(b.host, { patientId: b.patient.id });
      expect(withPatient).toMatchObject({ status: 'scheduled', patientId: b.patient.id });
      expect(withPatient.appointmentId).toBeUndefined();
      await service().joinByCode(withPatient.meetingCode, {}, b.host);
      const started = await service().getMeeting(b.host, withPatient.id);
      const enc = await fx.repo().read<Encounter>('Encounter', started.encounterId!);
      expect(enc.appointment).toBeUndefined();
      expect(enc.subject?.reference).toBe(`Patient/${b.patient.id}`);

      const anonymous = await service().createInstantMeeting(b.host, {});
      await service().joinByCode(anonymous.meetingCode, {}, b.host);
      const s = await service().getMeeting(b.host, anonymous.id);
      expect(s.status).toBe('active');
      expect(s.encounterId).toBeUndefined();
      expect(await status(service().createInstantMeeting(b.admin, {}))).toBe(403);
      expect(await status(service().createInstantMeeting(b.host, { patientId: 'nope' }))).toBe(404);
    });
  });

  describe('leave, rejoin, token', () => {
    it('closes a session with duration; a new join or token opens a new one; the meeting stays active', async () => {
      const b = await book(fx.repo());
      const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
      await service().joinByCode(meeting.meetingCode, {}, b.host);
      const p = await service().joinByCode(meeting.meetingCode, {}, b.patientUser);
      fx.clock.advance(90);
      const left = await service().leave(meeting.id, p.participantId);
      expect(left).toMatchObject({ durationSeconds: 90, leftAt: expect.any(String) });
      expect(await service().leave(meeting.id, p.participantId)).toMatchObject({ durationSeconds: 90 });
      expect((await service().getMeeting(b.host, meeting.id)).status).toBe('active');
      const again = await service().issueToken(meeting.id, p.participantId);
      expect(again.participantId).not.toBe(p.participantId);
      expect(again.role).toBe('patient');
      const same = await service().issueToken(meeting.id, again.participantId);
      expect(same.participantId).toBe(again.participantId);
      expect(await status(service().issueToken(meeting.id, '00000000-0000-4000-8000-000000000000'))).toBe(404);
      expect(await status(service().leave(meeting.id, 'not-a-uuid'))).toBe(404);
      const parts = await service().listParticipants(b.host, meeting.id);
      expect(parts.filter((x) => x.role === 'patient')).toHaveLength(2);
    });
  });

  describe('end', () => {
    it('by host: finishes the Encounter, fulfils the Appointment; a second end changes nothing', async () => {
      const b = await book(fx.repo());
      const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
      await service().joinByCode(meeting.meetingCode, {}, b.patientUser);
      await service().joinByCode(meeting.meetingCode, {}, b.host);
      fx.clock.advance(28 * 60 + 45);
      const ended = await service().endMeeting(b.host, meeting.id);
      expect(ended).toMatchObject({ status: 'ended', endedAt: fx.clock.now().toISOString() });
      const enc = await fx.repo().read<Encounter>('Encounter', ended.encounterId!);
      expect(enc.status).toBe('finished');
      expect(enc.period?.end).toBe(fx.clock.now().toISOString());
      expect(enc.length).toEqual({ value: 28.75, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' });
      expect(enc.participant?.[0].period?.end).toBe(enc.period?.end);
      expect((await fx.repo().read<Appointment>('Appointment', b.appointment.id!)).status).toBe('fulfilled');
      const before = await eventTypes(fx.db, meeting.id);
      const versions = (await fx.repo().read<Encounter>('Encounter', ended.encounterId!)).meta?.versionId;
      fx.clock.advance(60);
      const second = await service().endMeeting(b.admin, meeting.id);
      expect(second).toEqual(ended);
      expect((await fx.repo().read<Encounter>('Encounter', ended.encounterId!)).meta?.versionId).toBe(versions);
      expect(await eventTypes(fx.db, meeting.id)).toEqual(before);
      const open = await fx.db.query('SELECT 1 FROM virtual_meeting_participants WHERE meeting_id = $1 AND left_at IS NULL', [meeting.id]);
      expect(open.rowCount).toBe(0);
    });

    it('noshow when nobody but the host came; only host or admin may end', async () => {
      const b = await book(fx.repo());
      const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
      await service().joinByCode(meeting.meetingCode, {}, b.host);
      expect(await status(service().endMeeting(b.patientUser, meeting.id))).toBe(403);
      expect(await status(service().endMeeting(practitionerPrincipal(ORG, 'other'), meeting.id))).toBe(403);
      expect(await status(service().endMeeting(practitionerPrincipal(OTHER_ORG, b.practitioner.id!), meeting.id))).toBe(404);
      await service().endMeeting(b.admin, meeting.id);
      expect((await fx.repo().read<Appointment>('Appointment', b.appointment.id!)).status).toBe('noshow');
      const enc = await fx.repo().read<Encounter>('Encounter', (await service().getMeeting(b.admin, meeting.id)).encounterId!);
      expect(enc.status).toBe('finished');
    });

    it('a guest taking part is enough for fulfilled', async () => {
      const b = await book(fx.repo());
      const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
      await service().joinByCode(meeting.meetingCode, {}, b.host);
      await service().joinByCode(meeting.meetingCode, { displayName: 'Interpreter' });
      await service().endMeeting(b.host, meeting.id);
      expect((await fx.repo().read<Appointment>('Appointment', b.appointment.id!)).status).toBe('fulfilled');
    });
  });

  describe('automatic end', () => {
    it('ends a meeting nobody has been in for MEETING_IDLE_END_SECONDS, and one past its scheduled end by the overrun', async () => {
      const b = await book(fx.repo());
      const { meeting } = await service().createMeetingForAppointment(b.host, b.appointment.id!);
      const host = await service().joinByCode(meeting.meetingCode, {}, b.host);
      const pat = await service().joinByCode(meeting.meetingCode, {}, b.patientUser);
      await service().leave(meeting.id, host.participantId);
      await service().leave(meeting.id, pat.participantId);
      fx.clock.advance(599);
      expect((await fx.module.scheduler.runOnce(fx.clock.now())).ended).not.toContain(meeting.id);
      fx.clock.advance(2);
      expect((await fx.module.scheduler.runOnce(fx.clock.now())).ended).toContain(meeting.id);
      expect((await service().getMeeting(b.host, meeting.id)).status).toBe('ended');
      expect((await fx.repo().read<Appointment>('Appointment', b.appointment.id!)).status).toBe('fulfilled');
      const events = await fx.module.service.listEvents(b.host, meeting.id);
      expect(events.find((e) => e.eventType === 'meeting_ended')).toMatchObject({ triggeredByType: 'system', eventData: { reason: 'nobody in the room' } });

      // Someone still "in" the room, but an hour past the scheduled end.
      const c = await book(fx.repo(), { start: new Date(fx.clock.now().getTime() - 30 * 60_000), minutes: 20 });
      const m2 = (await service().createMeetingForAppointment(c.host, c.appointment.id!)).meeting;
      await service().joinByCode(m2.meetingCode, {}, c.host);
      expect((await fx.module.scheduler.runOnce(fx.clock.now())).ended).not.toContain(m2.id);
      fx.clock.advance(3600);
      expect((await fx.module.scheduler.runOnce(fx.clock.now())).ended).toContain(m2.id);
      expect((await fx.repo().read<Appointment>('Appointment', c.appointment.id!)).status).toBe('noshow');
    });

    it('the scheduler starts and stops', async () => {
      const sched = fx.module.scheduler;
      sched.start();
      await sched.stop();
    });
  });

  it('every FHIR resource written passes validation', async () => {
    expect(await assertAllFhirValid(fx.db)).toBeGreaterThan(20);
  });
});
