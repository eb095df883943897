import { Badge } from '@mantine/core';
import type { Appointment } from '@medplum/fhirtypes';
import type { MeetingState } from '../api/meetings.js';

const appointmentColors: Record<string, string> = {
  booked: 'blue',
  arrived: 'teal',
  fulfilled: 'green',
  noshow: 'orange',
  cancelled: 'gray',
  pending: 'yellow',
  proposed: 'yellow',
  'entered-in-error': 'gray',
  'checked-in': 'teal',
  waitlist: 'yellow',
};

const appointmentLabels: Record<string, string> = {
  booked: 'Booked',
  arrived: 'In visit',
  fulfilled: 'Fulfilled',
  noshow: 'No-show',
  cancelled: 'Cancelled',
  pending: 'Pending',
  proposed: 'Proposed',
  'entered-in-error': 'Entered in error',
  'checked-in': 'Checked in',
  waitlist: 'Waitlist',
};

export function appointmentStatusLabel(status: Appointment['status'] | undefined): string {
  return (status && appointmentLabels[status]) ?? status ?? 'Unknown';
}

export function AppointmentStatusBadge({ status }: { status: Appointment['status'] | undefined }) {
  return (
    <Badge color={(status && appointmentColors[status]) ?? 'gray'} variant="light" data-status={status}>
      {appointmentStatusLabel(status)}
    </Badge>
  );
}

export function VideoBadge() {
  return (
    <Badge color="violet" variant="light" leftSection={<span aria-hidden="true">●</span>}>
      Video
    </Badge>
  );
}

const meetingLabels: Record<MeetingState, { label: string; color: string }> = {
  scheduled: { label: 'Scheduled', color: 'blue' },
  waiting: { label: 'Waiting patient', color: 'orange' },
  'in-progress': { label: 'In progress', color: 'teal' },
  ended: { label: 'Ended', color: 'gray' },
  cancelled: { label: 'Cancelled', color: 'gray' },
};

export function MeetingStateBadge({ state }: { state: MeetingState }) {
  const { label, color } = meetingLabels[state];
  return (
    <Badge color={color} variant={state === 'waiting' ? 'filled' : 'light'} data-state={state}>
      {label}
    </Badge>
  );
}
