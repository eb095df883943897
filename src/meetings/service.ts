import { randomUUID } from 'node:crypto';
import type { Appointment, Encounter, Patient, Practitioner, Organization, Resource } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import type { Database, Queryable } from '../db/database.js';
import { runParts, type StatementPart } from '../db/statement.js';
import {
  badGateway,
  conflict,
  forbidden,
  gone,
  notFound,
  OperationOutcomeError,
  unprocessable,
} from '../fhir/outcomes.js';
import type { FhirRepository } from '../fhir/repository/repository.js';
import type { FhirStore } from '../fhir/store.js';
import { cancelAppointment } from '../scheduling/booking.js';
import { generateMeetingCode, normalizeMeetingCode } from './codes.js';
import {
  findAppointmentActors,
  finishEncounter,
  isAppointmentClosed,
  isAppointmentOpen,
  newTelehealthEncounter,
  withVirtualService,
} from './fhir.js';
import type { VideoProviderDirectory } from './integrations.js';
import * as store from './meeting-store.js';
import type { MeetingRow, PendingEvent } from './meeting-store.js';
import { ProviderError } from './providers/errors.js';
import type { JoinCredentials, ParticipantRole, VideoProvider } from './providers/types.js';
import type { Meeting, MeetingEvent, MeetingStatus, Participant, PublicMeetingView, Trigger, UserType } from './types.js';

/**
 * The virtual meeting workflow: an Appointment gets a video room, the host's first join opens the Encounter,
 * the end finishes it. No HTTP here; the routes translate. Every FHIR change goes through the versioned
 * repository, bound to the same transaction as the meeting rows it belongs with. Provider calls never run
 * inside a transaction: a slow vendor must not hold row locks.
 */

export interface MeetingServiceOptions {
  db: Database;
  store: FhirStore;
  providers: VideoProviderDirectory;
  /** Join links are `${publicBaseUrl}/join/<code>`. */
  publicBaseUrl: string;
  now?: () => Date;
  /** Join credentials stay valid this long past the scheduled end (or past now, when later). */
  credentialsGraceSeconds?: number;
  /** Backoff of provider retries from the outbox. */
  outboxBaseDelayMs?: number;
  outboxMaxDelayMs?: number;
  outboxMaxAttempts?: number;
  log?: { warn(obj: object, msg: string): void };
  /** The name join pages show for an org (the product's organization record). */
  organizationName?: (orgId: string) => Promise<string | undefined>;
}

export interface JoinInput {
  displayName?: string;
  /** The meeting's patient proves who they are with their birth date (YYYY-MM-DD) when not signed in. */
  birthDate?: string;
}

export interface JoinResult {
  meeting: PublicMeetingView;
  role: ParticipantRole;
  participantId: string;
  provider: Meeting['provider'];
  credentials: JoinCredentials;
}

export interface ListQuery {
  status?: MeetingStatus;
  from?: string;
  to?: string;
  count?: number;
  offset?: number;
}

const SYSTEM: Trigger = { type: 'system' };
const MAX_CODE_ATTEMPTS = 5;

export class MeetingService {
  private readonly db: Database;
  private readonly now: () => Date;
  private readonly fhirBaseUrl: string;

  constructor(private readonly opts: MeetingServiceOptions) {
    this.db = opts.db;
    this.now = opts.now ?? (() => new Date());
    this.fhirBaseUrl = `${opts.publicBaseUrl}/fhir`;
  }

  // ----------------------------------------------------------------------------------------------- create

  /** Idempotent: an Appointment that already has an open meeting gets that one back (created: false). */
  async createMeetingForAppointment(actor: Principal, appointmentId: string): Promise<{ meeting: Meeting; created: boolean }> {
    assertStaff(actor);
    const existing = await store.findOpenMeetingForAppointment(this.db, actor.orgId, appointmentId);
    if (existing) return { meeting: store.toMeeting(existing), created: false };

    const repo = this.repository(actor.orgId, actor);
    const appointment = await repo.read<Appointment>('Appointment', appointmentId);
    const { practitioner, patient } = checkBookable(appointment);

    const meetingId = randomUUID();
    const provider = await this.opts.providers.providerForOrg(actor.orgId);
    const room = await callProvider(() => provider.createRoom({ name: `appt-${appointmentId}`, description: 'Telehealth visit', meetingId }));
    const hostDisplayName = practitioner.display ?? (await this.practitionerName(repo, practitioner.id));

    const result = await this.withUniqueCode(async (tx, code) => {
      // The Appointment's row lock serializes everyone creating a meeting for it; after it, a meeting created
      // by whoever held it first is visible, and the Appointment is read as it now stands (it may have been
      // cancelled while the room was being created).
      const txRepo = this.opts.store.repositoryInTransaction(tx, repo.context);
      const current = await txRepo.readForUpdate<Appointment>('Appointment', appointmentId);
      if (!current) throw notFound(`Appointment/${appointmentId} not found`);
      const raced = await store.findOpenMeetingForAppointment(tx, actor.orgId, appointmentId);
      if (raced) return { row: raced, created: false };
      checkBookable(current);
      const now = this.now();
      const publicLink = this.publicLink(code);
      const updated = await txRepo.update(withVirtualService(current, { provider: provider.name, address: publicLink, sessionKey: code }));
      const event: PendingEvent = {
        type: 'meeting_created',
        data: { appointmentId, provider: provider.name, providerRoomId: room.roomId, appointmentVersion: updated.resource.meta?.versionId },
        trigger: userTrigger(actor),
      };
      // The meeting row and its first event in one statement (the event names the row the statement inserts).
      const inserted = await runParts<MeetingRow>(tx, [
        store.eventsPart(meetingId, [event], now),
        store.insertMeetingPart({
          id: meetingId,
          orgId: actor.orgId,
          appointmentId,
          hostPractitionerId: practitioner.id,
          hostDisplayName,
          patientId: patient.id,
          provider: provider.name,
          roomId: room.roomId,
          code,
          roomUrl: room.roomUrl,
          publicLink,
          scheduledStart: current.start,
          scheduledEnd: current.end,
          roomDetails: room.details,
          createdBy: actor.subject,
          now,
        }),
      ]);
      return { row: inserted.rows[0], created: true };
    });
    return { meeting: store.toMeeting(result.row), created: result.created };
  }

