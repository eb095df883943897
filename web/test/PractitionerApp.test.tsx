// @vitest-environment jsdom
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../src/App.js';
import { fakeServer, route } from './support.js';

const now = new Date();
const start = new Date(now.getTime() + 60 * 60_000);
const appointment = {
  resourceType: 'Appointment',
  id: 'appt-1',
  status: 'booked',
  start: start.toISOString(),
  end: new Date(start.getTime() + 20 * 60_000).toISOString(),
  minutesDuration: 20,
  serviceType: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '540' }] }],
  // The patient first: participants are found by reference type, never by position.
  participant: [
    { actor: { reference: 'Patient/pat-1', display: 'Sam Patient' }, status: 'accepted' },
    { actor: { reference: 'Practitioner/prac-1', display: 'Dr Ada Lee' }, status: 'accepted' },
  ],
  meta: { versionId: '2', lastUpdated: now.toISOString() },
};
const patient = { resourceType: 'Patient', id: 'pat-1', name: [{ given: ['Sam'], family: 'Patient' }], birthDate: '1984-05-06' };
const meeting = {
  id: 'meet-1',
  appointmentId: 'appt-1',
  meetingCode: 'ABCD2345',
  publicLink: 'https://clinic.test/join/ABCD2345',
  status: 'scheduled',
  provider: 'p2p',
  scheduledStart: start.toISOString(),
  hostPractitionerId: 'prac-1',
};

function server() {
  return fakeServer(
    route('POST', '/auth/login', (_u, body) =>
      (body as { password: string }).password === 'right'
        ? { body: { access_token: 'tok', user: { id: 'u1' } } }
        : { status: 401, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics: 'Wrong email or password' }] } },
    ),
    route('GET', '/auth/me', () => ({
      body: { kind: 'user', id: 'u1', email: 'ada@clinic.test', role: 'practitioner', fhirUser: 'Practitioner/prac-1', displayName: 'Dr Ada Lee' },
    })),
    route('GET', '/fhir/Appointment', () => ({
      body: { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: appointment }, { resource: patient, search: { mode: 'include' } }] },
    })),
    route('GET', '/fhir/Appointment/appt-1', () => ({ body: appointment })),
    route('GET', '/fhir/Appointment/appt-1/_history', () => ({
      body: {
        resourceType: 'Bundle',
        type: 'history',
        entry: [
          { resource: { ...appointment, meta: { versionId: '2', lastUpdated: now.toISOString() } } },
          { resource: { ...appointment, meta: { versionId: '1', lastUpdated: now.toISOString() } } },
        ],
      },
    })),
    route('GET', '/fhir/Patient/pat-1', () => ({ body: patient })),
    route('GET', '/api/virtual-meetings', () => ({ body: { meetings: [meeting] } })),
    route('GET', '/api/virtual-meetings/meet-1/participants', () => ({
      body: { participants: [{ id: 'part-1', displayName: 'Sam', role: 'patient', userType: 'patient', joinedAt: now.toISOString() }] },
    })),
    route('GET', '/api/virtual-meetings/meet-1', () => ({ body: meeting })),
    route('POST', '/api/virtual-meetings/appointment/appt-1', () => ({ body: meeting })),
  );
}

describe('Practitioner app', () => {
  it('signs in, shows today with the video badge and the waiting patient, and opens the appointment drawer', async () => {
    const { api, requests } = server();
    render(<App api={api} initialPath="/login" />);

    fireEvent.change(await screen.findByLabelText(/Email/), { target: { value: 'ada@clinic.test' } });
    fireEvent.change(screen.getByLabelText(/Password/), { target: { value: 'wrong' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('The email or password is not right. Try again.')).toBeTruthy();

    fireEvent.change(screen.getByLabelText(/Password/), { target: { value: 'right' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { name: 'Today' })).toBeTruthy();
    await waitFor(() => expect(window.location.pathname).toBe('/app'));

    const schedule = await screen.findByRole('table', { name: "Today's appointments" });
    expect(within(schedule).getByText('Sam Patient')).toBeTruthy();
    expect(within(schedule).getByText('Video')).toBeTruthy();
    expect(within(schedule).getByText('Booked')).toBeTruthy();
    const search = requests.find((r) => r.path.startsWith('/fhir/Appointment?'))!;
    expect(decodeURIComponent(search.path)).toContain('actor=Practitioner/prac-1');
    expect(search.headers.Authorization).toBe('Bearer tok');

    const meetings = await screen.findByRole('list', { name: "Today's video meetings" });
    expect(await within(meetings).findByText('Waiting patient')).toBeTruthy();

    fireEvent.click(within(schedule).getByRole('button', { name: /Open appointment with Sam Patient/ }));
    const drawer = await screen.findByRole('dialog');
    expect(await within(drawer).findByText('Born 1984-05-06')).toBeTruthy();
    expect((within(drawer).getByLabelText("Patient's join link") as HTMLInputElement).value).toBe('https://clinic.test/join/ABCD2345');
    expect(within(drawer).getByRole('button', { name: 'Copy patient link' })).toBeTruthy();
    expect(within(drawer).getByRole('heading', { name: 'Status history' })).toBeTruthy();
    expect(within(drawer).getAllByText('Practitioner', { exact: false }).length).toBeGreaterThan(0);

    // Start video visit: the appointment's meeting, then the visit page; no health data in the address.
    fireEvent.click(within(drawer).getByRole('button', { name: 'Start video visit' }));
    await waitFor(() => expect(window.location.pathname).toBe('/app/visit/meet-1'));
    expect(requests.some((r) => r.method === 'POST' && r.path === '/api/virtual-meetings/appointment/appt-1')).toBe(true);
  });
});
