import type { Patient, Practitioner } from '@medplum/fhirtypes';
import type { BootstrapConfig, Config } from '../config.js';
import type { Database } from '../db/database.js';
import { OperationOutcomeError } from '../fhir/outcomes.js';
import type { FhirStore } from '../fhir/store.js';
import { DEFAULT_ORG_ID } from '../tenancy.js';
import { hashSecret, randomSecret } from './passwords.js';

const DEMO_PRACTITIONER_ID = 'demo-practitioner';
const DEMO_PATIENT_ID = 'demo-patient';
const CLIENT_SCOPES = ['system/*.cruds'];

export interface BootstrapResult {
  created: boolean;
  /** what a person needs to sign in; generated secrets are shown only here */
  credentials?: { admin: Login; practitioner: Login; patient: Login; client: { clientId: string; clientSecret: string; generated: boolean } };
}

interface Login {
  email: string;
  password: string;
  generated: boolean;
}

/**
 * First start of a new installation: the demo organization (with its Organization resource), an admin, a
 * practitioner (with a Practitioner), a patient (with a Patient) and a system OAuth client. Credentials come
 * from BOOTSTRAP_* or are generated. Safe when several servers start at once: the FHIR resources are written
 * with fixed ids (a second writer changes nothing) and the accounts in one transaction that only the server
 * inserting the organization row completes.
 */
export async function bootstrap(db: Database, store: FhirStore, config: Config): Promise<BootstrapResult> {
  const existing = await db.query('SELECT 1 FROM auth_organizations LIMIT 1');
  if (existing.rowCount > 0) return { created: false };

  const repo = store.repository({ orgId: DEFAULT_ORG_ID, baseUrl: `${config.publicBaseUrl}/fhir` });
  // Two servers may create the same resource at the same moment; the loser's 409 means it is there.
  const ensure = async (write: () => Promise<unknown>) => {
    try {
      await write();
    } catch (err) {
      if (!(err instanceof OperationOutcomeError && err.status === 409)) throw err;
    }
  };
  await ensure(() => repo.update({ resourceType: 'Organization', id: DEFAULT_ORG_ID, active: true, name: 'Demo Clinic' }));
  await ensure(() => repo.update<Practitioner>({
    resourceType: 'Practitioner',
    id: DEMO_PRACTITIONER_ID,
    active: true,
    name: [{ prefix: ['Dr.'], given: ['Alex'], family: 'Morgan' }],
  }));
  await ensure(() => repo.update<Patient>({
    resourceType: 'Patient',
    id: DEMO_PATIENT_ID,
    active: true,
    name: [{ given: ['Sam'], family: 'Rivera' }],
    birthDate: '1980-04-12',
    managingOrganization: { reference: `Organization/${DEFAULT_ORG_ID}` },
  }));

  const b: BootstrapConfig = config.auth.bootstrap;
  const login = (email: string | undefined, fallback: string, password: string | undefined): Login => ({
    email: email ?? fallback,
    password: password ?? randomSecret(12),
    generated: password === undefined,
  });
  const admin = login(b.adminEmail, 'admin@demo.clinic', b.adminPassword);
  const practitioner = login(b.practitionerEmail, 'practitioner@demo.clinic', b.practitionerPassword);
  const patient = login(b.patientEmail, 'patient@demo.clinic', b.patientPassword);
  const client = { clientId: b.clientId ?? 'demo-system-client', clientSecret: b.clientSecret ?? randomSecret(32), generated: b.clientSecret === undefined };
  // One after another: each scrypt hash takes 32 MB while it runs, and four at once set the server's peak memory.
  const adminHash = await hashSecret(admin.password);
  const practitionerHash = await hashSecret(practitioner.password);
  const patientHash = await hashSecret(patient.password);
  const clientHash = await hashSecret(client.clientSecret);

  const created = await db.transaction(async (tx) => {
    const org = await tx.query(
      `INSERT INTO auth_organizations (id, name, time_zone) VALUES ($1, 'Demo Clinic', $2) ON CONFLICT DO NOTHING RETURNING id`,
      [DEFAULT_ORG_ID, config.defaultTimeZone],
    );
    if (org.rowCount === 0) return false;
    const user = (id: string, l: Login, hash: string, role: string, fhirUser: string | null, name: string) =>
      tx.query(
        `INSERT INTO auth_users (id, org_id, email, password_hash, role, fhir_user, display_name) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, DEFAULT_ORG_ID, l.email, hash, role, fhirUser, name],
      );
    await user('demo-admin', admin, adminHash, 'admin', null, 'Administrator');
    await user('demo-practitioner', practitioner, practitionerHash, 'practitioner', `Practitioner/${DEMO_PRACTITIONER_ID}`, 'Dr. Alex Morgan');
    await user('demo-patient', patient, patientHash, 'patient', `Patient/${DEMO_PATIENT_ID}`, 'Sam Rivera');
    await tx.query(`INSERT INTO auth_clients (client_id, org_id, name, secret_hash, scopes) VALUES ($1, $2, 'Demo system client', $3, $4)`, [
      client.clientId,
      DEFAULT_ORG_ID,
      clientHash,
      CLIENT_SCOPES,
    ]);
    return true;
  });
  if (!created) return { created: false };
  return { created: true, credentials: { admin, practitioner, patient, client: { ...client } } };
}

/**
 * The one place the first start's credentials are shown: on stdout, not through the logger, so they are not
 * kept in log storage. Configured passwords are not repeated.
 */
export function printBootstrapCredentials(result: BootstrapResult, write: (text: string) => void = (t) => process.stdout.write(t)): void {
  const c = result.credentials;
  if (!c) return;
  const secret = (value: string, generated: boolean, env: string) => (generated ? value : `(from ${env})`);
  write(
    [
      '',
      '=== First start: sign-in credentials (shown once) ===',
      `admin         ${c.admin.email}  password: ${secret(c.admin.password, c.admin.generated, 'BOOTSTRAP_ADMIN_PASSWORD')}`,
      `practitioner  ${c.practitioner.email}  password: ${secret(c.practitioner.password, c.practitioner.generated, 'BOOTSTRAP_PRACTITIONER_PASSWORD')}`,
      `patient       ${c.patient.email}  password: ${secret(c.patient.password, c.patient.generated, 'BOOTSTRAP_PATIENT_PASSWORD')}`,
      `OAuth client  ${c.client.clientId}  secret: ${secret(c.client.clientSecret, c.client.generated, 'BOOTSTRAP_CLIENT_SECRET')}`,
      '======================================================',
      '',
    ].join('\n'),
  );
}
