import { Alert, Button, Group, Modal, Select, SimpleGrid, Stack, Switch, Text, Textarea } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { DatePickerInput, TimeInput } from '@mantine/dates';
import type { Patient } from '@medplum/fhirtypes';
import { useEffect, useState, type FormEvent } from 'react';
import { patientDisplayName } from '../../api/fhir.js';
import { dayjs, zoneLabel } from '../../lib/time.js';
import { useApi, useSignedIn } from '../../session.js';
import { useWorkspace } from './PractitionerApp.js';
import { PatientPicker } from './PatientPicker.js';

const DURATIONS = ['10', '15', '20', '30', '45', '60'];

interface Props {
  opened: boolean;
  onClose(): void;
  onBooked(appointmentId: string): void;
}

function nextQuarterHour(tz: string) {
  const now = dayjs().tz(tz);
  return now.minute(Math.ceil((now.minute() + 1) / 15) * 15).second(0).millisecond(0);
}

/** Books an appointment with the signed-in practitioner; a video visit gets its meeting (and join link) at once. */
export function BookAppointmentModal({ opened, onClose, onBooked }: Props) {
  const api = useApi();
  const session = useSignedIn();
  const { practitioner, changed } = useWorkspace();
  const tz = session.timeZone;
  const narrow = useMediaQuery('(max-width: 36em)');
  const [patient, setPatient] = useState<Patient>();
  const [date, setDate] = useState<string | null>(null);
  const [time, setTime] = useState('');
  const [minutes, setMinutes] = useState('20');
  const [video, setVideo] = useState(true);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [touched, setTouched] = useState(false);

  useEffect(() => {
    if (!opened) return;
    const start = nextQuarterHour(tz);
    setPatient(undefined);
    setDate(start.format('YYYY-MM-DD'));
    setTime(start.format('HH:mm'));
    setMinutes('20');
    setVideo(true);
    setNote('');
    setError(undefined);
    setTouched(false);
  }, [opened, tz]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setTouched(true);
    if (!patient?.id || !date || !/^\d{2}:\d{2}$/.test(time)) return;
    const start = dayjs.tz(`${date} ${time}`, 'YYYY-MM-DD HH:mm', tz);
    setBusy(true);
    setError(undefined);
    let appointmentId: string | undefined;
    try {
      const appointment = await api.fhir.createAppointment({
        patient: { reference: `Patient/${patient.id}`, display: patientDisplayName(patient) },
        practitioner: { reference: practitioner, display: session.user.displayName },
        start: start.toDate(),
        minutes: Number(minutes),
        video,
        description: note.trim() || undefined,
      });
      appointmentId = appointment.id!;
      if (video) await api.meetings.createForAppointment(appointmentId);
      onBooked(appointmentId);
    } catch (err) {
      if (appointmentId) {
        // The appointment exists; only its video link is missing, and the drawer can create it again.
        changed();
        setError(`The appointment was booked, but its video link could not be created: ${(err as Error).message}`);
      } else {
        setError((err as Error).message);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal opened={opened} onClose={onClose} title="Book appointment" size="lg" fullScreen={narrow}>
      <form onSubmit={submit} noValidate>
        <Stack>
          {error && (
            <Alert color="red" role="alert" title="Not booked">
              {error}
            </Alert>
          )}
          <PatientPicker value={patient} onChange={setPatient} error={touched && !patient ? 'Choose a patient' : undefined} />
          <SimpleGrid cols={{ base: 1, xs: 3 }}>
            <DatePickerInput
              label="Date"
              required
              value={date}
              onChange={(v) => setDate(v)}
              valueFormat="ddd D MMM YYYY"
              minDate={dayjs().tz(tz).format('YYYY-MM-DD')}
              error={touched && !date ? 'Choose a date' : undefined}
              popoverProps={{ withinPortal: true }}
            />
            <TimeInput
              label="Start time"
              required
              value={time}
              onChange={(e) => setTime(e.currentTarget.value)}
              description={zoneLabel(tz)}
              error={touched && !/^\d{2}:\d{2}$/.test(time) ? 'Enter a time' : undefined}
            />
            <Select
              label="Duration"
              data={DURATIONS.map((d) => ({ value: d, label: `${d} minutes` }))}
              value={minutes}
              onChange={(v) => v && setMinutes(v)}
              allowDeselect={false}
              comboboxProps={{ withinPortal: true }}
            />
          </SimpleGrid>
          <Switch
            label="Video visit"
            description="Creates the video meeting and the patient's join link now."
            checked={video}
            onChange={(e) => setVideo(e.currentTarget.checked)}
          />
          <Textarea
            label="Note for the clinic (optional)"
            description="Stored with the appointment; never shown on the patient's join page."
            value={note}
            onChange={(e) => setNote(e.currentTarget.value)}
            autosize
            minRows={2}
          />
          <Text size="xs" c="dimmed">
            With {session.user.displayName}
          </Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose} type="button">
              Cancel
            </Button>
            <Button type="submit" loading={busy}>
              Book
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
