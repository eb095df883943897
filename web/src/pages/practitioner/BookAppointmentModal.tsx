import { Alert, Button, Group, Loader, Modal, Radio, Select, SimpleGrid, Stack, Switch, Text, Textarea } from '@mantine/core';
import { useMediaQuery } from '@mantine/hooks';
import { DatePickerInput } from '@mantine/dates';
import type { Appointment, Patient } from '@medplum/fhirtypes';
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { appointmentJoinLink, ONLINE_SERVICE, patientDisplayName, SERVICE_TYPE_SYSTEM } from '../../api/fhir.js';
import { ApiError } from '../../api/http.js';
import { dayjs, formatDate, formatTime, zoneLabel } from '../../lib/time.js';
import { useApi, useSignedIn } from '../../session.js';
import { useWorkspace } from './PractitionerApp.js';
import { PatientPicker } from './PatientPicker.js';

const DURATIONS = ['10', '15', '20', '30', '45', '60'];
/** How far ahead of the chosen day free times are looked for, and how many are offered. */
const DAYS_AHEAD = 14;
const FREE_TIMES = 24;

interface Props {
  opened: boolean;
  onClose(): void;
  onBooked(appointmentId: string): void;
}

type FreeTimes = { state: 'idle' | 'loading' } | { state: 'loaded'; proposals: Appointment[] } | { state: 'failed'; message: string };

/** The proposal as the practitioner wants it booked: video or not, with the clinic's note. */
function asBooked(proposal: Appointment, video: boolean, note: string): Appointment {
  const others = (proposal.serviceType ?? []).filter((c) => !c.coding?.some((x) => x.system === SERVICE_TYPE_SYSTEM && x.code === ONLINE_SERVICE.code));
  const serviceType = video ? [...others, { coding: [ONLINE_SERVICE], text: 'Video visit' }] : others;
  const booked: Appointment = { ...proposal, serviceType };
  if (serviceType.length === 0) delete booked.serviceType;
  if (note) booked.description = note;
  return booked;
}

/**
 * Books a visit with the signed-in practitioner into a free time of their published availability: the times
 * come from Appointment/$find and the chosen one is booked with Appointment/$book, which never gives one
 * time to two people. A video visit gets its meeting (and join link) with the booking.
 */
