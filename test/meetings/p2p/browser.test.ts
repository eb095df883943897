import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import type { Appointment, Bundle, Encounter } from '@medplum/fhirtypes';
import { PostgresDatabase, type Database } from '../../../src/db/database.js';
import { validateResource } from '../../../src/fhir/validation/validate.js';
import { MEETING_ID_SYSTEM } from '../../../src/meetings/fhir.js';
import { InProcessBusHub, type SignalingBus } from '../../../src/meetings/p2p/bus.js';
import { createPostgresBus } from '../../../src/meetings/p2p/postgres-bus.js';
import { createRedisBus } from '../../../src/meetings/p2p/redis-bus.js';
import { createTestDatabase } from '../../support/db.js';
import { bookClinicVisit, startClinicInstance, type ClinicInstance } from './clinic.js';
import { joinToken, redisChannelPrefix, startSignaling, TEST_REDIS_URL } from './support.js';
import { CHROMIUM, CHROMIUM_ARGS } from '../../support/chromium.js';

/**
 * Two people in headless Chromium with fake cameras — a host and a patient in separate browser contexts —
 * hold a call through the browser client module and our signaling server, and video arrives on both sides.
 * Then the whole visit with each of them on a different server instance of one clinic, relayed through
 * PostgreSQL LISTEN/NOTIFY and through Redis: the FHIR records come out as with any other provider.
 */

type TestWindow = Window & {
  p2pTest: {
    log: { event: string; detail: unknown }[];
    framesDecoded(): Promise<Record<string, { video: number; audioPackets: number }>>;
    state(): string;
    me(): { peerId: string } | undefined;
    participants(): { peerId: string; participantId: string; audioEnabled: boolean; videoEnabled: boolean; connectionState: string }[];
    setMicrophoneEnabled(on: boolean): void;
    leave(): void;
  };
};

async function bundlePage(): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(new URL('./browser/page.ts', import.meta.url))],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

function servePage(script: string) {
  return (app: FastifyInstance) => {
    app.get('/p2p-test', (_req, reply) =>
      reply.type('text/html').send('<!doctype html><html><head><title>p2p</title></head><body><script type="module" src="/p2p-test.js"></script></body></html>'),
    );
    app.get('/p2p-test.js', (_req, reply) => reply.type('text/javascript').send(script));
  };
}

async function waitForState(page: Page, wanted: string, timeoutMs = 15_000): Promise<void> {
  await page.waitForFunction((s) => (window as unknown as TestWindow).p2pTest.state() === s, wanted, { timeout: timeoutMs });
}

