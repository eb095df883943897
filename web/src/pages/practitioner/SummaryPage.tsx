import { Button, Card, Group, SimpleGrid, Stack, Table, Text, Timeline, Title } from '@mantine/core';
import type { Appointment, Encounter } from '@medplum/fhirtypes';
import type { Meeting, MeetingEvent } from '../../api/meetings.js';
import { meetingState } from '../../api/meetings.js';
import { AppointmentStatusBadge, MeetingStateBadge } from '../../components/badges.js';
import { ErrorAlert, LoadingBlock } from '../../components/feedback.js';
import { formatDateTime, formatDuration, formatTime, formatTimeWithSeconds } from '../../lib/time.js';
import { useAsync } from '../../lib/useAsync.js';
import { Link } from '../../router.js';
import { useApi, useSignedIn } from '../../session.js';
import { useWorkspace } from './PractitionerApp.js';

interface SummaryData {
  meeting: Meeting;
  events: MeetingEvent[];
  encounter?: Encounter;
  appointment?: Appointment;
}

const eventLabels: Record<string, string> = {
  meeting_created: 'Meeting created',
  participant_joined: 'Joined',
  participant_left: 'Left',
  meeting_started: 'Visit started',
  encounter_created: 'Encounter opened',
  appointment_status_changed: 'Appointment status',
  meeting_ended: 'Visit ended',
  encounter_finished: 'Encounter finished',
  link_shared: 'Link sent',
  provider_error: 'Video service problem',
  provider_room_ended: 'Video room closed',
};

/** Raw provider traffic is for troubleshooting, not for the clinician's timeline. */
const HIDDEN_EVENTS = new Set(['provider_webhook']);

function describe(event: MeetingEvent, names: Map<string, string>): string {
  const d = event.data;
  const who =
    (typeof d.displayName === 'string' && d.displayName) ||
    (typeof d.participantId === 'string' && names.get(d.participantId)) ||
    undefined;
  const label = eventLabels[event.type] ?? event.type.replace(/_/g, ' ');
  if (event.type === 'appointment_status_changed' && typeof d.to === 'string') {
    return `Appointment ${typeof d.from === 'string' ? `${d.from} → ` : 'now '}${d.to}`;
  }
  if (event.type === 'link_shared' && typeof d.channel === 'string') return `${label} (${d.channel})`;
  if (who) return `${label}: ${who}`;
  return label;
}

/** After the visit: how long it took, who took part, what happened, and where the FHIR records stand. */
export function SummaryPage({ meetingId }: { meetingId: string }) {
  const api = useApi();
  const { timeZone } = useSignedIn();
  const { openAppointment } = useWorkspace();
  const data = useAsync<SummaryData>(async () => {
    const meeting = await api.meetings.get(meetingId);
    const [events, encounter, appointment] = await Promise.all([
      api.meetings.events(meetingId).catch(() => [] as MeetingEvent[]),
      meeting.encounterId ? api.fhir.read<Encounter>('Encounter', meeting.encounterId) : Promise.resolve(undefined),
      meeting.appointmentId ? api.fhir.read<Appointment>('Appointment', meeting.appointmentId) : Promise.resolve(undefined),
    ]);
    return { meeting, events, encounter, appointment };
  }, [api, meetingId]);

  if (data.error) return <ErrorAlert error={data.error} title="Could not load the visit summary" onRetry={data.reload} />;
  if (!data.data) return <LoadingBlock label="Loading the visit summary…" />;
  const { meeting, events, encounter, appointment } = data.data;

  const start = encounter?.period?.start ?? meeting.startedAt;
  const end = encounter?.period?.end ?? meeting.endedAt;
  const durationMs = start && end ? new Date(end).getTime() - new Date(start).getTime() : undefined;
  const names = new Map(meeting.participants.map((p) => [p.id, p.displayName]));
  const timeline = events.filter((e) => !HIDDEN_EVENTS.has(e.type));

  return (
    <Stack gap="lg">
      <Group justify="space-between" align="flex-end">
        <div>
          <Title order={1}>Visit summary</Title>
          <Text c="dimmed">{formatDateTime(start ?? meeting.scheduledStart, timeZone)}</Text>
        </div>
        <Group gap="xs">
          {appointment?.id && (
            <Button variant="default" onClick={() => openAppointment(appointment.id!)}>
              Appointment details
            </Button>
          )}
          <Button component={Link} to="/app" variant="light">
            Back to today
          </Button>
        </Group>
      </Group>

      <SimpleGrid cols={{ base: 1, sm: 2, md: 4 }}>
        <Fact label="Started" value={formatTime(start, timeZone)} />
        <Fact label="Ended" value={end ? formatTime(end, timeZone) : 'Still running'} />
        <Fact label="Duration" value={durationMs !== undefined ? formatDuration(durationMs) : '—'} testId="visit-duration" />
        <Card withBorder p="md">
          <Text size="sm" c="dimmed">
            Status
          </Text>
          <Group gap={6} mt={4}>
            <MeetingStateBadge state={meetingState(meeting)} />
            {appointment && <AppointmentStatusBadge status={appointment.status} />}
          </Group>
          {encounter && (
            <Text size="xs" c="dimmed" mt={6} data-testid="encounter-status">
              Encounter {encounter.status}
              {encounter.length?.value !== undefined && ` · ${Math.round(encounter.length.value * 10) / 10} min`}
            </Text>
          )}
        </Card>
      </SimpleGrid>

      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="lg">
        <Card withBorder p="md" component="section" aria-labelledby="summary-participants">
          <Title order={2} size="h4" id="summary-participants" mb="xs">
            Participants
          </Title>
          {meeting.participants.length === 0 ? (
            <Text c="dimmed">Nobody joined.</Text>
          ) : (
            <Table>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th scope="col">Name</Table.Th>
                  <Table.Th scope="col">Role</Table.Th>
                  <Table.Th scope="col">Joined</Table.Th>
                  <Table.Th scope="col">Time in call</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {meeting.participants.map((p) => (
                  <Table.Tr key={p.id}>
                    <Table.Td>{p.displayName}</Table.Td>
                    <Table.Td>{p.role}</Table.Td>
                    <Table.Td>{formatTime(p.joinedAt, timeZone)}</Table.Td>
                    <Table.Td>
                      {p.durationSeconds !== undefined
                        ? formatDuration(p.durationSeconds * 1000)
                        : p.joinedAt && p.leftAt
                          ? formatDuration(new Date(p.leftAt).getTime() - new Date(p.joinedAt).getTime())
                          : '—'}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Card>
        <Card withBorder p="md" component="section" aria-labelledby="summary-timeline">
          <Title order={2} size="h4" id="summary-timeline" mb="xs">
            Timeline
          </Title>
          {timeline.length === 0 ? (
            <Text c="dimmed">No events recorded.</Text>
          ) : (
            <Timeline active={timeline.length - 1} bulletSize={12} lineWidth={2}>
              {timeline.map((e, i) => (
                <Timeline.Item key={e.id || i} title={describe(e, names)}>
                  <Text size="xs" c="dimmed">
                    {formatTimeWithSeconds(e.createdAt, timeZone)}
                  </Text>
                </Timeline.Item>
              ))}
            </Timeline>
          )}
        </Card>
      </SimpleGrid>
    </Stack>
  );
}

function Fact({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <Card withBorder p="md">
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      <Text fz="xl" fw={700} data-testid={testId} style={{ fontVariantNumeric: 'tabular-nums' }}>
        {value}
      </Text>
    </Card>
  );
}