  /** A meeting now, hosted by the calling practitioner, with or without a known patient. */
  async createInstantMeeting(actor: Principal, input: { patientId?: string; displayName?: string }): Promise<Meeting> {
    const practitionerId = practitionerIdOf(actor);
    if (!practitionerId) throw forbidden('An instant meeting is hosted by a signed-in practitioner');
    const repo = this.repository(actor.orgId, actor);
    if (input.patientId) await repo.read<Patient>('Patient', input.patientId);
    const hostDisplayName = input.displayName ?? actor.displayName ?? (await this.practitionerName(repo, practitionerId));

    const meetingId = randomUUID();
    const provider = await this.opts.providers.providerForOrg(actor.orgId);
    const room = await callProvider(() => provider.createRoom({ name: `instant-${meetingId}`, description: 'Telehealth visit', meetingId }));
    const row = await this.withUniqueCode(async (tx, code) => {
      const now = this.now();
      const inserted = await store.insertMeeting(tx, {
        id: meetingId,
        orgId: actor.orgId,
        hostPractitionerId: practitionerId,
        hostDisplayName,
        patientId: input.patientId,
        provider: provider.name,
        roomId: room.roomId,
        code,
        roomUrl: room.roomUrl,
        publicLink: this.publicLink(code),
        scheduledStart: now.toISOString(),
        roomDetails: room.details,
        createdBy: actor.subject,
        now,
      });
      await store.appendEvent(tx, meetingId, 'meeting_created', { instant: true, provider: provider.name, providerRoomId: room.roomId }, userTrigger(actor), now);
      return inserted;
    });
    return store.toMeeting(row);
  }

  // ------------------------------------------------------------------------------------------------- read

  async getMeeting(actor: Principal, meetingId: string): Promise<Meeting> {
    return store.toMeeting(await this.readableMeeting(actor, meetingId));
  }

  async listMeetings(actor: Principal, query: ListQuery): Promise<{ meetings: Meeting[]; next?: number }> {
    const patientId = actor.role === 'patient' ? patientIdOf(actor) : undefined;
    if (actor.role === 'patient' && !patientId) return { meetings: [] };
    if (actor.kind !== 'user' || !actor.role) throw forbidden('Meetings are listed for signed-in users');
    const count = Math.min(Math.max(query.count ?? 20, 1), 100);
    const offset = Math.max(query.offset ?? 0, 0);
    const rows = await store.listMeetings(this.db, {
      orgId: actor.orgId,
      status: query.status,
      from: query.from,
      to: query.to,
      patientId,
      limit: count + 1,
      offset,
    });
    const meetings = rows.slice(0, count).map(store.toMeeting);
    return rows.length > count ? { meetings, next: offset + count } : { meetings };
  }

  async listEvents(actor: Principal, meetingId: string): Promise<MeetingEvent[]> {
    const row = await this.readableMeeting(actor, meetingId);
    return store.listEvents(this.db, row.id);
  }

  async listParticipants(actor: Principal, meetingId: string): Promise<Participant[]> {
    const row = await this.readableMeeting(actor, meetingId);
    return store.listParticipants(this.db, row.id);
  }

  /** Public: only what a join page shows. Unknown → 404, ended or cancelled → 410. */
  async publicViewByCode(rawCode: string): Promise<PublicMeetingView> {
    const row = await this.joinableByCode(rawCode);
    return this.publicView(row);
  }

  // ------------------------------------------------------------------------------------------------- join

