import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrap, printBootstrapCredentials } from '../../src/auth/bootstrap.js';
import { safeLoggerOptions } from '../../src/auth/logging.js';
import { loadConfig } from '../../src/config.js';
import { createDefaultFhirStore } from '../../src/fhir/default-store.js';
import { buildApp } from '../../src/http/app.js';
import { createTestDatabase, testDatabaseKinds } from '../support/db.js';

describe.each(testDatabaseKinds())('first start and logs on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  const logLines: string[] = [];
  const printed: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    const config = loadConfig({ PUBLIC_BASE_URL: 'http://fhir.test', BOOTSTRAP_ADMIN_EMAIL: 'boss@clinic.test', BOOTSTRAP_ADMIN_PASSWORD: 'configured-admin-pw' });
    const store = createDefaultFhirStore(database.db);
    // Two servers starting at once: exactly one creates the accounts.
    const results = await Promise.all([bootstrap(database.db, store, config), bootstrap(database.db, store, config)]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    for (const r of results) printBootstrapCredentials(r, (t) => printed.push(t));
    expect((await bootstrap(database.db, store, config)).created).toBe(false);
    app = await buildApp({ config, db: database.db, store, logger: safeLoggerOptions('trace', { write: (line) => void logLines.push(line) }) });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await database.close();
  });

  const creds = () => {
    const text = printed.join('');
    const find = (role: string) => new RegExp(`${role}\\s+(\\S+)\\s+(?:password|secret): (\\S+)`).exec(text)!;
    return { text, patient: find('patient'), practitioner: find('practitioner'), client: find('OAuth client') };
  };

  it('prints generated credentials once and does not repeat configured passwords', () => {
    const { text, patient } = creds();
    expect(printed).toHaveLength(1);
    expect(text).toContain('boss@clinic.test  password: (from BOOTSTRAP_ADMIN_PASSWORD)');
    expect(text).not.toContain('configured-admin-pw');
    expect(patient[1]).toBe('patient@demo.clinic');
  });

  it('lets the printed users and client sign in, and keeps health data, tokens and passwords out of the log', async () => {
    const { practitioner, patient, client } = creds();
    const admin = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: 'boss@clinic.test', password: 'configured-admin-pw' } });
    expect(admin.statusCode).toBe(200);
    const login = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: practitioner[1], password: practitioner[2] } });
    expect(login.statusCode).toBe(200);
    const token = login.json().access_token as string;
    const patientLogin = await app.inject({ method: 'POST', url: '/auth/login', payload: { email: patient[1], password: patient[2] } });
    expect(patientLogin.json().user.fhirUser).toBe('Patient/demo-patient');
    const clientToken = await app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client[1]}:${client[2]}`).toString('base64')}` },
      payload: 'grant_type=client_credentials',
    });
    expect(clientToken.statusCode).toBe(200);

    const auth = { authorization: `Bearer ${token}` };
    const created = await app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { ...auth, 'content-type': 'application/fhir+json' },
      payload: { resourceType: 'Patient', name: [{ family: 'Zebulonsky', given: ['Quentin'] }], birthDate: '1971-07-07' },
    });
    expect(created.statusCode).toBe(201);
    await app.inject({ url: '/fhir/Patient?family=Zebulonsky&birthdate=1971-07-07', headers: auth });
    await app.inject({ url: '/fhir/Patient/demo-patient', headers: auth });
    await app.inject({ method: 'POST', url: '/auth/login', payload: { email: practitioner[1], password: 'a-wrong-password-attempt' } });

    const log = logLines.join('');
    expect(log.length).toBeGreaterThan(0);
    expect(log).toContain('/fhir/Patient');
    for (const secret of ['Zebulonsky', 'Quentin', '1971-07-07', 'Rivera', token, token.split('.')[2], practitioner[2], 'a-wrong-password-attempt', 'configured-admin-pw', client[2], clientToken.json().access_token]) {
      expect(log).not.toContain(secret);
    }
  });
});
