import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Appointment, Encounter } from '@medplum/fhirtypes';
import { HmsFakeServer } from '../fakes/hms-fake-server.js';
import { createTestServer, type TestServer, type TestUser } from '../support/app.js';
import { testDatabaseKinds } from '../support/db.js';
import { validateResource } from '../../src/fhir/validation/validate.js';
import { MEETING_ID_SYSTEM } from '../../src/meetings/fhir.js';

/**
 * The whole story of a video visit over HTTP, with real tokens, once per provider: book an Appointment →
 * create the meeting → patient joins → practitioner joins (Encounter in-progress, Appointment arrived) →
 * patient drops and rejoins → practitioner ends (Encounter finished, Appointment fulfilled, events in order).
 */

const HMS = { accessKey: 'ak-story-0123456789', appSecret: 'app-secret-story-0123456789abcdef', template: 'tmpl-telehealth', webhookSecret: 'whsec-story-0123456789abcdef' };

describe.each(testDatabaseKinds())('a video visit, end to end, on %s', (kind) => {
  describe.each(['p2p', '100ms'] as const)('with %s', (provider) => {
    let server: TestServer;
    let fake: HmsFakeServer | undefined;
    let orgId: string;
    let practitioner: TestUser;
    let patient: TestUser;

    beforeAll(async () => {
      if (provider === '100ms') {
        fake = await HmsFakeServer.start({ accessKey: HMS.accessKey, appSecret: HMS.appSecret, templates: { [HMS.template]: ['host', 'guest'] } });
      }
      const env: Record<string, string> = fake
        ? { HMS_ACCESS_KEY: HMS.accessKey, HMS_APP_SECRET: HMS.appSecret, HMS_TEMPLATE_ID: HMS.template, HMS_WEBHOOK_SECRET: HMS.webhookSecret, HMS_API_BASE_URL: fake.baseUrl }
        : {};
      server = await createTestServer(kind, env);
      if (fake) {
        // 100ms reports presence by calling our webhook: the server must really listen.
        const address = await server.app.listen({ port: 0, host: '127.0.0.1' });
        fake.setWebhook({ url: `${address}/api/webhooks/100ms`, secret: HMS.webhookSecret });
      }
      orgId = await server.auth.createOrg('Clinic A');
      practitioner = await server.auth.createUser(orgId, 'practitioner');
      patient = await server.auth.createUser(orgId, 'patient');
    });
    afterAll(async () => {
      await fake?.close();
      await server.close();
    });

    const as = (user: TestUser | undefined) => ({ authorization: user ? `Bearer ${user.token}` : undefined });

    it('tells the whole story', async () => {
      const repo = server.store.repository({ orgId, baseUrl: 'http://fhir.test/fhir' });
      // 1. Book: the Patient first, as booking code in the wild writes it.
      const appointment = (
        await repo.create<Appointment>({
          resourceType: 'Appointment',
          status: 'booked',
          start: new Date(Date.now() + 60_000).toISOString(),
          end: new Date(Date.now() + 31 * 60_000).toISOString(),
          participant: [
            { actor: { reference: patient.fhirUser, display: 'Pat Testpatient' }, status: 'accepted' },
            { actor: { reference: practitioner.fhirUser, display: 'Dr. Testpractitioner' }, status: 'accepted' },
          ],
        })
      ).resource;

      // 2. The practitioner creates the meeting.
      const created = await server.app.inject({ method: 'POST', url: `/api/virtual-meetings/appointment/${appointment.id}`, headers: as(practitioner) });
      expect(created.statusCode).toBe(201);
      const meeting = created.json();
      expect(meeting).toMatchObject({ provider, status: 'scheduled', appointmentId: appointment.id });
      if (fake) expect(fake.roomByName(`appt-${appointment.id}`)?.id).toBe(meeting.providerRoomId);

      // The join page sees only what it needs.
      const page = await server.app.inject({ method: 'GET', url: `/api/virtual-meetings/code/${meeting.meetingCode}`, headers: as(undefined) });
      expect(page.statusCode).toBe(200);
      expect(page.json()).toEqual({
        meetingId: meeting.id,
        code: meeting.meetingCode,
        status: 'scheduled',
        provider,
        scheduledStart: appointment.start,
        scheduledEnd: appointment.end,
        practitionerName: 'Dr. Testpractitioner',
        organizationName: 'Clinic A',
      });

      const join = async (user: TestUser | undefined, body: Record<string, unknown> = {}) => {
        const res = await server.app.inject({ method: 'POST', url: `/api/virtual-meetings/join/${meeting.meetingCode}`, headers: as(user), payload: body });
        expect(res.statusCode).toBe(200);
        const answer = res.json();
        if (fake) await fake.joinWithAuthToken(answer.credentials.token, body.displayName as string | undefined);
        return answer;
      };

      // 3. The patient joins (signed in) and waits.
      const p1 = await join(patient);
      expect(p1).toMatchObject({ role: 'patient', provider, meeting: { status: 'scheduled' } });
      expect((await repo.read<Appointment>('Appointment', appointment.id!)).status).toBe('booked');

      // 4. The practitioner joins: the meeting starts.
      const host = await join(practitioner);
      expect(host).toMatchObject({ role: 'host', meeting: { status: 'active' } });
      const active = (await server.app.inject({ method: 'GET', url: `/api/virtual-meetings/${meeting.id}`, headers: as(practitioner) })).json();
      expect(active.status).toBe('active');
      const encounter = await repo.read<Encounter>('Encounter', active.encounterId);
      expect(encounter).toMatchObject({
        status: 'in-progress',
        subject: { reference: patient.fhirUser },
        identifier: [{ system: MEETING_ID_SYSTEM, value: meeting.id }],
        appointment: [{ reference: `Appointment/${appointment.id}` }],
      });
      expect((await repo.read<Appointment>('Appointment', appointment.id!)).status).toBe('arrived');

      // 5. The patient drops and rejoins.
      if (fake) {
        await fake.peerLeaves(meeting.providerRoomId, { userId: p1.participantId }, 'network');
      } else {
        const left = await server.app.inject({ method: 'POST', url: `/api/virtual-meetings/${meeting.id}/leave`, headers: as(undefined), payload: { participantId: p1.participantId } });
        expect(left.statusCode).toBe(200);
      }
      const p2 = await join(patient);
      expect(p2.participantId).not.toBe(p1.participantId);
      expect(p2.meeting.status).toBe('active');

      // 6. The practitioner ends the visit.
      const ended = await server.app.inject({ method: 'POST', url: `/api/virtual-meetings/${meeting.id}/end`, headers: as(practitioner) });
      expect(ended.statusCode).toBe(200);
      expect(ended.json()).toMatchObject({ status: 'ended', endedAt: expect.any(String) });
      await fake?.idle();

      const finished = await repo.read<Encounter>('Encounter', active.encounterId);
      expect(finished.status).toBe('finished');
      expect(finished.period?.end).toBe(ended.json().endedAt);
      expect(finished.length).toMatchObject({ unit: 'min', system: 'http://unitsofmeasure.org', code: 'min', value: expect.any(Number) });
      expect(finished.participant?.[0].period?.end).toBe(finished.period?.end);
      expect((await repo.read<Appointment>('Appointment', appointment.id!)).status).toBe('fulfilled');
      validateResource(finished);
      validateResource(await repo.read<Appointment>('Appointment', appointment.id!));

      const events = (await server.app.inject({ method: 'GET', url: `/api/virtual-meetings/${meeting.id}/events`, headers: as(practitioner) })).json().events as {
        eventType: string;
        eventData: Record<string, unknown>;
      }[];
      // Provider webhooks interleave; the story is the order of everything else.
      const story = events.map((e) => e.eventType).filter((t) => t !== 'provider_webhook');
      expect(story).toEqual([
        'meeting_created',
        'participant_joined', // patient
        'participant_joined', // host
        'meeting_started',
        'encounter_created',
        'appointment_status_changed', // arrived
        'participant_left', // patient drops
        'participant_joined', // patient again
        'participant_left', // host, at the end
        'participant_left', // patient, at the end
        'meeting_ended',
        'encounter_finished',
        'appointment_status_changed', // fulfilled
        'provider_room_ended',
      ]);
      if (fake) {
        expect(events.filter((e) => e.eventType === 'provider_webhook').length).toBeGreaterThanOrEqual(4);
        const endCall = fake.requests.find((r) => r.path === `/v2/active-rooms/${meeting.providerRoomId}/end-room`);
        expect(endCall?.body).toEqual({ reason: 'ended by host', lock: true });
      }

      // Ending again changes nothing.
      const again = await server.app.inject({ method: 'POST', url: `/api/virtual-meetings/${meeting.id}/end`, headers: as(practitioner) });
      expect(again.json()).toEqual(ended.json());
      const gone = await server.app.inject({ method: 'POST', url: `/api/virtual-meetings/join/${meeting.meetingCode}`, headers: as(undefined), payload: {} });
      expect(gone.statusCode).toBe(410);
      expect(gone.json().resourceType).toBe('OperationOutcome');
    });
  });
});