  /**
   * The server decides the role: the meeting's host practitioner signed in → host; the meeting's patient
   * signed in or proving their birth date → patient; anyone else → guest. The host's first join starts the
   * meeting (see startInTx), exactly once however many joins race.
   */
  async joinByCode(rawCode: string, input: JoinInput, caller?: Principal): Promise<JoinResult> {
    const code = normalizeMeetingCode(rawCode);
    if (!code) throw notFound('No meeting has this code');
    // Only a practitioner can be the host, whose first join starts the meeting under the meeting row's lock;
    // anyone else's join is one statement that writes only while the meeting is open.
    const { row, participant } =
      caller && practitionerIdOf(caller) ? await this.joinLocked(code, input, caller) : await this.joinOpen(code, input, caller);
    const credentials = await this.credentialsFor(row, participant);
    return { meeting: await this.publicView(row), role: participant.role, participantId: participant.id, provider: row.provider, credentials };
  }

  /** A patient's or guest's join: no transaction, see insertJoinIfOpen. */
  private async joinOpen(code: string, input: JoinInput, caller: Principal | undefined): Promise<{ row: MeetingRow; participant: Participant }> {
    const now = this.now();
    const row = await store.findMeetingByCode(this.db, code);
    if (!row) throw notFound('No meeting has this code');
    assertJoinable(row);
    const who = await this.identifyJoiner(this.db, row, input, caller);
    const { inserted, participant } = await store.insertJoinIfOpen(
      this.db,
      { meetingId: row.id, userId: who.userId, userType: who.userType, displayName: who.displayName, role: who.role, joinedAt: now },
      (session) => ({
        data: { participantId: session.id, role: who.role, userType: who.userType, displayName: who.displayName },
        trigger: caller ? userTrigger(caller) : { by: `participant:${session.id}`, type: 'user' },
      }),
    );
    if (!inserted) {
      // Ended or cancelled after it was read: answered as if it had been when read.
      const current = await store.findMeetingByCode(this.db, code);
      assertJoinable(current ?? { ...row, status: 'ended' });
      throw gone('This meeting has ended');
    }
    return { row, participant };
  }

  /** A practitioner's join, which starts the meeting when it is the host's first (see startInTx). */
  private async joinLocked(code: string, input: JoinInput, caller: Principal): Promise<{ row: MeetingRow; participant: Participant }> {
    return this.db.transaction(async (tx) => {
      const now = this.now();
      const locked = await store.findMeetingByCode(tx, code, { lock: true });
      if (!locked) throw notFound('No meeting has this code');
      assertJoinable(locked);
      const who = await this.identifyJoiner(tx, locked, input, caller);
      const { part: joined, participant } = store.participantPart({
        meetingId: locked.id,
        userId: who.userId,
        userType: who.userType,
        displayName: who.displayName,
        role: who.role,
        joinedAt: now,
      });
      const trigger: Trigger = caller ? userTrigger(caller) : { by: `participant:${participant.id}`, type: 'user' };
      const events: PendingEvent[] = [
        {
          type: 'participant_joined',
          data: { participantId: participant.id, role: who.role, userType: who.userType, displayName: who.displayName },
          trigger,
        },
      ];
      if (who.role !== 'host' || locked.status !== 'scheduled') {
        await runParts(tx, [joined, store.eventsPart(locked.id, events, now)]);
        return { row: locked, participant };
      }
      const { row, finish } = await this.startInTx(tx, locked, caller, now, events);
      // The session, the start and the events ride on the start's last FHIR write: one statement fewer.
      await finish([joined, store.startedPart(locked.id, row.encounter_id ?? undefined, now), store.eventsPart(locked.id, events, now)]);
      return { row, participant };
    });
  }

  /** Fresh credentials for someone already in the meeting; a closed session is reopened as a rejoin. */
  async issueToken(meetingId: string, participantId: string): Promise<Omit<JoinResult, 'meeting'>> {
    const { row, participant } = await this.db.transaction(async (tx) => {
      const locked = await store.findMeetingAnyOrg(tx, meetingId, { lock: true });
      const existing = locked ? await store.findParticipant(tx, locked.id, participantId) : undefined;
      if (!locked || !existing) throw notFound('No such participant in this meeting');
      assertJoinable(locked);
      if (!existing.leftAt) return { row: locked, participant: existing };
      const now = this.now();
      const reopened = await store.insertParticipant(tx, { ...existing, joinedAt: now, providerPeerId: undefined });
      await store.appendEvent(
        tx,
        locked.id,
        'participant_joined',
        { participantId: reopened.id, previousParticipantId: existing.id, role: reopened.role, userType: reopened.userType, rejoin: true },
        { by: `participant:${existing.id}`, type: 'user' },
        now,
      );
      return { row: locked, participant: reopened };
    });
    return { role: participant.role, participantId: participant.id, provider: row.provider, credentials: await this.credentialsFor(row, participant) };
  }

