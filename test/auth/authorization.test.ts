import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { createTestServer, type TestServer, type TestUser } from '../support/app.js';
import { testDatabaseKinds } from '../support/db.js';

const FHIR = 'application/fhir+json';

describe.each(testDatabaseKinds())('SMART scopes, patient compartment and organization isolation on %s', (kind) => {
  let server: TestServer;
  let orgA: string;
  let orgB: string;
  let adminA: TestUser;
  let practitionerA: TestUser;
  let practitionerB: TestUser;
  let patientA: TestUser;
  let otherPatientId: string;

  beforeAll(async () => {
    server = await createTestServer(kind);
    orgA = await server.auth.createOrg('Clinic A');
    orgB = await server.auth.createOrg('Clinic B');
    adminA = await server.auth.createUser(orgA, 'admin');
    practitionerA = await server.auth.createUser(orgA, 'practitioner');
    practitionerB = await server.auth.createUser(orgB, 'practitioner');
    patientA = await server.auth.createUser(orgA, 'patient');
    otherPatientId = (await as(practitionerA.token, 'POST', '/fhir/Patient', { resourceType: 'Patient', name: [{ family: 'Other' }] })).json().id;
  });
  afterAll(() => server.close());

  function as(token: string, method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) {
    return server.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': FHIR } : {}), ...headers },
      ...(payload ? { payload: payload as object } : {}),
    });
  }
  const observationFor = (patientId: string): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'heart rate' },
    subject: { reference: `Patient/${patientId}` },
  });
  const patientAId = () => patientA.fhirUser!.split('/')[1];

  it('lets a .rs token read and search but not create, update or delete', async () => {
    const readOnly = await server.auth.token({ orgId: orgA, kind: 'client', scopes: ['system/Patient.rs'] });
    expect((await as(readOnly, 'GET', `/fhir/Patient/${otherPatientId}`)).statusCode).toBe(200);
    expect((await as(readOnly, 'GET', '/fhir/Patient')).statusCode).toBe(200);
    const create = await as(readOnly, 'POST', '/fhir/Patient', { resourceType: 'Patient' });
    expect(create.statusCode).toBe(403);
    expect(create.json().issue[0].code).toBe('forbidden');
    expect((await as(readOnly, 'PUT', `/fhir/Patient/${otherPatientId}`, { resourceType: 'Patient', id: otherPatientId })).statusCode).toBe(403);
    expect((await as(readOnly, 'DELETE', `/fhir/Patient/${otherPatientId}`)).statusCode).toBe(403);
    // No scope for the type at all
    expect((await as(readOnly, 'GET', '/fhir/Observation')).statusCode).toBe(403);
  });

  it('maps v1 scopes: .read reads, .write writes', async () => {
    const read = await server.auth.token({ orgId: orgA, kind: 'client', scopes: ['system/Patient.read'] });
    const write = await server.auth.token({ orgId: orgA, kind: 'client', scopes: ['system/Patient.write'] });
    expect((await as(read, 'GET', `/fhir/Patient/${otherPatientId}`)).statusCode).toBe(200);
    expect((await as(read, 'POST', '/fhir/Patient', { resourceType: 'Patient' })).statusCode).toBe(403);
    expect((await as(write, 'POST', '/fhir/Patient', { resourceType: 'Patient' })).statusCode).toBe(201);
    expect((await as(write, 'GET', `/fhir/Patient/${otherPatientId}`)).statusCode).toBe(403);
  });

  it('ignores scope contexts the caller cannot hold (a user with system/ scopes)', async () => {
    const token = await server.auth.token({ orgId: orgA, kind: 'user', subject: practitionerA.user.id, scopes: ['system/*.cruds'] });
    expect((await as(token, 'GET', '/fhir/Patient')).statusCode).toBe(403);
  });

  it('keeps a patient token inside its compartment', async () => {
    const me = patientAId();
    const mine = (await as(practitionerA.token, 'POST', '/fhir/Observation', observationFor(me))).json() as Observation;
    const theirs = (await as(practitionerA.token, 'POST', '/fhir/Observation', observationFor(otherPatientId))).json() as Observation;

    expect((await as(patientA.token, 'GET', `/fhir/Patient/${me}`)).statusCode).toBe(200);
    expect((await as(patientA.token, 'GET', `/fhir/Patient/${otherPatientId}`)).statusCode).toBe(404);
    expect((await as(patientA.token, 'GET', `/fhir/Observation/${mine.id}`)).statusCode).toBe(200);
    expect((await as(patientA.token, 'GET', `/fhir/Observation/${theirs.id}`)).statusCode).toBe(404);
    expect((await as(patientA.token, 'GET', `/fhir/Observation/${theirs.id}/_history/1`)).statusCode).toBe(404);

    const search = (await as(patientA.token, 'GET', '/fhir/Observation')).json() as Bundle;
    const ids = (search.entry ?? []).map((e) => e.resource?.id);
    expect(ids).toContain(mine.id);
    expect(ids).not.toContain(theirs.id);
    // Asking for another patient's records explicitly still yields only one's own.
    const sneaky = (await as(patientA.token, 'GET', `/fhir/Observation?subject=Patient/${otherPatientId}`)).json() as Bundle;
    expect((sneaky.entry ?? []).map((e) => e.resource?.id)).not.toContain(theirs.id);
    const patients = (await as(patientA.token, 'GET', '/fhir/Patient')).json() as Bundle<Patient>;
    expect((patients.entry ?? []).map((e) => e.resource?.id)).toEqual([me]);
    expect((await as(patientA.token, 'GET', `/fhir/Patient/${otherPatientId}/Observation`)).statusCode).toBe(404);

    // Writing: own Appointment yes (patient/Appointment.cru), someone else's no; Observations are read-only.
    const appointment = (who: string) => ({ resourceType: 'Appointment', status: 'proposed', participant: [{ actor: { reference: `Patient/${who}` }, status: 'needs-action' }] });
    expect((await as(patientA.token, 'POST', '/fhir/Appointment', appointment(me))).statusCode).toBe(201);
    expect((await as(patientA.token, 'POST', '/fhir/Appointment', appointment(otherPatientId))).statusCode).toBe(403);
    expect((await as(patientA.token, 'POST', '/fhir/Observation', observationFor(me))).statusCode).toBe(403);
    // History cannot be narrowed to a compartment.
    expect((await as(patientA.token, 'GET', '/fhir/Observation/_history')).statusCode).toBe(403);
    // Records that belong to nobody (a Practitioner) are readable.
    expect((await as(patientA.token, 'GET', `/fhir/${practitionerA.fhirUser}`)).statusCode).toBe(200);
  });

  it('never shows org B anything of org A: every interaction answers as if it did not exist', async () => {
    const created = (await as(practitionerA.token, 'POST', '/fhir/Patient', { resourceType: 'Patient', name: [{ family: 'Isolated' }] })).json() as Patient;
    const id = created.id!;
    const b = practitionerB.token;
    expect((await as(b, 'GET', `/fhir/Patient/${id}`)).statusCode).toBe(404);
    expect((await as(b, 'GET', `/fhir/Patient/${id}/_history/1`)).statusCode).toBe(404);
    expect((await as(b, 'GET', `/fhir/Patient/${id}/_history`)).statusCode).toBe(404);
    const search = (await as(b, 'GET', `/fhir/Patient?_id=${id}`)).json() as Bundle;
    expect(search.entry ?? []).toHaveLength(0);
    const typeHistory = (await as(b, 'GET', '/fhir/Patient/_history')).json() as Bundle;
    expect((typeHistory.entry ?? []).map((e) => e.fullUrl)).not.toContain(`http://fhir.test/fhir/Patient/${id}`);
    const patch = await as(b, 'PATCH', `/fhir/Patient/${id}`, [{ op: 'replace', path: '/name/0/family', value: 'Hijacked' }], { 'content-type': 'application/json-patch+json' });
    expect(patch.statusCode).toBe(404);
    expect((await as(b, 'DELETE', `/fhir/Patient/${id}`)).statusCode).toBe(404);
    // An update cannot take over the id either: 404, as for every other interaction.
    const update = await as(b, 'PUT', `/fhir/Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Hijacked' }] });
    expect(update.statusCode).toBe(404);

    const after = (await as(practitionerA.token, 'GET', `/fhir/Patient/${id}`)).json() as Patient;
    expect(after.name?.[0].family).toBe('Isolated');
    expect(after.meta?.versionId).toBe('1');
  });

  it('lets admins manage accounts of their own org only', async () => {
    const list = await as(adminA.token, 'GET', '/api/admin/users');
    expect(list.statusCode).toBe(200);
    const emails = (list.json() as { email: string }[]).map((u) => u.email);
    expect(emails).toContain(practitionerA.email);
    expect(emails).not.toContain(practitionerB.email);
    expect((await as(practitionerA.token, 'GET', '/api/admin/users')).statusCode).toBe(403);
    expect((await server.app.inject({ url: '/api/admin/users', headers: { authorization: undefined } })).statusCode).toBe(401);

    const created = await server.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: { authorization: `Bearer ${adminA.token}` },
      payload: { email: 'new.patient@test.example', password: 'a-long-password', role: 'patient', name: { family: 'Newpatient' }, birthDate: '2001-02-03' },
    });
    expect(created.statusCode).toBe(201);
    const fhirUser = created.json().fhirUser as string;
    expect(fhirUser).toMatch(/^Patient\//);
    expect((await as(adminA.token, 'GET', `/fhir/${fhirUser}`)).json().birthDate).toBe('2001-02-03');
    const login = await server.app.inject({ method: 'POST', url: '/auth/login', headers: { authorization: undefined }, payload: { email: 'new.patient@test.example', password: 'a-long-password' } });
    expect(login.json().user.fhirUser).toBe(fhirUser);

    const duplicate = await server.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: { authorization: `Bearer ${adminA.token}` },
      payload: { email: 'new.patient@test.example', password: 'a-long-password', role: 'admin' },
    });
    expect(duplicate.statusCode).toBe(409);

    const client = await server.app.inject({
      method: 'POST',
      url: '/api/admin/clients',
      headers: { authorization: `Bearer ${adminA.token}` },
      payload: { name: 'Lab feed', secret: 'a-very-long-client-secret', scopes: ['system/Observation.cruds'] },
    });
    expect(client.statusCode).toBe(201);
    expect(client.json()).toMatchObject({ orgId: orgA, hasSecret: true });
    expect(JSON.stringify(client.json())).not.toContain('a-very-long-client-secret');

    const org = await server.app.inject({
      method: 'POST',
      url: '/api/admin/organizations',
      headers: { authorization: `Bearer ${adminA.token}` },
      payload: { name: 'Clinic C', admin: { email: 'admin.c@test.example', password: 'another-long-password' } },
    });
    expect(org.statusCode).toBe(201);
    const adminC = await server.app.inject({ method: 'POST', url: '/auth/login', headers: { authorization: undefined }, payload: { email: 'admin.c@test.example', password: 'another-long-password' } });
    const tokenC = adminC.json().access_token as string;
    expect((await as(tokenC, 'GET', `/fhir/Organization/${org.json().id}`)).json().name).toBe('Clinic C');
    expect((await as(tokenC, 'GET', `/fhir/Patient/${otherPatientId}`)).statusCode).toBe(404);
  });
});
