import { Button, Card, Group, SimpleGrid, Stack, Text, Title, UnstyledButton } from '@mantine/core';
import { useState } from 'react';
import type { Appointment } from '@medplum/fhirtypes';
import { isVideoAppointment } from '../../api/fhir.js';
import { AppointmentStatusBadge, VideoBadge } from '../../components/badges.js';
import { ErrorAlert, LoadingBlock } from '../../components/feedback.js';
import { dayjs, formatTime, startOfWeek, zoneLabel } from '../../lib/time.js';
import { useAsync } from '../../lib/useAsync.js';
import { useApi, useSignedIn } from '../../session.js';
import { useWorkspace } from './PractitionerApp.js';
import { appointmentPatientName } from './ScheduleList.js';

export function WeekPage() {
  const api = useApi();
  const { timeZone } = useSignedIn();
  const { practitioner, version, openAppointment } = useWorkspace();
  const [offset, setOffset] = useState(0);
  const weekStart = startOfWeek(new Date(), timeZone).add(offset, 'week');
  const weekKey = weekStart.toISOString();
  const days = Array.from({ length: 7 }, (_, i) => weekStart.add(i, 'day'));

  const week = useAsync(
    () => api.fhir.appointmentsFor(practitioner, weekStart.toDate(), weekStart.add(7, 'day').toDate()),
    [api, practitioner, weekKey, version],
  );

  const byDay = new Map<string, Appointment[]>();
  for (const a of week.data?.appointments ?? []) {
    const key = dayjs(a.start).tz(timeZone).format('YYYY-MM-DD');
    byDay.set(key, [...(byDay.get(key) ?? []), a]);
  }
  const rangeLabel = `${weekStart.format('D MMM')} – ${weekStart.add(6, 'day').format('D MMM YYYY')}`;
  const today = dayjs().tz(timeZone).format('YYYY-MM-DD');

  return (
    <Stack gap="lg">
      <Group justify="space-between" align="flex-end">
        <div>
          <Title order={1}>Week</Title>
          <Text c="dimmed">
            {rangeLabel} · times in {zoneLabel(timeZone)}
          </Text>
        </div>
        <Group gap="xs" role="group" aria-label="Choose week">
          <Button variant="default" onClick={() => setOffset((o) => o - 1)} aria-label="Previous week">
            ‹ Previous
          </Button>
          <Button variant="default" onClick={() => setOffset(0)} disabled={offset === 0}>
            This week
          </Button>
          <Button variant="default" onClick={() => setOffset((o) => o + 1)} aria-label="Next week">
            Next ›
          </Button>
        </Group>
      </Group>
      {week.error && <ErrorAlert error={week.error} title="Could not load the week" onRetry={week.reload} />}
      {!week.data && week.loading && <LoadingBlock label="Loading the week…" />}
      {week.data && (
        <SimpleGrid cols={{ base: 1, sm: 2, md: 4, xl: 7 }} spacing="sm">
          {days.map((d) => {
            const key = d.format('YYYY-MM-DD');
            const items = byDay.get(key) ?? [];
            return (
              <Card
                key={key}
                withBorder
                padding="sm"
                component="section"
                aria-label={d.format('dddd D MMMM')}
                bg={key === today ? 'blue.0' : undefined}
              >
                <Text fw={700} mb="xs">
                  {d.format('ddd D MMM')}
                  {key === today && (
                    <Text span c="blue.8" size="sm">
                      {' '}
                      · today
                    </Text>
                  )}
                </Text>
                <Stack gap="xs">
                  {items.length === 0 && (
                    <Text size="sm" c="dimmed">
                      Free
                    </Text>
                  )}
                  {items.map((a) => {
                    const name = appointmentPatientName(a, week.data!.patients);
                    return (
                      <UnstyledButton
                        key={a.id}
                        onClick={() => a.id && openAppointment(a.id)}
                        p={6}
                        style={{ borderRadius: 6, border: '1px solid var(--mantine-color-gray-3)' }}
                        aria-label={`${formatTime(a.start, timeZone)} ${name}`}
                      >
                        <Text size="sm" fw={600} style={{ fontVariantNumeric: 'tabular-nums' }}>
                          {formatTime(a.start, timeZone)}
                        </Text>
                        <Text size="sm" truncate>
                          {name}
                        </Text>
                        <Group gap={4} mt={4}>
                          <AppointmentStatusBadge status={a.status} />
                          {isVideoAppointment(a) && <VideoBadge />}
                        </Group>
                      </UnstyledButton>
                    );
                  })}
                </Stack>
              </Card>
            );
          })}
        </SimpleGrid>
      )}
    </Stack>
  );
}