  /** Closes that participant's session; leaving twice changes nothing. The meeting stays open for rejoins. */
  async leave(meetingId: string, participantId: string): Promise<Participant> {
    return this.db.transaction(async (tx) => {
      const row = await store.findMeetingAnyOrg(tx, meetingId, { lock: true });
      const existing = row ? await store.findParticipant(tx, row.id, participantId) : undefined;
      if (!row || !existing) throw notFound('No such participant in this meeting');
      const now = this.now();
      const closed = await store.closeParticipant(tx, participantId, now);
      if (!closed) return existing;
      await store.appendEvent(
        tx,
        row.id,
        'participant_left',
        { participantId, role: closed.role, durationSeconds: closed.durationSeconds, reason: 'left' },
        { by: `participant:${participantId}`, type: 'user' },
        now,
      );
      return closed;
    });
  }

  // -------------------------------------------------------------------------------------------------- end

  /** Host or org admin; ending an ended meeting returns it unchanged. */
  async endMeeting(actor: Principal, meetingId: string, reason = 'ended by host'): Promise<Meeting> {
    return this.endLocked((tx) => this.meetingOfHostOrAdmin(tx, actor, meetingId, 'end'), reason, userTrigger(actor));
  }

  /**
   * Cancels a meeting that has not started (host or org admin): the meeting is cancelled, its Appointment too
   * (a cancelled visit, its Slots free again, as Appointment/$cancel does), and the provider's room is closed
   * through the outbox like an end. Cancelling a
   * cancelled meeting changes nothing; a meeting that started must be ended instead (409).
   */
  async cancelMeeting(actor: Principal, meetingId: string, reason = 'cancelled by the clinic'): Promise<Meeting> {
    const trigger = userTrigger(actor);
    const { cancelled, outbox } = await this.db.transaction(async (tx) => {
      const locked = await this.meetingOfHostOrAdmin(tx, actor, meetingId, 'cancel');
      if (locked.status === 'cancelled') return { cancelled: locked, outbox: undefined };
      if (locked.status !== 'scheduled') throw conflict(`The meeting is ${locked.status}; only a meeting that has not started can be cancelled`);
      const now = this.now();
      const updated = await tx.query<MeetingRow>(
        `UPDATE virtual_meetings SET status = 'cancelled', ended_at = $2, updated_at = $2 WHERE id = $1 RETURNING *`,
        [locked.id, now],
      );
      const events: PendingEvent[] = [];
      for (const p of await store.closeOpenParticipants(tx, locked.id, now)) {
        events.push({ type: 'participant_left', data: { participantId: p.id, role: p.role, durationSeconds: p.durationSeconds, reason: 'meeting cancelled' }, trigger });
      }
      events.push({ type: 'meeting_cancelled', data: { reason }, trigger });
      if (locked.appointment_id) {
        const repo = this.opts.store.repositoryInTransaction(tx, { orgId: locked.org_id, baseUrl: this.fhirBaseUrl, principal: actor });
        const appointment = await repo.readForUpdate<Appointment>('Appointment', locked.appointment_id);
        // Scheduling's cancel, in this transaction: the visit's Slots are free for other bookings once the
        // meeting is cancelled. An Appointment cancelled earlier (by a plain update) gives back what it still holds.
        if (appointment && (isAppointmentOpen(appointment) || appointment.status === 'cancelled')) {
          await cancelAppointment(repo, appointment.id!, { text: reason });
          if (appointment.status !== 'cancelled') {
            events.push({ type: 'appointment_status_changed', data: { appointmentId: appointment.id, from: appointment.status, to: 'cancelled' }, trigger });
          }
        }
      }
      const endRoom = store.endRoomPart(locked, reason, now);
      await runParts(tx, [store.eventsPart(locked.id, events, now), endRoom.part]);
      return { cancelled: updated.rows[0], outbox: endRoom.item };
    });
    if (outbox) await this.deliverClaimed(outbox);
    return store.toMeeting(cancelled);
  }

  /** The practitioner sent the join link to the patient (by copy, e-mail, SMS…): recorded as an event. */
  async recordLinkShared(actor: Principal, meetingId: string, channel: string): Promise<MeetingEvent[]> {
    const row = await store.findMeeting(this.db, actor.orgId, meetingId);
    if (!row) throw notFound(`Meeting ${meetingId} not found`);
    if (actor.kind !== 'user' || (actor.role !== 'practitioner' && actor.role !== 'admin')) throw forbidden('Only clinic staff share join links');
    await store.appendEvent(this.db, row.id, 'link_shared', { channel }, userTrigger(actor), this.now());
    return this.listEvents(actor, meetingId);
  }

  /** The meeting, locked in tx, when the actor is its host or an administrator of its org. */
  private async meetingOfHostOrAdmin(tx: Queryable, actor: Principal, meetingId: string, verb: 'end' | 'cancel'): Promise<MeetingRow> {
    const row = await store.findMeeting(tx, actor.orgId, meetingId, { lock: true });
    if (!row) throw notFound(`Meeting ${meetingId} not found`);
    const isHost = practitionerIdOf(actor) === row.host_practitioner_id;
    const isAdmin = actor.kind === 'user' && actor.role === 'admin';
    if (!isHost && !isAdmin) throw forbidden(`Only the host or an administrator can ${verb} this meeting`);
    return row;
  }

