// @vitest-environment jsdom
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../src/App.js';
import { fakeServer, outcome, route, type Handler } from './support.js';

/**
 * The practitioner books into free times of their availability ($find, then $book) and cancels a visit from
 * the appointment drawer, against a fake server that records every request.
 */
const now = Date.now();
const at = (minutesFromNow: number) => new Date(Math.ceil(now / 900_000) * 900_000 + minutesFromNow * 60_000).toISOString();
const patient = { resourceType: 'Patient', id: 'pat-1', name: [{ given: ['Sam'], family: 'Patient' }], birthDate: '1984-05-06' };

function proposal(startMinutes: number, slot: string) {
  return {
    resourceType: 'Appointment',
    status: 'proposed',
    start: at(startMinutes),
    end: at(startMinutes + 20),
    minutesDuration: 20,
    slot: [{ reference: `Slot/${slot}` }],
    participant: [
      { actor: { reference: 'Practitioner/prac-1' }, required: 'required', status: 'needs-action' },
      { actor: { reference: 'Patient/pat-1' }, required: 'required', status: 'needs-action' },
    ],
  };
}

function booked(id: string, startMinutes: number, extra: Record<string, unknown> = {}) {
  return { ...proposal(startMinutes, 'x'), id, status: 'booked', meta: { versionId: '1', lastUpdated: new Date(now).toISOString() }, ...extra };
}

const searchset = (resources: unknown[]) => ({ body: { resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource })) } });

function signedInServer(...handlers: Handler[]) {
  return fakeServer(
    route('POST', '/auth/login', () => ({ body: { access_token: 'tok', user: { id: 'u1' } } })),
    route('GET', '/auth/me', () => ({
      body: { kind: 'user', id: 'u1', email: 'ada@clinic.test', role: 'practitioner', fhirUser: 'Practitioner/prac-1', displayName: 'Dr Ada Lee', timeZone: 'UTC' },
    })),
    ...handlers,
    route('GET', '/fhir/Patient', () => searchset([patient])),
    route('GET', '/fhir/Patient/pat-1', () => ({ body: patient })),
    route('GET', '/api/virtual-meetings', () => ({ body: { meetings: [] } })),
  );
}

async function signIn() {
  fireEvent.change(await screen.findByLabelText(/Email/), { target: { value: 'ada@clinic.test' } });
  fireEvent.change(screen.getByLabelText(/Password/), { target: { value: 'right' } });
  fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
  await screen.findByRole('heading', { name: 'Today' });
}

async function openBookingFor(name: string) {
  fireEvent.click(screen.getAllByRole('button', { name: 'Book appointment' })[0]);
  const dialog = await screen.findByRole('dialog', { name: 'Book appointment' });
  const input = within(dialog).getByRole('textbox', { name: 'Patient' });
  fireEvent.click(input);
  fireEvent.change(input, { target: { value: name } });
  // The list opens in a portal that jsdom reports as hidden while its transition runs.
  fireEvent.click(await screen.findByRole('option', { name: /Sam Patient/, hidden: true }));
  return dialog;
}

const timeLabel = (iso: string) => new RegExp(`^${new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', timeZone: 'UTC' }).format(new Date(iso))}`);

