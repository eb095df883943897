import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../support/chromium.js';
import { visitTypeCoding, withAvailability } from '../../src/scheduling/availability.js';

/**
 * The whole story of a video visit in two real browsers against the real server (`src/main.ts`, embedded
 * database, built-in peer-to-peer video): the practitioner signs in, registers a patient, books a video
 * appointment, opens its drawer and starts the visit; the patient opens the link on a phone-sized screen,
 * waits, and is let in; video flows both ways; the practitioner ends the visit; both see the end; the summary
 * shows the duration; and the FHIR API shows the Encounter finished and the Appointment fulfilled.
 * Every step leaves a screenshot in test-artifacts/e2e/.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ARTIFACTS = join(ROOT, 'test-artifacts', 'e2e');
const PRACTITIONER = { email: 'practitioner@e2e.clinic', password: 'e2e-practitioner-password' };
const haveChromium = existsSync(CHROMIUM);

if (!haveChromium) {
  // eslint-disable-next-line no-console
  console.warn(`[e2e] skipped: ${CHROMIUM} is not installed (apt-get install chromium); the video visit story needs a real browser.`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function buildWebAppIfMissing(): void {
  if (existsSync(join(ROOT, 'dist', 'web', 'index.html'))) return;
  execFileSync(join(ROOT, 'node_modules', '.bin', 'vite'), ['build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], {
    cwd: ROOT,
    stdio: 'inherit',
    // The test runner sets NODE_ENV=test; the app is built as it ships.
    env: { ...process.env, NODE_ENV: 'production' },
  });
}

interface RunningServer {
  baseUrl: string;
  output: string[];
  stop(): Promise<void>;
}

async function startServer(): Promise<RunningServer> {
  // A server someone already runs (started with the same bootstrap credentials), e.g. while debugging.
  if (process.env.E2E_BASE_URL) {
    return { baseUrl: process.env.E2E_BASE_URL.replace(/\/$/, ''), output: [], stop: async () => undefined };
  }
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'telehealth-e2e-'));
  const baseUrl = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_BASE_URL: baseUrl,
    DATA_DIR: dataDir,
    DEMO_DATA: 'false',
    LOG_LEVEL: 'warn',
    BOOTSTRAP_PRACTITIONER_EMAIL: PRACTITIONER.email,
    BOOTSTRAP_PRACTITIONER_PASSWORD: PRACTITIONER.password,
  };
  // The embedded database: the story needs nothing installed but the browser.
  delete env.DATABASE_URL;
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['src/main.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}):\n${output.join('')}`);
    try {
      const res = await fetch(`${baseUrl}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the server did not start in time:\n${output.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return { baseUrl, output, stop };
}

/** The practitioner's Schedule with working hours on every day, round the clock, through the FHIR API. */
async function publishAvailability(baseUrl: string): Promise<void> {
  const login = await fetch(`${baseUrl}/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(PRACTITIONER) });
  const { access_token: token } = (await login.json()) as { access_token: string };
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' };
  const me = (await (await fetch(`${baseUrl}/auth/me`, { headers })).json()) as { fhirUser: string };
  const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
  const schedule = withAvailability(
    { resourceType: 'Schedule', active: true, actor: [{ reference: me.fhirUser }] },
    {
      timeZone: 'UTC',
      slotMinutes: 15,
      bufferMinutes: 0,
      weeklyHours: [{ days: [...days], start: '00:00:00', end: '23:45:00' }],
      breaks: [],
      visitTypes: [{ type: visitTypeCoding('video-30', 'Video visit'), durationMinutes: 30, video: true }],
      exceptions: [],
    },
  );
  const created = await fetch(`${baseUrl}/fhir/Schedule`, { method: 'POST', headers, body: JSON.stringify(schedule) });
  expect(created.status).toBe(201);
}

/** Records every RTCPeerConnection the page makes, so the test can read inbound-rtp stats. */
function recordPeerConnections(): void {
  const w = window as unknown as { __pcs: RTCPeerConnection[]; RTCPeerConnection: typeof RTCPeerConnection };
  w.__pcs = [];
  const Original = w.RTCPeerConnection;
  w.RTCPeerConnection = class extends Original {
    constructor(config?: RTCConfiguration) {
      super(config);
      w.__pcs.push(this);
    }
  } as typeof RTCPeerConnection;
}

async function videoFramesDecoded(page: Page): Promise<number> {
  return page.evaluate(async () => {
    let frames = 0;
    for (const pc of (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs) {
      const stats = await pc.getStats();
      stats.forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
      });
    }
    return frames;
  });
}

async function waitForFrames(page: Page, who: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const frames = await videoFramesDecoded(page);
    if (frames > 0) return frames;
    if (Date.now() > deadline) throw new Error(`${who} decoded no video frames`);
    await page.waitForTimeout(300);
  }
}

/** Console errors and page errors, which a working page does not have. */
function watchConsole(page: Page, label: string, sink: string[]): void {
  page.on('console', (m) => {
    if (m.type() === 'error') sink.push(`${label} console: ${m.text()}`);
  });
  page.on('pageerror', (e) => sink.push(`${label} pageerror: ${e.message}`));
}

describe.skipIf(!haveChromium)('video visit in the browser, from booking to summary', () => {
  let server: RunningServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    buildWebAppIfMissing();
    server = await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
  });

  it('books, starts, admits, talks, ends, and leaves correct FHIR records', async () => {
    const errors: string[] = [];
    const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

    const clinician = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const patientContext = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    contexts.push(clinician, patientContext);
    await clinician.addInitScript(recordPeerConnections);
    await patientContext.addInitScript(recordPeerConnections);
    const dr = await clinician.newPage();
    const patient = await patientContext.newPage();
    watchConsole(dr, 'practitioner', errors);
    watchConsole(patient, 'patient', errors);

    // 1. The practitioner signs in.
    await dr.goto(`${server.baseUrl}/`);
    await dr.getByLabel('Email').fill(PRACTITIONER.email);
    await dr.getByLabel('Password').fill(PRACTITIONER.password);
    await shot(dr, '01-sign-in');
    await dr.getByRole('button', { name: 'Sign in' }).click();
    await dr.getByRole('heading', { name: 'Today', exact: true }).waitFor();
    await shot(dr, '02-today');

    // 2. Registers a patient.
    await dr.getByRole('button', { name: 'Register patient' }).first().click();
    await dr.getByLabel('Given name').fill('Noor');
    await dr.getByLabel('Family name').fill('Haddad');
    await dr.getByLabel('Date of birth').fill('1979-11-23');
    await dr.getByLabel('Given name').click();
    await dr.getByRole('button', { name: 'Register', exact: true }).click();
    await dr.getByText('Noor Haddad is registered.').waitFor();
    await shot(dr, '03-patient-registered');
    await dr.getByRole('dialog').getByRole('button', { name: 'Close', exact: true }).click();

    // 3. Books a video appointment into the practitioner's published availability (every day, all day, so
    // the form's first free time is the next quarter hour).
    await publishAvailability(server.baseUrl);
    await dr.getByRole('button', { name: 'Book appointment' }).first().click();
    await dr.getByRole('textbox', { name: 'Patient' }).fill('Haddad');
    // (Against a long-running server an earlier run's Noor Haddad may be listed too; either is this person.)
    await dr.getByRole('option', { name: 'Noor Haddad · born 1979-11-23' }).first().click();
    await shot(dr, '04-booking');
    await dr.getByRole('button', { name: 'Book', exact: true }).click();

    // 4. The drawer opens with the join link.
    const drawer = dr.getByRole('dialog', { name: 'Noor Haddad' });
    await drawer.getByText('Status history').waitFor({ timeout: 15_000 });
    const link = await drawer.getByTestId('join-link').inputValue({ timeout: 15_000 });
    expect(link).toMatch(new RegExp(`^${server.baseUrl}/join/[A-Z0-9]{8,}$`));
    await shot(dr, '05-appointment-drawer');

    // 5. Starts the video visit: the visit page with camera check and waiting room.
    await drawer.getByRole('button', { name: 'Start video visit' }).click();
    await dr.waitForURL(/\/app\/visit\/[^/]+$/);
    const meetingId = dr.url().split('/').pop()!;
    await dr.getByRole('button', { name: 'Join and start visit' }).waitFor();
    await shot(dr, '06-visit-prejoin');

    // 6. The patient opens the link on a phone, sees who and when, enters name and birth date, waits.
    await patient.goto(link);
    await patient.getByRole('heading', { name: /Video visit with/ }).waitFor();
    expect(patient.url()).not.toMatch(/Noor|Haddad|1979/);
    await patient.getByLabel('Your name').fill('Noor Haddad');
    await patient.getByLabel("Patient's date of birth").fill('1979-11-23');
    await shot(patient, '07-patient-join-page');
    await patient.getByRole('button', { name: 'Join visit' }).click();
    await patient.getByTestId('waiting-room').waitFor({ timeout: 20_000 });
    await shot(patient, '08-patient-waiting-room');

    // 7. The practitioner sees who is waiting and joins: the patient is let in.
    await dr.getByTestId('waiting-list').getByText('Noor Haddad').waitFor({ timeout: 20_000 });
    await shot(dr, '09-practitioner-sees-waiting');
    await dr.getByRole('button', { name: 'Join and start visit' }).click();
    await dr.getByTestId('connection-state').and(dr.locator('[data-state="connected"]')).waitFor({ timeout: 20_000 });
    await patient.getByTestId('waiting-room').waitFor({ state: 'detached', timeout: 20_000 });

    // 8. Both see each other: video frames are decoded on both sides.
    await dr.getByTestId('remote-video').first().waitFor();
    await patient.getByTestId('remote-video').first().waitFor();
    expect(await waitForFrames(dr, 'the practitioner')).toBeGreaterThan(0);
    expect(await waitForFrames(patient, 'the patient')).toBeGreaterThan(0);
    await dr.waitForTimeout(1500);
    await shot(dr, '10-practitioner-in-call');
    await shot(patient, '11-patient-in-call');

    // 9. The practitioner ends the visit, after confirming.
    await dr.getByRole('button', { name: 'End visit' }).click();
    await dr.getByRole('dialog', { name: 'End the visit for everyone?' }).getByRole('button', { name: 'End visit' }).click();

    // 10. Both see the end; the practitioner gets the summary with the duration.
    await patient.getByTestId('visit-ended').waitFor({ timeout: 20_000 });
    await shot(patient, '12-patient-end-screen');
    await dr.waitForURL(new RegExp(`/app/summary/${meetingId}$`));
    const duration = dr.getByTestId('visit-duration');
    await duration.waitFor();
    expect(await duration.textContent()).toMatch(/\d+ (s|min)/);
    await dr.getByTestId('encounter-status').getByText(/Encounter finished/).waitFor();
    await shot(dr, '13-visit-summary');

    // 11. The FHIR records, through the API.
    const login = await fetch(`${server.baseUrl}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(PRACTITIONER),
    });
    const { access_token: token } = (await login.json()) as { access_token: string };
    const auth = { Authorization: `Bearer ${token}` };
    const meeting = (await (await fetch(`${server.baseUrl}/api/virtual-meetings/${meetingId}`, { headers: auth })).json()) as {
      status: string;
      encounterId: string;
      appointmentId: string;
    };
    expect(meeting.status).toBe('ended');
    const encounter = (await (await fetch(`${server.baseUrl}/fhir/Encounter/${meeting.encounterId}`, { headers: auth })).json()) as {
      status: string;
      period: { start: string; end: string };
      length?: { value: number; unit: string };
    };
    expect(encounter.status).toBe('finished');
    expect(new Date(encounter.period.end).getTime()).toBeGreaterThan(new Date(encounter.period.start).getTime());
    expect(encounter.length?.unit).toBe('min');
    const appointment = (await (await fetch(`${server.baseUrl}/fhir/Appointment/${meeting.appointmentId}`, { headers: auth })).json()) as {
      status: string;
    };
    expect(appointment.status).toBe('fulfilled');

    // 12. Nothing went wrong in either page along the way.
    expect(errors).toEqual([]);
  }, 240_000);
});