  /** The end rule for the system's own reasons (idle, overrun) and for the provider's. */
  async end(meetingId: string, reason: string, trigger: Trigger = SYSTEM): Promise<Meeting> {
    return this.endLocked(
      async (tx) => {
        const locked = await store.findMeetingAnyOrg(tx, meetingId, { lock: true });
        if (!locked) throw notFound(`Meeting ${meetingId} not found`);
        return locked;
      },
      reason,
      trigger,
    );
  }

  /** Ends the meeting `lock` finds and locks in the transaction; an ended or cancelled one is returned as it is. */
  private async endLocked(lock: (tx: Queryable) => Promise<MeetingRow>, reason: string, trigger: Trigger): Promise<Meeting> {
    const { row, outbox } = await this.db.transaction(async (tx) => {
      const locked = await lock(tx);
      if (locked.status === 'ended' || locked.status === 'cancelled') return { row: locked, outbox: undefined };
      return this.endInTx(tx, locked, reason, trigger, { endAtProvider: true });
    });
    if (outbox) await this.deliverClaimed(outbox);
    return store.toMeeting(row);
  }

  /**
   * Ends a locked, open meeting: sessions closed, meeting ended, Encounter finished, Appointment fulfilled
   * or noshow, and — unless the provider itself ended the room — an outbox item to end the room there,
   * committed with the rest so it cannot be lost.
   */
  async endInTx(
    tx: Queryable,
    meeting: MeetingRow,
    reason: string,
    trigger: Trigger,
    opts: { endAtProvider: boolean; at?: Date },
  ): Promise<{ row: MeetingRow; outbox?: store.OutboxItem }> {
    const now = opts.at ?? this.now();
    const events: PendingEvent[] = [];
    const { closed, patientOrGuestTookPart: tookPart } = await store.markEnded(tx, meeting.id, now);
    for (const p of closed) {
      events.push({
        type: 'participant_left',
        data: { participantId: p.id, role: p.role, durationSeconds: p.durationSeconds, reason: 'meeting ended' },
        trigger,
      });
    }
    const row: MeetingRow = { ...meeting, status: 'ended', ended_at: now, updated_at: now };
    events.push({ type: 'meeting_ended', data: { reason, patientOrGuestTookPart: tookPart }, trigger });

    const repo = this.opts.store.repositoryInTransaction(tx, { orgId: meeting.org_id, baseUrl: this.fhirBaseUrl });
    const writes: Resource[] = [];
    // The Encounter and the Appointment, locked by one statement.
    const [encounter, appointment] = (await repo.readManyForUpdate([
      { resourceType: 'Encounter', id: meeting.encounter_id },
      { resourceType: 'Appointment', id: meeting.appointment_id },
    ])) as [Encounter | undefined, Appointment | undefined];
    if (encounter && encounter.status !== 'finished') {
      const finished = finishEncounter(encounter, now);
      writes.push(finished);
      events.push({ type: 'encounter_finished', data: { encounterId: encounter.id, lengthMinutes: finished.length?.value }, trigger });
    }
    if (appointment && isAppointmentOpen(appointment)) {
      // A visit that never started did not happen, whoever waited in the room.
      const to = tookPart && meeting.started_at ? 'fulfilled' : 'noshow';
      writes.push({ ...appointment, status: to });
      events.push({ type: 'appointment_status_changed', data: { appointmentId: appointment.id, from: appointment.status, to }, trigger });
    }
    // The events and the provider's end-room call ride on the last FHIR write, or go alone when there is none.
    const endRoom = opts.endAtProvider ? store.endRoomPart(meeting, reason, now) : undefined;
    const rows = [store.eventsPart(meeting.id, events, now), endRoom?.part].filter((r): r is StatementPart => r !== undefined);
    for (const [i, resource] of writes.entries()) await repo.update(resource, i === writes.length - 1 ? { alongside: rows } : {});
    if (writes.length === 0) await runParts(tx, rows);
    return { row, outbox: endRoom?.item };
  }

  // ----------------------------------------------------------------------------------------------- outbox

  /** Provider calls due now (or at `at`); returns how many succeeded. The scheduler calls this. */
  async processDueOutbox(at: Date = this.now(), limit = 20): Promise<number> {
    const due = await this.db.query<{ id: string }>(
      `SELECT id FROM provider_outbox WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2`,
      [at, limit],
    );
    let done = 0;
    for (const { id } of due.rows) if (await this.deliverOutboxItem(id, at)) done++;
    return done;
  }

