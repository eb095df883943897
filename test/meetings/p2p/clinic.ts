import type { FastifyInstance } from 'fastify';
import type { Appointment, Practitioner, Patient } from '@medplum/fhirtypes';
import { AccessTokens } from '../../../src/auth/access-tokens.js';
import { accounts, scopesForRole, type UserRole } from '../../../src/auth/accounts.js';
import { loadOrCreateSigningKey } from '../../../src/auth/signing-keys.js';
import { loadConfig, type Config } from '../../../src/config.js';
import type { Database } from '../../../src/db/database.js';
import { createDefaultFhirStore } from '../../../src/fhir/default-store.js';
import type { FhirStore } from '../../../src/fhir/store.js';
import { buildApp } from '../../../src/http/app.js';
import { createMeetingsModule } from '../../../src/meetings/module.js';
import type { SignalingBus } from '../../../src/meetings/p2p/bus.js';
import { createSignalingServer, type SignalingServer } from '../../../src/meetings/p2p/signaling-server.js';
import { SIGNING_KEY } from './support.js';

/**
 * One server process of the product as src/server.ts wires it — FHIR API, meetings, p2p signaling whose presence
 * drives the meeting workflow — on a database and a bus shared with other instances, listening on its own port.
 */
export interface ClinicInstance {
  app: FastifyInstance;
  /** http://127.0.0.1:port */
  baseUrl: string;
  signaling: SignalingServer;
  store: FhirStore;
  close(): Promise<void>;
}

/** What every instance of one installation shares: its public address and its keys. */
export function clinicConfig(): Config {
  return loadConfig({
    PUBLIC_BASE_URL: 'http://clinic.test',
    DEMO_DATA: 'false',
    P2P_SIGNING_KEY: SIGNING_KEY,
    ENCRYPTION_KEY: '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
  });
}

export async function startClinicInstance(db: Database, bus: SignalingBus, routes?: (app: FastifyInstance) => void): Promise<ClinicInstance> {
  const config = clinicConfig();
  const store = createDefaultFhirStore(db);
  let signaling: SignalingServer | undefined;
  const meetings = createMeetingsModule({ config, db, store, p2pOnRoomEnded: (event) => signaling?.onRoomEnded(event) });
  signaling = createSignalingServer({
    bus,
    signingKey: meetings.p2pSigningKey,
    onPresence: async (events) => {
      for (const event of events) await meetings.webhooks.applyTrustedEvent(event);
    },
  });
  const app = await buildApp({ config, db, store, meetings, signaling });
  routes?.(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return {
    app,
    baseUrl: `http://127.0.0.1:${port}`,
    signaling,
    store,
    close: async () => {
      await app.close();
      await meetings.scheduler.stop();
    },
  };
}

export interface ClinicVisit {
  orgId: string;
  appointment: Appointment;
  /** `Bearer …` of each person, valid on every instance. */
  practitioner: string;
  patient: string;
  patientRef: string;
}

/** A clinic with a practitioner and a patient who can sign in, and a video Appointment booked between them. */
export async function bookClinicVisit(db: Database, store: FhirStore): Promise<ClinicVisit> {
  const config = clinicConfig();
  const orgId = (await accounts.createOrganization(db, { name: 'Clinic on two servers' })).id;
  const repo = store.repository({ orgId, baseUrl: `${config.publicBaseUrl}/fhir` });
  const tokens = new AccessTokens(await loadOrCreateSigningKey(db), { issuer: config.publicBaseUrl, audience: `${config.publicBaseUrl}/fhir` });
  const person = async (role: UserRole, resource: Patient | Practitioner) => {
    const fhirUser = `${resource.resourceType}/${(await repo.create(resource)).resource.id}`;
    const email = `${role}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}@clinic.test`;
    const user = await accounts.createUser(db, { orgId, email, password: `pw-${Math.random().toString(36).slice(2)}-long`, role, fhirUser });
    const issued = await tokens.issue({ kind: 'user', subject: user.id, orgId, role, fhirUser, scopes: scopesForRole(role) });
    return { fhirUser, authorization: `Bearer ${issued.accessToken}` };
  };
  const patient = await person('patient', { resourceType: 'Patient', name: [{ family: 'Doe', given: ['John'] }], birthDate: '1980-04-12' });
  const practitioner = await person('practitioner', { resourceType: 'Practitioner', name: [{ family: 'Smith', prefix: ['Dr.'] }] });
  const start = new Date(Date.now() + 60_000);
  const appointment = (
    await repo.create<Appointment>({
      resourceType: 'Appointment',
      status: 'booked',
      start: start.toISOString(),
      end: new Date(start.getTime() + 30 * 60_000).toISOString(),
      participant: [
        { actor: { reference: patient.fhirUser, display: 'John Doe' }, status: 'accepted' },
        { actor: { reference: practitioner.fhirUser, display: 'Dr. Smith' }, status: 'accepted' },
      ],
    })
  ).resource;
  return { orgId, appointment, practitioner: practitioner.authorization, patient: patient.authorization, patientRef: patient.fhirUser };
}
