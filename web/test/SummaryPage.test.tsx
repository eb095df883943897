// @vitest-environment jsdom
import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../src/App.js';
import { fakeServer, route } from './support.js';

const started = '2030-03-04T09:30:00.000Z';
const ended = '2030-03-04T09:48:30.000Z';

describe('Visit summary', () => {
  it('shows start, end, duration, participants, the timeline and the FHIR statuses', async () => {
    const { api } = fakeServer(
      route('POST', '/auth/refresh', () => ({ body: { access_token: 'tok' } })),
      route('GET', '/auth/me', () => ({
        body: { id: 'u1', role: 'practitioner', fhirUser: 'Practitioner/prac-1', displayName: 'Dr Ada Lee', organization: { name: 'Harbour Clinic', timeZone: 'Europe/Berlin' } },
      })),
      route('GET', '/api/virtual-meetings/meet-1', () => ({
        body: { id: 'meet-1', meetingCode: 'ABCD2345', status: 'ended', provider: 'p2p', appointmentId: 'appt-1', encounterId: 'enc-1', startedAt: started, endedAt: ended },
      })),
      route('GET', '/api/virtual-meetings/meet-1/participants', () => ({
        body: {
          participants: [
            { id: 'part-p', displayName: 'Sam Patient', role: 'patient', joinedAt: started, leftAt: ended, durationSeconds: 1110 },
            { id: 'part-h', displayName: 'Dr Ada Lee', role: 'host', joinedAt: started, leftAt: ended, durationSeconds: 1110 },
          ],
        },
      })),
      route('GET', '/api/virtual-meetings/meet-1/events', () => ({
        body: {
          events: [
            { seq: 1, eventType: 'participant_joined', eventData: { displayName: 'Sam Patient', participantId: 'part-p' }, createdAt: started },
            { seq: 2, eventType: 'provider_webhook', eventData: { type: 'peer.joined' }, createdAt: started },
            { seq: 3, eventType: 'appointment_status_changed', eventData: { from: 'booked', to: 'arrived' }, createdAt: started },
            { seq: 4, eventType: 'participant_left', eventData: { participantId: 'part-p' }, createdAt: ended },
            { seq: 5, eventType: 'encounter_finished', eventData: {}, createdAt: ended },
          ],
        },
      })),
      route('GET', '/fhir/Encounter/enc-1', () => ({
        body: { resourceType: 'Encounter', id: 'enc-1', status: 'finished', class: { code: 'VR' }, period: { start: started, end: ended }, length: { value: 18.5, unit: 'min' } },
      })),
      route('GET', '/fhir/Appointment/appt-1', () => ({ body: { resourceType: 'Appointment', id: 'appt-1', status: 'fulfilled', participant: [] } })),
    );
    window.localStorage.setItem('telehealth.signedIn', '1');
    render(<App api={api} initialPath="/app/summary/meet-1" />);

    expect(await screen.findByRole('heading', { name: 'Visit summary' })).toBeTruthy();
    expect(screen.getByTestId('visit-duration').textContent).toBe('18 min 30 s');
    expect(screen.getByTestId('encounter-status').textContent).toContain('Encounter finished');
    expect(screen.getByText('Fulfilled')).toBeTruthy();
    // Times in the clinic's zone (Berlin is UTC+1 in March).
    expect(screen.getAllByText(/10:30/).length).toBeGreaterThan(0);

    const participants = screen.getByRole('region', { name: 'Participants' });
    expect(within(participants).getByText('Sam Patient')).toBeTruthy();
    expect(within(participants).getAllByText('18 min 30 s')).toHaveLength(2);

    const timeline = screen.getByRole('region', { name: 'Timeline' });
    expect(within(timeline).getByText('Joined: Sam Patient')).toBeTruthy();
    expect(within(timeline).getByText('Left: Sam Patient')).toBeTruthy();
    expect(within(timeline).getByText('Appointment booked → arrived')).toBeTruthy();
    expect(within(timeline).queryByText(/provider/i)).toBeNull();
  });
});