  /**
   * Claims the item (moving its next attempt past a lease, so another server skips it), calls the provider
   * outside any transaction, then records success or schedules the next attempt with exponential backoff.
   */
  async deliverOutboxItem(id: string, at: Date = this.now()): Promise<boolean> {
    const leaseUntil = new Date(at.getTime() + store.OUTBOX_LEASE_MS);
    // One statement claims it: another server (or the scheduler) sees the moved next_attempt_at and skips it.
    const r = await this.db.query<{ id: string; org_id: string; meeting_id: string | null; provider: Meeting['provider']; payload: { roomId: string; reason: string }; attempts: number }>(
      `UPDATE provider_outbox SET attempts = attempts + 1, next_attempt_at = $3
       WHERE id = $1 AND status = 'pending' AND next_attempt_at <= $2
       RETURNING id, org_id, meeting_id, provider, payload, attempts`,
      [id, at, leaseUntil],
    );
    const claimed = r.rows[0];
    if (!claimed) return false;
    return this.deliverClaimed(claimed, at);
  }

  /**
   * Calls the provider for an item this server has claimed (by deliverOutboxItem, or by inserting it claimed
   * in the transaction that just committed), then records success or schedules the next attempt.
   */
  async deliverClaimed(claimed: store.OutboxItem, at: Date = this.now()): Promise<boolean> {
    const { id } = claimed;
    try {
      const provider = await this.opts.providers.providerFor(claimed.org_id, claimed.provider);
      const result = await provider.endRoom(claimed.payload.roomId, { reason: claimed.payload.reason, lock: true });
      await this.db.query(
        `WITH done AS (
           UPDATE provider_outbox SET status = 'done', completed_at = $2, last_error = NULL WHERE id = $1 RETURNING meeting_id)
         INSERT INTO virtual_meeting_events (meeting_id, event_type, event_data, triggered_by_type, created_at)
         SELECT meeting_id, 'provider_room_ended', $3::jsonb, 'system', $2 FROM done WHERE meeting_id IS NOT NULL`,
        [id, this.now(), JSON.stringify({ alreadyEnded: result.alreadyEnded, attempt: claimed.attempts })],
      );
      return true;
    } catch (err) {
      const maxAttempts = this.opts.outboxMaxAttempts ?? 15;
      const base = this.opts.outboxBaseDelayMs ?? 5_000;
      const cap = this.opts.outboxMaxDelayMs ?? 30 * 60_000;
      const delay = Math.min(cap, base * 2 ** (claimed.attempts - 1));
      const next = new Date(at.getTime() + delay / 2 + Math.random() * (delay / 2));
      const failed = claimed.attempts >= maxAttempts;
      const detail = describeProviderFailure(err);
      await this.db.transaction(async (tx) => {
        await tx.query(`UPDATE provider_outbox SET status = $2, next_attempt_at = $3, last_error = $4 WHERE id = $1`, [
          id,
          failed ? 'failed' : 'pending',
          next,
          detail.message,
        ]);
        if (claimed.meeting_id) {
          await store.appendEvent(
            tx,
            claimed.meeting_id,
            'provider_error',
            { action: 'end_room', attempt: claimed.attempts, ...detail, ...(failed ? { gaveUp: true } : { nextAttemptAt: next.toISOString() }) },
            SYSTEM,
            this.now(),
          );
        }
      });
      this.opts.log?.warn({ outboxId: id, attempt: claimed.attempts, ...detail }, 'video provider call failed; will retry');
      return false;
    }
  }

  // -------------------------------------------------------------------------------------- automatic ends

  /** Meetings nobody has been in for idleSeconds, and meetings open overrunSeconds past their scheduled end. */
  async endIdleAndOverrun(at: Date, idleSeconds: number, overrunSeconds: number): Promise<string[]> {
    const idleBefore = new Date(at.getTime() - idleSeconds * 1000);
    const overrunBefore = new Date(at.getTime() - overrunSeconds * 1000);
    const idle = await this.db.query<{ id: string }>(
      `SELECT m.id FROM virtual_meetings m
       WHERE m.status = 'active'
         AND NOT EXISTS (SELECT 1 FROM virtual_meeting_participants p WHERE p.meeting_id = m.id AND p.left_at IS NULL)
         AND GREATEST(m.started_at, m.provider_session_closed_at,
               (SELECT max(p.left_at) FROM virtual_meeting_participants p WHERE p.meeting_id = m.id)) <= $1
       LIMIT 100`,
      [idleBefore],
    );
    const overrun = await this.db.query<{ id: string }>(
      `SELECT id FROM virtual_meetings
       WHERE status IN ('scheduled', 'active') AND scheduled_end IS NOT NULL AND scheduled_end <= $1 LIMIT 100`,
      [overrunBefore],
    );
    const ended: string[] = [];
    const idleIds = new Set(idle.rows.map((r) => r.id));
    for (const id of idleIds) {
      await this.end(id, 'nobody in the room');
      ended.push(id);
    }
    for (const { id } of overrun.rows) {
      if (idleIds.has(id)) continue;
      await this.end(id, 'scheduled end passed');
      ended.push(id);
    }
    return ended;
  }