/** Polls until this page decodes video frames (and receives audio) from every other participant. */
async function waitForMedia(page: Page, peers: number, timeoutMs = 30_000): Promise<Record<string, { video: number; audioPackets: number }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await page.evaluate(() => (window as unknown as TestWindow).p2pTest.framesDecoded());
    const values = Object.values(stats);
    if (values.length === peers && values.every((v) => v.video > 0 && v.audioPackets > 0)) return stats;
    if (Date.now() > deadline) throw new Error(`no media flowing: ${JSON.stringify(stats)}; log: ${JSON.stringify(await page.evaluate(() => (window as unknown as TestWindow).p2pTest.log))}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!haveChromium)('p2p video in the browser', () => {
  let browser: Browser;
  let script: string;

  beforeAll(async () => {
    script = await bundlePage();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** A host page and a patient page, each in its own browser context (no shared storage), closed after `story`. */
  async function withTwoPeople(story: (host: Page, patient: Page) => Promise<void>): Promise<void> {
    const hostContext = await browser.newContext();
    const patientContext = await browser.newContext();
    try {
      const hostPage = await hostContext.newPage();
      const patientPage = await patientContext.newPage();
      const errors: string[] = [];
      for (const p of [hostPage, patientPage]) p.on('pageerror', (e) => errors.push(e.message));
      await story(hostPage, patientPage);
      expect(errors).toEqual([]);
    } finally {
      await hostContext.close();
      await patientContext.close();
    }
  }

  const openCall = (page: Page, baseUrl: string, token: string) => page.goto(`${baseUrl}/p2p-test#token=${token}`);

  /** Video (and audio) arrive on both sides, and muting shows on the other side. */
  async function expectVideoBothWays(hostPage: Page, patientPage: Page): Promise<void> {
    const hostSees = await waitForMedia(hostPage, 1);
    const patientSees = await waitForMedia(patientPage, 1);
    const hostPeer = await hostPage.evaluate(() => (window as unknown as TestWindow).p2pTest.me()!.peerId);
    const patientPeer = await patientPage.evaluate(() => (window as unknown as TestWindow).p2pTest.me()!.peerId);
    expect(hostSees[patientPeer].video).toBeGreaterThan(0);
    expect(patientSees[hostPeer].video).toBeGreaterThan(0);
    await patientPage.evaluate(() => (window as unknown as TestWindow).p2pTest.setMicrophoneEnabled(false));
    await hostPage.waitForFunction(() => (window as unknown as TestWindow).p2pTest.participants()[0]?.audioEnabled === false);
  }

  async function expectEndedForBoth(hostPage: Page, patientPage: Page): Promise<void> {
    await waitForState(hostPage, 'ended');
    await waitForState(patientPage, 'ended');
    const ended = await patientPage.evaluate(() => (window as unknown as TestWindow).p2pTest.log.find((e) => e.event === 'ended')?.detail);
    expect(ended).toMatchObject({ reason: 'meeting-ended', code: 4410 });
  }

  it('host and patient on one server: lobby, then video both ways, then the end', async () => {
    const sig = await startSignaling(new InProcessBusHub().endpoint(), {}, servePage(script));
    const baseUrl = sig.url.replace(/^ws/, 'http').replace(/\/api\/.*$/, '');
    try {
      await withTwoPeople(async (hostPage, patientPage) => {
        // The patient arrives first and waits in the lobby.
        await openCall(patientPage, baseUrl, await joinToken('browser-1', 'patient-1', 'patient'));
        await waitForState(patientPage, 'waiting');
        await openCall(hostPage, baseUrl, await joinToken('browser-1', 'host-1', 'host'));
        await waitForState(hostPage, 'connected');
        await waitForState(patientPage, 'connected');
        await expectVideoBothWays(hostPage, patientPage);

        await sig.server.endRoom('p2p-browser-1', 'ended by host');
        await expectEndedForBoth(hostPage, patientPage);
      });
      const types = sig.presence.map((e) => e.type);
      expect(types).toEqual(['peer.joined', 'peer.joined', 'peer.left', 'peer.left', 'session.closed']);
    } finally {
      await sig.close();
    }
  });

  type Relay = 'database' | 'redis';
  const relays: Relay[] = ['database', 'redis'];

  /**
   * Two instances of the product on one database. The relay between them is PostgreSQL LISTEN/NOTIFY (the
   * default) or Redis pub/sub; without TEST_DATABASE_URL the database is one PGlite shared in this process and
   * the "database" relay is the in-process bus.
   */
  async function startTwoInstances(relay: Relay): Promise<{ a: ClinicInstance; b: ClinicInstance; db: Database; close(): Promise<void> }> {
    const steps: (() => Promise<void>)[] = [];
    const database = await createTestDatabase(process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite');
    steps.unshift(database.close);
    // Each PostgreSQL instance has its own connections, as separate processes would.
    const dbB = database.url ? new PostgresDatabase(database.url) : database.db;
    if (dbB !== database.db) steps.unshift(() => dbB.close());
    let buses: [SignalingBus, SignalingBus];
    if (relay === 'redis') {
      const channelPrefix = redisChannelPrefix();
      buses = [await createRedisBus({ url: TEST_REDIS_URL, channelPrefix }), await createRedisBus({ url: TEST_REDIS_URL, channelPrefix })];
    } else if (database.url) {
      buses = [await createPostgresBus({ connectionString: database.url }), await createPostgresBus({ connectionString: database.url })];
    } else {
      const hub = new InProcessBusHub();
      buses = [hub.endpoint(), hub.endpoint()];
    }
    for (const bus of buses) steps.unshift(() => bus.close());
    const a = await startClinicInstance(database.db, buses[0], servePage(script));
    steps.unshift(a.close);
    const b = await startClinicInstance(dbB, buses[1], servePage(script));
    steps.unshift(b.close);
    return {
      a,
      b,
      db: database.db,
      close: async () => {
        for (const step of steps) await step();
      },
    };
  }

  describe.each(relays)('a whole visit with host and patient on two server instances (relay: %s)', (relay) => {
    it('lobby on one instance, host on the other, video both ways, one Encounter, then finished and fulfilled', { timeout: 120_000 }, async () => {
      const { a, b, db, close } = await startTwoInstances(relay);
      try {
        const visit = await bookClinicVisit(db, a.store);
        const appointmentId = visit.appointment.id!;
        const as = (authorization: string) => ({ authorization });
        // Reads go through the FHIR API of the instance the host is not on.
        const fhirGet = async <T,>(url: string): Promise<T> => {
          const res = await b.app.inject({ method: 'GET', url: `/fhir/${url}`, headers: as(visit.practitioner) });
          expect(res.statusCode).toBe(200);
          return res.json() as T;
        };
        const encounters = async () => ((await fhirGet<Bundle<Encounter>>(`Encounter?appointment=Appointment/${appointmentId}`)).entry ?? []).map((e) => e.resource!);
        const appointment = () => fhirGet<Appointment>(`Appointment/${appointmentId}`);
        const flushPresence = () => Promise.all([a.signaling.flushPresence(), b.signaling.flushPresence()]);

        const created = await a.app.inject({ method: 'POST', url: `/api/virtual-meetings/appointment/${appointmentId}`, headers: as(visit.practitioner) });
        expect(created.statusCode).toBe(201);
        const meeting = created.json() as { id: string; meetingCode: string; provider: string };
        expect(meeting.provider).toBe('p2p');
        const join = async (on: ClinicInstance, authorization: string) => {
          const res = await on.app.inject({ method: 'POST', url: `/api/virtual-meetings/join/${meeting.meetingCode}`, headers: as(authorization), payload: {} });
          expect(res.statusCode).toBe(200);
          return res.json() as { role: string; credentials: { token: string } };
        };

        await withTwoPeople(async (hostPage, patientPage) => {
          // 1. The patient opens the link on instance B and waits: no Encounter yet.
          const patient = await join(b, visit.patient);
          expect(patient.role).toBe('patient');
          await openCall(patientPage, b.baseUrl, patient.credentials.token);
          await waitForState(patientPage, 'waiting');
          await flushPresence();
          expect(await encounters()).toEqual([]);
          expect((await appointment()).status).toBe('booked');

          // 2. The practitioner joins on instance A: both are connected through the relay.
          const host = await join(a, visit.practitioner);
          expect(host.role).toBe('host');
          await openCall(hostPage, a.baseUrl, host.credentials.token);
          await waitForState(hostPage, 'connected');
          await waitForState(patientPage, 'connected');
          await expectVideoBothWays(hostPage, patientPage);

          // 3. One Encounter, created once, however many instances reported presence.
          await flushPresence();
          const started = await encounters();
          expect(started).toHaveLength(1);
          expect(started[0]).toMatchObject({
            status: 'in-progress',
            class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR' },
            subject: { reference: visit.patientRef },
            appointment: [{ reference: `Appointment/${appointmentId}` }],
            identifier: [{ system: MEETING_ID_SYSTEM, value: meeting.id }],
            period: { start: expect.any(String) },
          });
          expect(started[0].period?.end).toBeUndefined();
          expect((await appointment()).status).toBe('arrived');

          // 4. The practitioner ends the visit (on A): both browsers are told, on both instances.
          const ended = await a.app.inject({ method: 'POST', url: `/api/virtual-meetings/${meeting.id}/end`, headers: as(visit.practitioner) });
          expect(ended.statusCode).toBe(200);
          const endedAt = (ended.json() as { endedAt: string }).endedAt;
          await expectEndedForBoth(hostPage, patientPage);
          await flushPresence();

          // 5. The Encounter is finished with its end, the Appointment fulfilled: valid R4, still one Encounter.
          const finished = await encounters();
          expect(finished).toHaveLength(1);
          expect(finished[0].id).toBe(started[0].id);
          expect(finished[0].status).toBe('finished');
          expect(finished[0].period?.end).toBe(endedAt);
          expect(finished[0].length).toMatchObject({ unit: 'min', system: 'http://unitsofmeasure.org', code: 'min', value: expect.any(Number) });
          expect(finished[0].participant?.[0].period?.end).toBe(endedAt);
          const fulfilled = await appointment();
          expect(fulfilled.status).toBe('fulfilled');
          validateResource(finished[0]);
          validateResource(fulfilled);
        });

        const events = (await b.app.inject({ method: 'GET', url: `/api/virtual-meetings/${meeting.id}/events`, headers: as(visit.practitioner) })).json() as {
          events: { eventType: string }[];
        };
        const count = (type: string) => events.events.filter((e) => e.eventType === type).length;
        expect([count('meeting_started'), count('encounter_created'), count('meeting_ended'), count('encounter_finished')]).toEqual([1, 1, 1, 1]);
      } finally {
        await close();
      }
    });
  });
});
