// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { fakeServer, outcome, route } from './support.js';

describe('API client', () => {
  it('keeps the access token in memory only and sends it as a Bearer token', async () => {
    const { api, requests } = fakeServer(
      route('POST', '/auth/login', () => ({ body: { access_token: 'first', token_type: 'Bearer', expires_in: 3600 } })),
      route('GET', '/fhir/Patient/p1', () => ({ body: { resourceType: 'Patient', id: 'p1' } })),
    );
    await api.auth.login('dr@clinic.test', 'secret');
    expect(window.localStorage.length).toBe(0);
    expect(window.sessionStorage.length).toBe(0);
    expect(document.cookie).toBe('');
    const patient = await api.fhir.read('Patient', 'p1');
    expect(patient.id).toBe('p1');
    expect(requests.at(-1)?.headers.Authorization).toBe('Bearer first');
  });

  it('turns an OperationOutcome into an error a person can read', async () => {
    const { api } = fakeServer(
      route('POST', '/auth/refresh', () => ({ body: { access_token: 't' } })),
      route('POST', '/fhir/Patient', () => outcome(422, 'invalid', 'Patient.birthDate: not a date')),
    );
    await expect(api.fhir.createPatient({ given: 'A', family: 'B', birthDate: 'x' })).rejects.toMatchObject({
      status: 422,
      code: 'invalid',
      message: 'Patient.birthDate: not a date',
    });
  });

  it('retries with a refreshed token after a 401 and reports a lost session when refresh fails', async () => {
    let refreshes = 0;
    const { api, requests } = fakeServer(
      route('POST', '/auth/refresh', () => (++refreshes === 1 ? { body: { access_token: 'new' } } : { status: 401, body: {} })),
      ({ url, headers }) => {
        if (url.pathname !== '/fhir/Appointment/a1') return undefined;
        if (headers.Authorization === 'Bearer old') return { status: 401, body: {} };
        return { body: { resourceType: 'Appointment', id: 'a1', status: 'booked', participant: [] } };
      },
    );
    api.http.setAccessToken('old');
    const a = await api.fhir.read('Appointment', 'a1');
    expect(a.id).toBe('a1');
    expect(requests.filter((r) => r.path === '/auth/refresh')).toHaveLength(1);
    expect(requests.at(-1)?.headers.Authorization).toBe('Bearer new');

    // The refresh cookie is gone too: the session is over and the UI is told.
    let lost = false;
    api.http.onSessionLost(() => (lost = true));
    api.http.setAccessToken('old');
    await expect(api.fhir.read('Appointment', 'a1')).rejects.toMatchObject({ status: 401 });
    expect(lost).toBe(true);
  });

  it('does not send or refresh a token for public join calls when there is none', async () => {
    const { api, requests } = fakeServer(
      route('GET', '/api/virtual-meetings/code/ABCD2345', () => ({
        body: { meetingId: 'm1', code: 'ABCD2345', status: 'scheduled', provider: 'p2p', practitionerName: 'Dr Ada Lee', organizationName: 'Harbour Clinic' },
      })),
    );
    const m = await api.meetings.byCode('ABCD2345');
    expect(m).toMatchObject({ id: 'm1', practitionerName: 'Dr Ada Lee', organizationName: 'Harbour Clinic', status: 'scheduled' });
    expect(requests).toHaveLength(1);
    expect(requests[0].headers.Authorization).toBeUndefined();
  });
});