  // ------------------------------------------------------------------------------------------- internals

  /**
   * The start rule, inside the transaction holding the meeting row lock (so it runs once per meeting): the
   * Encounter and the Appointment; returns the meeting row as it is once the caller writes startedPart.
   */
  private async startInTx(
    tx: Queryable,
    meeting: MeetingRow,
    host: Principal,
    now: Date,
    events: PendingEvent[],
  ): Promise<{ row: MeetingRow; finish: (rows: (StatementPart | undefined)[]) => Promise<void> }> {
    const repo = this.opts.store.repositoryInTransaction(tx, { orgId: meeting.org_id, baseUrl: this.fhirBaseUrl, principal: host });
    const trigger = userTrigger(host);
    let encounterId: string | undefined;
    if (meeting.patient_id) {
      const created = await repo.create(
        newTelehealthEncounter({
          meetingId: meeting.id,
          patientId: meeting.patient_id,
          practitionerId: meeting.host_practitioner_id,
          appointmentId: meeting.appointment_id ?? undefined,
          publicLink: meeting.public_link,
          start: now,
        }),
      );
      encounterId = created.resource.id;
    }
    // The meeting row itself is marked started by the caller, in the statement that records the join.
    events.push({ type: 'meeting_started', data: {}, trigger });
    if (encounterId) events.push({ type: 'encounter_created', data: { encounterId }, trigger });
    let arrived: Appointment | undefined;
    if (meeting.appointment_id) {
      const appointment = await repo.readForUpdate<Appointment>('Appointment', meeting.appointment_id);
      if (appointment && isAppointmentOpen(appointment) && appointment.status !== 'arrived') {
        arrived = { ...appointment, status: 'arrived' };
        events.push({ type: 'appointment_status_changed', data: { appointmentId: appointment.id, from: appointment.status, to: 'arrived' }, trigger });
      }
    }
    return {
      row: { ...meeting, status: 'active', started_at: now, encounter_id: encounterId ?? null, updated_at: now },
      // The Appointment is written last, with the caller's rows alongside (events are complete by then).
      finish: async (rows) => {
        const present = rows.filter((r): r is StatementPart => r !== undefined);
        if (arrived) await repo.update(arrived, { alongside: present });
        else await runParts(tx, present);
      },
    };
  }

  /** Runs in the joining transaction (tx): on embedded PGlite a read outside it would wait for it forever. */
  private async identifyJoiner(
    tx: Queryable,
    meeting: MeetingRow,
    input: JoinInput,
    caller: Principal | undefined,
  ): Promise<{ role: ParticipantRole; userType: UserType; userId?: string; displayName: string }> {
    const sameOrg = caller?.kind === 'user' && caller.orgId === meeting.org_id;
    const name = (fallback: string) => (input.displayName?.trim() || caller?.displayName || fallback).slice(0, 200);
    if (sameOrg && practitionerIdOf(caller!) === meeting.host_practitioner_id) {
      return { role: 'host', userType: 'practitioner', userId: caller!.subject, displayName: name(meeting.host_display_name ?? 'Host') };
    }
    if (sameOrg && meeting.patient_id && patientIdOf(caller!) === meeting.patient_id) {
      return { role: 'patient', userType: 'patient', userId: caller!.subject, displayName: name('Patient') };
    }
    if (input.birthDate !== undefined && meeting.patient_id) {
      const repo = this.opts.store.repositoryInTransaction(tx, { orgId: meeting.org_id, baseUrl: this.fhirBaseUrl });
      const patient = await repo.readIfExists<Patient>('Patient', meeting.patient_id);
      if (!patient?.birthDate || patient.birthDate !== input.birthDate.trim()) {
        throw forbidden('The birth date does not match the patient of this meeting');
      }
      return { role: 'patient', userType: 'patient', userId: `Patient/${meeting.patient_id}`, displayName: name('Patient') };
    }
    const userType: UserType = caller?.role === 'practitioner' || caller?.role === 'admin' ? 'practitioner' : 'guest';
    return { role: 'guest', userType, userId: caller?.subject, displayName: name('Guest') };
  }

  private async joinableByCode(rawCode: string): Promise<MeetingRow> {
    const code = normalizeMeetingCode(rawCode);
    const row = code ? await store.findMeetingByCode(this.db, code) : undefined;
    if (!row) throw notFound('No meeting has this code');
    assertJoinable(row);
    return row;
  }

  private async readableMeeting(actor: Principal, meetingId: string): Promise<MeetingRow> {
    const row = await store.findMeeting(this.db, actor.orgId, meetingId);
    if (!row) throw notFound(`Meeting ${meetingId} not found`);
    if (actor.kind === 'user' && actor.role === 'patient' && patientIdOf(actor) !== row.patient_id) {
      throw notFound(`Meeting ${meetingId} not found`);
    }
    return row;
  }

