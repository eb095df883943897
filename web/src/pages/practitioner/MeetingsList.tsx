import { Button, Group, Stack, Text } from '@mantine/core';
import { meetingState, type Meeting } from '../../api/meetings.js';
import { MeetingStateBadge } from '../../components/badges.js';
import { EmptyState } from '../../components/feedback.js';
import { formatTime } from '../../lib/time.js';
import { Link } from '../../router.js';

interface Props {
  meetings: Meeting[];
  timeZone: string;
  /** Patient names by appointment id, from the schedule, so the list says who rather than a code. */
  patientNames?: Map<string, string>;
  onOpenAppointment(id: string): void;
}

export function MeetingsList({ meetings, timeZone, patientNames, onOpenAppointment }: Props) {
  if (meetings.length === 0) return <EmptyState>No video meetings today.</EmptyState>;
  const sorted = [...meetings].sort((a, b) => (a.scheduledStart ?? a.createdAt ?? '').localeCompare(b.scheduledStart ?? b.createdAt ?? ''));
  return (
    <Stack gap={0} component="ul" p={0} m={0} style={{ listStyle: 'none' }} aria-label="Today's video meetings">
      {sorted.map((m) => {
        const state = meetingState(m);
        const waiting = m.participants.filter((p) => p.role !== 'host' && !p.leftAt);
        return (
          <Group
            component="li"
            key={m.id}
            justify="space-between"
            py="sm"
            wrap="nowrap"
            style={{ borderBottom: '1px solid var(--mantine-color-gray-3)' }}
            data-meeting-id={m.id}
          >
            <Stack gap={2} miw={0}>
              <Group gap="xs">
                <Text fw={600} style={{ fontVariantNumeric: 'tabular-nums' }}>
                  {formatTime(m.scheduledStart ?? m.startedAt ?? m.createdAt, timeZone)}
                </Text>
                <MeetingStateBadge state={state} />
              </Group>
              <Text size="sm" c="dimmed" truncate>
                {(m.appointmentId && patientNames?.get(m.appointmentId)) ?? (m.appointmentId ? 'Appointment' : 'Instant meeting')} · code {m.code}
                {waiting.length > 0 && ` · waiting: ${waiting.map((p) => p.displayName).join(', ')}`}
              </Text>
            </Stack>
            <Group gap="xs" wrap="nowrap">
              {m.appointmentId && (
                <Button size="xs" variant="subtle" onClick={() => onOpenAppointment(m.appointmentId!)}>
                  Details
                </Button>
              )}
              {state === 'ended' ? (
                <Button size="xs" variant="light" component={Link} to={`/app/summary/${m.id}`}>
                  Summary
                </Button>
              ) : state === 'cancelled' ? null : (
                <Button size="xs" component={Link} to={`/app/visit/${m.id}`} color={state === 'waiting' ? 'orange.9' : undefined}>
                  {state === 'in-progress' ? 'Rejoin' : 'Start'}
                </Button>
              )}
            </Group>
          </Group>
        );
      })}
    </Stack>
  );
}