describe('Booking into free times', () => {
  it('offers the free times of $find, books the chosen one with $book, and on 409 refreshes the list', async () => {
    let taken = false;
    let bookings = 0;
    const { api, requests } = signedInServer(
      route('POST', '/fhir/Appointment/$find', () => searchset(taken ? [proposal(60, 's2')] : [proposal(30, 's1'), proposal(60, 's2')])),
      route('POST', '/fhir/Appointment/$book', (_u, body) => {
        bookings++;
        const wanted = (body as { parameter: { resource: { slot: { reference: string }[] } }[] }).parameter[0].resource;
        if (wanted.slot[0].reference === 'Slot/s1') {
          taken = true;
          return outcome(409, 'conflict', 'The time is no longer free; search again with $find');
        }
        return { body: booked('appt-9', 60, { extension: [{ url: 'http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService', extension: [{ url: 'address', valueUrl: 'https://clinic.test/join/ABCD2345' }] }] }) };
      }),
      route('GET', '/fhir/Appointment/appt-9', () => ({ body: booked('appt-9', 60) })),
      route('GET', '/fhir/Appointment/appt-9/_history', () => searchset([booked('appt-9', 60)])),
      route('GET', '/fhir/Appointment', () => searchset([])),
    );
    render(<App api={api} initialPath="/login" />);
    await signIn();
    const dialog = await openBookingFor('Sam');

    // The free times of the practitioner, the earliest chosen.
    const first = await within(dialog).findByRole('radio', { name: timeLabel(at(30)) });
    expect((first as HTMLInputElement).checked).toBe(true);
    expect(within(dialog).getByRole('radio', { name: timeLabel(at(60)) })).toBeTruthy();
    const find = requests.filter((r) => r.path === '/fhir/Appointment/$find').at(-1)!;
    const params = Object.fromEntries((find.body as { parameter: { name: string; valueString?: string; valueInteger?: number }[] }).parameter.map((p) => [p.name, p.valueString ?? p.valueInteger]));
    expect(params).toMatchObject({ practitioner: 'Practitioner/prac-1', patient: 'Patient/pat-1', duration: 20 });

    // Someone else was faster: 409, a clear message, and the list without the lost time.
    fireEvent.click(within(dialog).getByRole('button', { name: 'Book' }));
    expect(await within(dialog).findByText(/Someone else has just booked this time/)).toBeTruthy();
    await waitFor(() => expect(within(dialog).queryByRole('radio', { name: timeLabel(at(30)) })).toBeNull());
    const second = within(dialog).getByRole('radio', { name: timeLabel(at(60)) }) as HTMLInputElement;
    expect(second.checked).toBe(true);

    fireEvent.click(within(dialog).getByRole('button', { name: 'Book' }));
    await waitFor(() => expect(bookings).toBe(2));
    const book = requests.filter((r) => r.path === '/fhir/Appointment/$book').at(-1)!;
    const sent = (book.body as { parameter: { resource: { slot: unknown; serviceType: { coding: { code: string }[] }[] } }[] }).parameter[0].resource;
    expect(sent.slot).toEqual([{ reference: 'Slot/s2' }]);
    expect(sent.serviceType[0].coding[0].code).toBe('540'); // a video visit
    // Booked: the drawer of the new appointment opens; the meeting came with the booking.
    expect(await screen.findByRole('heading', { name: 'Status history' })).toBeTruthy();
    expect(requests.some((r) => r.method === 'POST' && r.path.startsWith('/api/virtual-meetings/appointment/'))).toBe(false);
  });

  it('says so when there is no free time, and offers nothing to book', async () => {
    const { api } = signedInServer(
      route('POST', '/fhir/Appointment/$find', () => searchset([])),
      route('GET', '/fhir/Appointment', () => searchset([])),
    );
    render(<App api={api} initialPath="/login" />);
    await signIn();
    const dialog = await openBookingFor('Sam');
    expect(await within(dialog).findByText('No free times')).toBeTruthy();
    expect(within(dialog).getByText(/has no free 20-minute time/)).toBeTruthy();
    expect(within(dialog).queryAllByRole('radio')).toHaveLength(0);
    expect((within(dialog).getByRole('button', { name: 'Book' }) as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('Cancel visit in the appointment drawer', () => {
  const video = booked('appt-1', 60, { serviceType: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '540' }] }] });
  const meeting = { id: 'meet-1', appointmentId: 'appt-1', meetingCode: 'ABCD2345', publicLink: 'https://clinic.test/join/ABCD2345', status: 'scheduled', provider: 'p2p', scheduledStart: video.start };

  function drawerServer(appointment: Record<string, unknown>, meetings: unknown[], meetingCancel: () => { status?: number; body?: unknown }) {
    let cancelled = false;
    const current = () => ({ ...appointment, status: cancelled ? 'cancelled' : 'booked' });
    // The server's meeting cancel cancels the Appointment (and frees its time) when it succeeds.
    const cancelMeeting = () => {
      const reply = meetingCancel();
      if ((reply.status ?? 200) < 300) cancelled = true;
      return reply;
    };
    const server = fakeServer(
      route('POST', '/auth/login', () => ({ body: { access_token: 'tok', user: { id: 'u1' } } })),
      route('GET', '/auth/me', () => ({
        body: { kind: 'user', id: 'u1', email: 'ada@clinic.test', role: 'practitioner', fhirUser: 'Practitioner/prac-1', displayName: 'Dr Ada Lee', timeZone: 'UTC' },
      })),
      route('GET', '/fhir/Appointment', () => searchset([current(), patient])),
      route('GET', '/fhir/Appointment/appt-1', () => ({ body: current() })),
      route('GET', '/fhir/Appointment/appt-1/_history', () => searchset([current()])),
      route('GET', '/fhir/Patient/pat-1', () => ({ body: patient })),
      route('GET', '/api/virtual-meetings', () => ({ body: { meetings } })),
      route('GET', '/api/virtual-meetings/meet-1/participants', () => ({ body: { participants: [] } })),
      route('POST', '/api/virtual-meetings/meet-1/cancel', cancelMeeting),
      route('POST', '/fhir/Appointment/appt-1/$cancel', () => {
        cancelled = true;
        return { body: current() };
      }),
    );
    return server;
  }

  async function openDrawer() {
    const schedule = await screen.findByRole('table', { name: "Today's appointments" });
    fireEvent.click(await within(schedule).findByRole('button', { name: /Open appointment with Sam Patient/ }));
    const drawer = await screen.findByRole('dialog');
    await within(drawer).findByText('Born 1984-05-06');
    return drawer;
  }

  it('cancels a video visit through its meeting alone after a confirmation and refreshes the schedule', async () => {
    const { api, requests } = drawerServer(video, [meeting], () => ({ body: { ...meeting, status: 'cancelled' } }));
    render(<App api={api} initialPath="/login" />);
    await signIn();
    const drawer = await openDrawer();

    fireEvent.click(within(drawer).getByRole('button', { name: 'Cancel visit' }));
    const confirm = within(drawer).getByRole('alertdialog', { name: 'Cancel this visit?' });
    expect(within(confirm).getByText(/join link stops working/)).toBeTruthy();
    // Keeping it sends nothing.
    fireEvent.click(within(confirm).getByRole('button', { name: 'Keep visit' }));
    expect(requests.some((r) => r.path.endsWith('/cancel') || r.path.endsWith('$cancel'))).toBe(false);

    const searchesBefore = requests.filter((r) => r.path.startsWith('/fhir/Appointment?')).length;
    fireEvent.click(within(drawer).getByRole('button', { name: 'Cancel visit' }));
    fireEvent.click(within(drawer).getByRole('button', { name: 'Yes, cancel visit' }));
    await waitFor(() => expect(requests.filter((r) => r.path.startsWith('/fhir/Appointment?')).length).toBeGreaterThan(searchesBefore));
    expect(await within(drawer).findAllByText('Cancelled')).not.toHaveLength(0);
    expect(within(drawer).queryByRole('button', { name: 'Cancel visit' })).toBeNull();
    // The meeting cancel frees the time on the server: no second cancel through scheduling.
    const cancels = requests.filter((r) => r.method === 'POST' && /cancel$/.test(r.path)).map((r) => r.path);
    expect(cancels).toEqual(['/api/virtual-meetings/meet-1/cancel']);
  });

  it('cancels a visit without a meeting through scheduling only', async () => {
    const inPerson = booked('appt-1', 60);
    const first = drawerServer(inPerson, [], () => ({ body: {} }));
    render(<App api={first.api} initialPath="/login" />);
    await signIn();
    const drawer = await openDrawer();
    fireEvent.click(within(drawer).getByRole('button', { name: 'Cancel visit' }));
    expect(within(drawer).queryByText(/join link stops working/)).toBeNull();
    fireEvent.click(within(drawer).getByRole('button', { name: 'Yes, cancel visit' }));
    await waitFor(() => expect(first.requests.some((r) => r.path === '/fhir/Appointment/appt-1/$cancel')).toBe(true));
    expect(first.requests.some((r) => r.path.startsWith('/api/virtual-meetings/') && r.path.endsWith('/cancel'))).toBe(false);
  });

  it('keeps the visit and says why when the meeting cannot be cancelled', async () => {
    const { api, requests } = drawerServer(video, [meeting], () => outcome(409, 'conflict', 'The meeting is active; only a meeting that has not started can be cancelled'));
    render(<App api={api} initialPath="/login" />);
    await signIn();
    const drawer = await openDrawer();
    fireEvent.click(within(drawer).getByRole('button', { name: 'Cancel visit' }));
    fireEvent.click(within(drawer).getByRole('button', { name: 'Yes, cancel visit' }));
    expect(await within(drawer).findByText(/Not cancelled: The meeting is active/)).toBeTruthy();
    expect(requests.some((r) => r.path === '/fhir/Appointment/appt-1/$cancel')).toBe(false);
  });
});