  private async credentialsFor(row: MeetingRow, participant: Participant): Promise<JoinCredentials> {
    const provider: VideoProvider = await this.opts.providers.providerFor(row.org_id, row.provider);
    const now = this.now().getTime();
    const scheduledEnd = row.scheduled_end ? new Date(row.scheduled_end).getTime() : now;
    const grace = (this.opts.credentialsGraceSeconds ?? 2 * 3600) * 1000;
    return callProvider(() =>
      provider.issueJoinCredentials({
        roomId: row.meeting_id,
        meetingId: row.id,
        participantId: participant.id,
        // The provider echoes this id in its presence events; it is how a peer is matched to its session.
        userId: participant.id,
        role: participant.role,
        displayName: participant.displayName,
        expiresAt: new Date(Math.max(now, scheduledEnd) + grace),
      }),
    );
  }

  private async publicView(row: MeetingRow): Promise<PublicMeetingView> {
    const view: PublicMeetingView = { meetingId: row.id, code: row.meeting_code, status: row.status, provider: row.provider };
    if (row.scheduled_start) view.scheduledStart = new Date(row.scheduled_start).toISOString();
    if (row.scheduled_end) view.scheduledEnd = new Date(row.scheduled_end).toISOString();
    if (row.host_display_name) view.practitionerName = row.host_display_name;
    const orgName = this.opts.organizationName
      ? await this.opts.organizationName(row.org_id)
      : (await this.repository(row.org_id).readIfExists<Organization>('Organization', row.org_id))?.name;
    if (orgName) view.organizationName = orgName;
    return view;
  }

  private async practitionerName(repo: FhirRepository, id: string): Promise<string | undefined> {
    const p = await repo.readIfExists<Practitioner>('Practitioner', id);
    const n = p?.name?.[0];
    if (!n) return undefined;
    return n.text ?? ([...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean).join(' ') || undefined);
  }

  private publicLink(code: string): string {
    return `${this.opts.publicBaseUrl}/join/${code}`;
  }

  private repository(orgId: string, principal?: Principal): FhirRepository {
    return this.opts.store.repository({ orgId, baseUrl: this.fhirBaseUrl, principal });
  }

  /** Runs fn with a fresh code, again with another one in the (astronomically rare) case of a collision. */
  private async withUniqueCode<T>(fn: (tx: Queryable, code: string) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction((tx) => fn(tx, generateMeetingCode()));
      } catch (err) {
        const e = err as { code?: string; constraint?: string; message?: string };
        const codeClash = e.code === '23505' && (e.constraint === 'virtual_meetings_code' || /virtual_meetings_code/.test(e.message ?? ''));
        if (!codeClash || attempt >= MAX_CODE_ATTEMPTS) throw err;
      }
    }
  }
}

// ----------------------------------------------------------------------------------------------- helpers

function checkBookable(appointment: Appointment): { practitioner: { id: string; display?: string }; patient: { id: string; display?: string } } {
  if (isAppointmentClosed(appointment)) {
    throw conflict(`Appointment/${appointment.id} is ${appointment.status}; no meeting can be created for it`);
  }
  const { practitioner, patient } = findAppointmentActors(appointment);
  if (!practitioner) throw unprocessable('The Appointment has no Practitioner participant', 'Appointment.participant.actor');
  if (!patient) throw unprocessable('The Appointment has no Patient participant', 'Appointment.participant.actor');
  return { practitioner, patient };
}

function assertJoinable(row: MeetingRow): void {
  if (row.status === 'ended' || row.status === 'cancelled') throw gone(`This meeting has ${row.status === 'ended' ? 'ended' : 'been cancelled'}`);
}

function assertStaff(actor: Principal): void {
  if (actor.kind !== 'user' || (actor.role !== 'practitioner' && actor.role !== 'admin')) {
    throw forbidden('This needs a signed-in practitioner or administrator');
  }
}

export function practitionerIdOf(p: Principal): string | undefined {
  if (p.kind !== 'user') return undefined;
  return /^Practitioner\/([A-Za-z0-9\-.]{1,64})$/.exec(p.fhirUser ?? '')?.[1];
}

export function patientIdOf(p: Principal): string | undefined {
  if (p.kind !== 'user') return undefined;
  return /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(p.fhirUser ?? '')?.[1];
}

function userTrigger(p: Principal): Trigger {
  return { by: p.fhirUser ?? p.subject, type: 'user' };
}

/** A provider failure becomes a 502 (504 on timeout) OperationOutcome; anything else unexpected too. */
async function callProvider<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof OperationOutcomeError) throw err;
    throw badGateway(`The video provider failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function describeProviderFailure(err: unknown): { message: string; providerStatus?: number; code?: string | number } {
  if (err instanceof ProviderError) {
    const d: { message: string; providerStatus?: number; code?: string | number } = { message: err.message, code: err.code };
    if (err.providerStatus !== undefined) d.providerStatus = err.providerStatus;
    return d;
  }
  return { message: err instanceof Error ? err.message : String(err) };
}

