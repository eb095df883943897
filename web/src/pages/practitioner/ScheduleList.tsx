import { Group, Stack, Table, Text, UnstyledButton } from '@mantine/core';
import type { Appointment, Patient } from '@medplum/fhirtypes';
import { idOf, isVideoAppointment, participantOf, patientDisplayName } from '../../api/fhir.js';
import { AppointmentStatusBadge, VideoBadge } from '../../components/badges.js';
import { formatTime } from '../../lib/time.js';

export function appointmentPatientName(appointment: Appointment, patients: Map<string, Patient>): string {
  const ref = participantOf(appointment, 'Patient');
  const patient = ref?.reference ? patients.get(ref.reference) : undefined;
  return patient ? patientDisplayName(patient) : (ref?.display ?? 'Unknown patient');
}

interface Props {
  appointments: Appointment[];
  patients: Map<string, Patient>;
  timeZone: string;
  onOpen(id: string): void;
  caption: string;
}

/** The day's appointments; each row opens the details drawer, by mouse or keyboard. */
export function ScheduleList({ appointments, patients, timeZone, onOpen, caption }: Props) {
  return (
    <Table highlightOnHover verticalSpacing="sm" aria-label={caption}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th scope="col">Time</Table.Th>
          <Table.Th scope="col">Patient</Table.Th>
          <Table.Th scope="col">Status</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {appointments.map((a) => {
          const name = appointmentPatientName(a, patients);
          return (
            <Table.Tr key={a.id} className="schedule-row" onClick={() => a.id && onOpen(a.id)} data-appointment-id={a.id}>
              <Table.Td>
                <Text fw={600} style={{ fontVariantNumeric: 'tabular-nums' }}>
                  {formatTime(a.start, timeZone)}
                </Text>
                <Text size="xs" c="dimmed">
                  {a.minutesDuration ? `${a.minutesDuration} min` : formatTime(a.end, timeZone)}
                </Text>
              </Table.Td>
              <Table.Td>
                <UnstyledButton
                  onClick={(e) => {
                    e.stopPropagation();
                    if (a.id) onOpen(a.id);
                  }}
                  aria-label={`Open appointment with ${name} at ${formatTime(a.start, timeZone)}`}
                >
                  <Text fw={500} c="blue.8" td="underline">
                    {name}
                  </Text>
                </UnstyledButton>
                {a.description && (
                  <Text size="xs" c="dimmed" lineClamp={1}>
                    {a.description}
                  </Text>
                )}
              </Table.Td>
              <Table.Td>
                <Stack gap={4} align="flex-start">
                  <Group gap={4}>
                    <AppointmentStatusBadge status={a.status} />
                    {isVideoAppointment(a) && <VideoBadge />}
                  </Group>
                </Stack>
              </Table.Td>
            </Table.Tr>
          );
        })}
      </Table.Tbody>
    </Table>
  );
}

export { idOf };
