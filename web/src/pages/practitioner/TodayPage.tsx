import { Button, Card, Grid, Group, Stack, Text, Title } from '@mantine/core';
import { useInterval } from '@mantine/hooks';
import { useApi, useSignedIn } from '../../session.js';
import { useAsync } from '../../lib/useAsync.js';
import { formatDate, startOfDay, zoneLabel } from '../../lib/time.js';
import { EmptyState, ErrorAlert, LoadingBlock } from '../../components/feedback.js';
import { useWorkspace } from './PractitionerApp.js';
import { ScheduleList, appointmentPatientName } from './ScheduleList.js';
import { MeetingsList } from './MeetingsList.js';

export function TodayPage() {
  const api = useApi();
  const { timeZone } = useSignedIn();
  const { practitioner, version, openAppointment, bookAppointment } = useWorkspace();
  const dayStart = startOfDay(new Date(), timeZone);
  const dayKey = dayStart.toISOString();

  const schedule = useAsync(
    () => api.fhir.appointmentsFor(practitioner, dayStart.toDate(), dayStart.add(1, 'day').toDate()),
    [api, practitioner, dayKey, version],
  );
  const meetings = useAsync(
    () => api.meetings.list({ from: dayStart.toDate(), to: dayStart.add(1, 'day').toDate() }),
    [api, dayKey, version],
  );

  // Meeting states change as patients arrive: keep the lists fresh while the page is open.
  useInterval(
    () => {
      meetings.reload();
      schedule.reload();
    },
    15_000,
    { autoInvoke: true },
  );

  const patientNames = new Map(
    (schedule.data?.appointments ?? []).map((a) => [a.id ?? '', appointmentPatientName(a, schedule.data!.patients)] as const),
  );

  return (
    <Stack gap="lg">
      <Group justify="space-between" align="flex-end">
        <div>
          <Title order={1}>Today</Title>
          <Text c="dimmed">
            {formatDate(dayKey, timeZone)} · times in {zoneLabel(timeZone)}
          </Text>
        </div>
      </Group>
      <Grid gutter="lg">
        <Grid.Col span={{ base: 12, lg: 7 }}>
          <Card withBorder padding="md" component="section" aria-labelledby="schedule-heading">
            <Group justify="space-between" mb="sm">
              <Title order={2} size="h3" id="schedule-heading">
                Schedule
              </Title>
              <Button variant="light" size="xs" onClick={bookAppointment}>
                Book appointment
              </Button>
            </Group>
            {schedule.error && <ErrorAlert error={schedule.error} title="Could not load the schedule" onRetry={schedule.reload} />}
            {!schedule.data && schedule.loading && <LoadingBlock label="Loading today's appointments…" />}
            {schedule.data &&
              (schedule.data.appointments.length === 0 ? (
                <EmptyState>No appointments today.</EmptyState>
              ) : (
                <ScheduleList
                  caption="Today's appointments"
                  appointments={schedule.data.appointments}
                  patients={schedule.data.patients}
                  timeZone={timeZone}
                  onOpen={openAppointment}
                />
              ))}
          </Card>
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 5 }}>
          <Card withBorder padding="md" component="section" aria-labelledby="meetings-heading">
            <Title order={2} size="h3" id="meetings-heading" mb="sm">
              Today's video meetings
            </Title>
            {meetings.error && <ErrorAlert error={meetings.error} title="Could not load meetings" onRetry={meetings.reload} />}
            {!meetings.data && meetings.loading && <LoadingBlock label="Loading meetings…" />}
            {meetings.data && (
              <MeetingsList meetings={meetings.data} timeZone={timeZone} patientNames={patientNames} onOpenAppointment={openAppointment} />
            )}
          </Card>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
