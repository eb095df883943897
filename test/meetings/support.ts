import type { Appointment, Patient, Practitioner, Resource } from '@medplum/fhirtypes';
import type { Principal } from '../../src/auth/principal.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { createDefaultFhirStore } from '../../src/fhir/default-store.js';
import type { FhirRepository } from '../../src/fhir/repository/repository.js';
import type { FhirStore } from '../../src/fhir/store.js';
import { validateResource } from '../../src/fhir/validation/validate.js';
import type { SecretSealer } from '../../src/meetings/integrations.js';
import { createMeetingsModule, type MeetingsModule, type MeetingsModuleOptions } from '../../src/meetings/module.js';
import { createTestDatabase, type DatabaseKind } from '../support/db.js';

export const ORG = 'org-clinic-a';
export const OTHER_ORG = 'org-clinic-b';
export const PUBLIC_BASE_URL = 'https://clinic.test';

/** A clock the test moves by hand; starts at the real now so provider tokens are valid. */
export class TestClock {
  private t = Date.now();
  now = (): Date => new Date(this.t);
  advance(seconds: number): void {
    this.t += seconds * 1000;
  }
}

/** Reversible stand-in for the server's AES-GCM sealer: enough to prove secrets are not stored as given. */
export const testSealer: SecretSealer = {
  seal: (p) => `sealed:${Buffer.from(p, 'utf8').toString('base64')}`,
  open: (s) => {
    if (!s.startsWith('sealed:')) throw new Error('not sealed');
    return Buffer.from(s.slice(7), 'base64').toString('utf8');
  },
};

export interface MeetingsFixture {
  db: Database;
  store: FhirStore;
  clock: TestClock;
  module: MeetingsModule;
  repo(orgId?: string): FhirRepository;
  close(): Promise<void>;
}

export async function createMeetingsFixture(
  kind: DatabaseKind,
  opts: { env?: Record<string, string>; module?: Partial<MeetingsModuleOptions> } = {},
): Promise<MeetingsFixture> {
  const database = await createTestDatabase(kind);
  const store = createDefaultFhirStore(database.db);
  const clock = new TestClock();
  const config = loadConfig({ PUBLIC_BASE_URL, DEMO_DATA: 'false', ...opts.env });
  const module = createMeetingsModule({
    config,
    db: database.db,
    store,
    sealer: testSealer,
    now: clock.now,
    service: { outboxBaseDelayMs: 1000, ...opts.module?.service },
    ...opts.module,
  });
  return {
    db: database.db,
    store,
    clock,
    module,
    repo: (orgId = ORG) => store.repository({ orgId, baseUrl: `${PUBLIC_BASE_URL}/fhir` }),
    close: async () => {
      await module.scheduler.stop();
      await database.close();
    },
  };
}

export interface Booking {
  patient: Patient;
  practitioner: Practitioner;
  appointment: Appointment;
  host: Principal;
  patientUser: Principal;
  admin: Principal;
}

/** A booked Appointment between a new Patient and a new Practitioner; the Patient is listed first on purpose. */
export async function book(repo: FhirRepository, opts: { start?: Date; minutes?: number } = {}): Promise<Booking> {
  const patient = (
    await repo.create<Patient>({ resourceType: 'Patient', name: [{ family: 'Doe', given: ['John'] }], birthDate: '1980-04-12' })
  ).resource;
  const practitioner = (
    await repo.create<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Smith', prefix: ['Dr.'] }] })
  ).resource;
  const start = opts.start ?? new Date(Date.now() + 5 * 60_000);
  const end = new Date(start.getTime() + (opts.minutes ?? 30) * 60_000);
  const appointment = (
    await repo.create<Appointment>({
      resourceType: 'Appointment',
      status: 'booked',
      start: start.toISOString(),
      end: end.toISOString(),
      participant: [
        { actor: { reference: `Patient/${patient.id}`, display: 'John Doe' }, status: 'accepted' },
        { actor: { reference: `Practitioner/${practitioner.id}`, display: 'Dr. Smith' }, status: 'accepted' },
      ],
    })
  ).resource;
  const orgId = repo.context.orgId;
  return {
    patient,
    practitioner,
    appointment,
    host: practitionerPrincipal(orgId, practitioner.id!),
    patientUser: { orgId, kind: 'user', subject: `user-pat-${patient.id}`, role: 'patient', fhirUser: `Patient/${patient.id}`, displayName: 'John Doe', scopes: [] },
    admin: { orgId, kind: 'user', subject: 'user-admin', role: 'admin', displayName: 'Admin', scopes: [] },
  };
}

export function practitionerPrincipal(orgId: string, practitionerId: string): Principal {
  return { orgId, kind: 'user', subject: `user-prac-${practitionerId}`, role: 'practitioner', fhirUser: `Practitioner/${practitionerId}`, displayName: 'Dr. Smith', scopes: [] };
}

/** Every FHIR resource this org holds, all versions, each run through the product's validator. */
export async function assertAllFhirValid(db: Database): Promise<number> {
  const rows = await db.query<{ resource_data: Resource }>(
    `SELECT resource_data FROM fhir_resource_history WHERE resource_type IN ('Appointment', 'Encounter') AND resource_data IS NOT NULL`,
  );
  for (const row of rows.rows) validateResource(row.resource_data);
  return rows.rows.length;
}

export async function eventTypes(db: Database, meetingId: string): Promise<string[]> {
  const r = await db.query<{ event_type: string }>('SELECT event_type FROM virtual_meeting_events WHERE meeting_id = $1 ORDER BY seq', [meetingId]);
  return r.rows.map((e) => e.event_type);
}