export function BookAppointmentModal({ opened, onClose, onBooked }: Props) {
  const api = useApi();
  const session = useSignedIn();
  const { practitioner, changed } = useWorkspace();
  const tz = session.timeZone;
  const narrow = useMediaQuery('(max-width: 36em)');
  const [patient, setPatient] = useState<Patient>();
  const [date, setDate] = useState<string | null>(null);
  const [minutes, setMinutes] = useState('20');
  const [video, setVideo] = useState(true);
  const [note, setNote] = useState('');
  const [free, setFree] = useState<FreeTimes>({ state: 'idle' });
  const [chosen, setChosen] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [touched, setTouched] = useState(false);

  useEffect(() => {
    if (!opened) return;
    setPatient(undefined);
    setDate(dayjs().tz(tz).format('YYYY-MM-DD'));
    setMinutes('20');
    setVideo(true);
    setNote('');
    setError(undefined);
    setTouched(false);
  }, [opened, tz]);

  const patientRef = patient?.id ? `Patient/${patient.id}` : undefined;
  const patientName = patient ? patientDisplayName(patient) : undefined;
  const loadFreeTimes = useCallback(async () => {
    if (!opened || !date) return;
    const dayStart = dayjs.tz(date, 'YYYY-MM-DD', tz);
    const from = dayStart.isBefore(dayjs()) ? new Date() : dayStart.toDate();
    const to = dayStart.add(DAYS_AHEAD, 'day').toDate();
    setFree({ state: 'loading' });
    try {
      const proposals = await api.fhir.findFreeTimes({
        practitioner,
        patient: patientRef ? { reference: patientRef, display: patientName } : undefined,
        from,
        to,
        minutes: Number(minutes),
        count: FREE_TIMES,
      });
      setFree({ state: 'loaded', proposals });
      setChosen(proposals[0]?.start);
    } catch (err) {
      setFree({ state: 'failed', message: (err as Error).message });
      setChosen(undefined);
    }
  }, [api, opened, date, tz, practitioner, patientRef, patientName, minutes]);

  useEffect(() => {
    void loadFreeTimes();
  }, [loadFreeTimes]);

  const proposals = free.state === 'loaded' ? free.proposals : [];
  const proposal = proposals.find((p) => p.start === chosen);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setTouched(true);
    if (!patient?.id || !proposal) return;
    setBusy(true);
    setError(undefined);
    let booked: Appointment | undefined;
    try {
      booked = await api.fhir.book(asBooked(proposal, video, note.trim()));
      // The server creates the meeting of a video visit with the booking; should that have failed, once more.
      if (video && !appointmentJoinLink(booked)) await api.meetings.createForAppointment(booked.id!);
      onBooked(booked.id!);
    } catch (err) {
      if (booked) {
        // The appointment exists; only its video link is missing, and the drawer can create it again.
        changed();
        setError(`The appointment was booked, but its video link could not be created: ${(err as Error).message}`);
      } else if (err instanceof ApiError && err.status === 409) {
        setError('Someone else has just booked this time. The free times below are up to date again: choose another one.');
        await loadFreeTimes();
      } else {
        setError((err as Error).message);
      }
    } finally {
      setBusy(false);
    }
  }

  const byDay = new Map<string, Appointment[]>();
  for (const p of proposals) {
    const day = dayjs(p.start).tz(tz).format('YYYY-MM-DD');
    byDay.set(day, [...(byDay.get(day) ?? []), p]);
  }
  const firstDay = date ? dayjs.tz(date, 'YYYY-MM-DD', tz) : undefined;

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
          <SimpleGrid cols={{ base: 1, xs: 2 }}>
            <DatePickerInput
              label="Free times from"
              required
              value={date}
              onChange={(v) => setDate(v)}
              valueFormat="ddd D MMM YYYY"
              minDate={dayjs().tz(tz).format('YYYY-MM-DD')}
              description={zoneLabel(tz)}
              popoverProps={{ withinPortal: true }}
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

          <section aria-labelledby="free-times">
            <Text fw={500} size="sm" id="free-times" mb={4}>
              Free time
            </Text>
            {free.state === 'loading' && (
              <Group gap="xs" role="status" aria-live="polite">
                <Loader size="xs" aria-hidden="true" />
                <Text size="sm" c="dimmed">
                  Looking for free times…
                </Text>
              </Group>
            )}
            {free.state === 'failed' && (
              <Alert color="red" role="alert" title="Could not load the free times">
                <Stack gap="xs" align="flex-start">
                  <Text size="sm">{free.message}</Text>
                  <Button size="xs" variant="white" color="red" onClick={() => void loadFreeTimes()}>
                    Try again
                  </Button>
                </Stack>
              </Alert>
            )}
            {free.state === 'loaded' && proposals.length === 0 && (
              <Alert color="yellow" role="status" title="No free times">
                Your published availability has no free {minutes}-minute time from {formatDate(firstDay?.toDate(), tz)} to{' '}
                {formatDate(firstDay?.add(DAYS_AHEAD - 1, 'day').toDate(), tz)}. Choose later dates or a shorter visit.
              </Alert>
            )}
            {proposals.length > 0 && (
              <Radio.Group value={chosen ?? null} onChange={setChosen} aria-labelledby="free-times" error={touched && !proposal ? 'Choose a time' : undefined}>
                <Stack gap="xs">
                  {[...byDay.entries()].map(([day, list]) => (
                    <div key={day}>
                      <Text size="xs" c="dimmed" mb={2}>
                        {formatDate(list[0].start, tz)}
                      </Text>
                      <Group gap="xs">
                        {list.map((p) => (
                          <Radio key={p.start} value={p.start!} label={`${formatTime(p.start, tz)}–${formatTime(p.end, tz)}`} />
                        ))}
                      </Group>
                    </div>
                  ))}
                </Stack>
              </Radio.Group>
            )}
          </section>

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
            <Button type="submit" loading={busy} disabled={!proposal}>
              Book
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
