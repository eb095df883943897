import { Alert, Badge, Button, Divider, Drawer, Group, List, Stack, Text, TextInput, Timeline, Title } from '@mantine/core';
import type { Appointment, Patient } from '@medplum/fhirtypes';
import { useState } from 'react';
import { appointmentJoinLink, idOf, isVideoAppointment, participantOf, patientDisplayName } from '../../api/fhir.js';
import { meetingState, type Meeting } from '../../api/meetings.js';
import { AppointmentStatusBadge, MeetingStateBadge, VideoBadge, appointmentStatusLabel } from '../../components/badges.js';
import { ErrorAlert, LoadingBlock } from '../../components/feedback.js';
import { dayjs, formatDate, formatDateTime, formatTime } from '../../lib/time.js';
import { useAsync } from '../../lib/useAsync.js';
import { Link } from '../../router.js';
import { useApi, useSignedIn } from '../../session.js';
import { InstantMeetingButton } from './InstantMeetingButton.js';
import { useWorkspace } from './PractitionerApp.js';

interface Props {
  appointmentId: string | undefined;
  onClose(): void;
}

interface DrawerData {
  appointment: Appointment;
  history: Appointment[];
  patient?: Patient;
  meeting?: Meeting;
  meetingError?: Error;
}

const STARTABLE: Appointment['status'][] = ['booked', 'arrived', 'checked-in'];
/** A visit can be cancelled until it has started. */
const CANCELLABLE: Appointment['status'][] = ['proposed', 'pending', 'booked', 'arrived', 'checked-in', 'waitlist'];

export function AppointmentDrawer({ appointmentId, onClose }: Props) {
  const api = useApi();
  const { version } = useWorkspace();
  const data = useAsync<DrawerData | undefined>(async () => {
    if (!appointmentId) return undefined;
    const [appointment, history] = await Promise.all([
      api.fhir.read<Appointment>('Appointment', appointmentId),
      api.fhir.history<Appointment>('Appointment', appointmentId),
    ]);
    const patientId = idOf(participantOf(appointment, 'Patient')?.reference);
    const [patient, meetingResult] = await Promise.all([
      patientId ? api.fhir.read<Patient>('Patient', patientId).catch(() => undefined) : Promise.resolve(undefined),
      findMeeting(appointment).then(
        (meeting) => ({ meeting, error: undefined }),
        (error: Error) => ({ meeting: undefined, error }),
      ),
    ]);
    return { appointment, history, patient, meeting: meetingResult.meeting, meetingError: meetingResult.error };

    async function findMeeting(a: Appointment): Promise<Meeting | undefined> {
      if (!isVideoAppointment(a)) return undefined;
      const around = dayjs(a.start);
      const meetings = await api.meetings.list({ from: around.subtract(1, 'day').toDate(), to: around.add(1, 'day').toDate() });
      const mine = meetings.filter((m) => m.appointmentId === a.id);
      return mine.find((m) => m.status !== 'ended' && m.status !== 'cancelled') ?? mine[0];
    }
  }, [api, appointmentId, version]);

  const d = data.data?.appointment.id === appointmentId ? data.data : undefined;
  const title = d ? patientDisplayName(d.patient) || participantOf(d.appointment, 'Patient')?.display : 'Appointment';

  return (
    <Drawer opened={Boolean(appointmentId)} onClose={onClose} position="right" size="lg" title={title}>
      {data.error && <ErrorAlert error={data.error} title="Could not load the appointment" onRetry={data.reload} />}
      {!d && !data.error && <LoadingBlock label="Loading the appointment…" />}
      {d && <DrawerBody data={d} reload={data.reload} />}
    </Drawer>
  );
}

function DrawerBody({ data, reload }: { data: DrawerData; reload(): void }) {
  const { appointment, history, patient, meeting } = data;
  const { timeZone } = useSignedIn();
  const video = isVideoAppointment(appointment);
  const startable = STARTABLE.includes(appointment.status) && (!meeting || meeting.status === 'scheduled' || meeting.status === 'active');
  const cancellable = CANCELLABLE.includes(appointment.status) && (!meeting || meeting.status === 'scheduled');
  const [startError, setStartError] = useState<string>();

  return (
    <Stack gap="lg">
      <Stack gap={4}>
        <Group gap="xs">
          <AppointmentStatusBadge status={appointment.status} />
          {video && <VideoBadge />}
          {meeting && <MeetingStateBadge state={meetingState(meeting)} />}
        </Group>
        <Text fw={600}>{formatDate(appointment.start, timeZone)}</Text>
        <Text>
          {formatTime(appointment.start, timeZone)} – {formatTime(appointment.end, timeZone)}
          {appointment.minutesDuration ? ` (${appointment.minutesDuration} min)` : ''}
        </Text>
        {appointment.description && <Text c="dimmed">{appointment.description}</Text>}
      </Stack>

      {startError && (
        <Alert color="red" role="alert" title="Could not start the visit" withCloseButton onClose={() => setStartError(undefined)}>
          {startError}
        </Alert>
      )}
      <Group gap="sm">
        {startable && appointment.id && (
          <InstantMeetingButton variant="appointment" appointmentId={appointment.id} onError={(e) => setStartError(e.message)} />
        )}
        {meeting?.status === 'ended' && (
          <Button component={Link} to={`/app/summary/${meeting.id}`} variant="light">
            Visit summary
          </Button>
        )}
      </Group>
      {cancellable && <CancelVisit appointment={appointment} meeting={meeting} patientName={patient ? patientDisplayName(patient) : undefined} reload={reload} />}

      {video && <JoinLinkSection appointment={appointment} meeting={meeting} meetingError={data.meetingError} patient={patient} reload={reload} />}

      <Divider />
      <section aria-labelledby="drawer-patient">
        <Title order={3} size="h5" id="drawer-patient" mb={4}>
          Patient
        </Title>
        {patient ? (
          <Stack gap={2}>
            <Text>{patientDisplayName(patient)}</Text>
            <Text size="sm" c="dimmed">
              {[patient.birthDate && `Born ${patient.birthDate}`, patient.gender].filter(Boolean).join(' · ') || 'No date of birth'}
            </Text>
            {patient.telecom?.map((t) => (
              <Text size="sm" key={`${t.system}-${t.value}`}>
                {t.system}: {t.value}
              </Text>
            ))}
          </Stack>
        ) : (
          <Text c="dimmed">{participantOf(appointment, 'Patient')?.display ?? 'Not available'}</Text>
        )}
      </section>

      <section aria-labelledby="drawer-participants">
        <Title order={3} size="h5" id="drawer-participants" mb={4}>
          Participants
        </Title>
        <List spacing={4}>
          {appointment.participant?.map((p, i) => (
            <List.Item key={p.actor?.reference ?? i}>
              {p.actor?.display ?? p.actor?.reference ?? 'Unknown'}{' '}
              <Text span size="sm" c="dimmed">
                ({p.actor?.reference?.split('/')[0] ?? 'participant'}, {p.status})
              </Text>
            </List.Item>
          ))}
        </List>
      </section>

      <section aria-labelledby="drawer-history">
        <Title order={3} size="h5" id="drawer-history" mb="xs">
          Status history
        </Title>
        <StatusHistory history={history} timeZone={timeZone} />
      </section>
    </Stack>
  );
}

/**
 * Cancels the visit after a confirmation. A video visit is cancelled through its meeting, which closes the room,
 * records why and cancels the Appointment (freeing its time for other bookings); any other visit is cancelled
 * through scheduling, which frees its time the same way.
 */
function CancelVisit({ appointment, meeting, patientName, reload }: { appointment: Appointment; meeting?: Meeting; patientName?: string; reload(): void }) {
  const api = useApi();
  const { changed } = useWorkspace();
  const { timeZone } = useSignedIn();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  async function cancel() {
    if (!appointment.id) return;
    setBusy(true);
    setError(undefined);
    try {
      if (meeting) await api.meetings.cancel(meeting.id);
      else await api.fhir.cancelAppointment(appointment.id, 'Cancelled by the clinic');
      setConfirming(false);
      changed();
      reload();
    } catch (err) {
      setError(`Not cancelled: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  }

  if (!confirming) {
    return (
      <Group>
        <Button variant="subtle" color="red" onClick={() => setConfirming(true)}>
          Cancel visit
        </Button>
      </Group>
    );
  }
  return (
    <Alert color="red" variant="light" title="Cancel this visit?" role="alertdialog" aria-label="Cancel this visit?">
      <Stack gap="xs">
        <Text size="sm">
          {patientName ? `${patientName}'s visit` : 'The visit'} on {formatDate(appointment.start, timeZone)} at {formatTime(appointment.start, timeZone)} is cancelled
          {meeting ? ' and the join link stops working' : ''}. The time becomes free for other bookings.
        </Text>
        {error && (
          <Text size="sm" c="red" role="alert">
            {error}
          </Text>
        )}
        <Group gap="xs">
          <Button size="xs" color="red" loading={busy} onClick={() => void cancel()}>
            Yes, cancel visit
          </Button>
          <Button size="xs" variant="default" disabled={busy} onClick={() => setConfirming(false)}>
            Keep visit
          </Button>
        </Group>
      </Stack>
    </Alert>
  );
}

function JoinLinkSection({
  appointment,
  meeting,
  meetingError,
  patient,
  reload,
}: {
  appointment: Appointment;
  meeting?: Meeting;
  meetingError?: Error;
  patient?: Patient;
  reload(): void;
}) {
  const api = useApi();
  const [copied, setCopied] = useState(false);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ color: string; text: string }>();
  const link = meeting?.publicLink ?? (meeting?.code ? `${window.location.origin}/join/${meeting.code}` : appointmentJoinLink(appointment));
  const email = patient?.telecom?.find((t) => t.system === 'email')?.value;
  const ended = meeting?.status === 'ended' || meeting?.status === 'cancelled';

  async function createLink() {
    if (!appointment.id) return;
    setBusy(true);
    setMessage(undefined);
    try {
      await api.meetings.createForAppointment(appointment.id);
      reload();
    } catch (err) {
      setMessage({ color: 'red', text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  async function copy() {
    if (!link) return;
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
      // Copying is how most links get sent (chat, text message); the meeting's log notes it.
      if (meeting) await api.meetings.recordLinkShared(meeting.id, 'copy').catch(() => undefined);
    } catch {
      setMessage({ color: 'yellow', text: 'The browser did not allow copying. Select the link above and copy it.' });
    }
  }

  async function send() {
    if (!link || !meeting) return;
    setMessage(undefined);
    let channel = 'share';
    const text = `Your video visit link: ${link}`;
    if (email) {
      channel = 'email';
      window.location.href = `mailto:${encodeURIComponent(email)}?subject=${encodeURIComponent('Your video visit')}&body=${encodeURIComponent(text)}`;
    } else if (typeof navigator.share === 'function') {
      try {
        await navigator.share({ title: 'Your video visit', text, url: link });
      } catch {
        return; // the person closed the share sheet
      }
    } else {
      await copy();
      return; // copy() has recorded it
    }
    try {
      await api.meetings.recordLinkShared(meeting.id, channel);
      setMessage({ color: 'green', text: 'The link was sent and recorded.' });
    } catch (err) {
      setMessage({ color: 'yellow', text: `The link was sent, but recording it failed: ${(err as Error).message}` });
    }
  }

  return (
    <section aria-labelledby="drawer-link">
      <Title order={3} size="h5" id="drawer-link" mb="xs">
        Video link
      </Title>
      {meetingError && <ErrorAlert error={meetingError} title="Could not load the video meeting" onRetry={reload} />}
      {!meetingError && !link && (
        <Stack gap="xs" align="flex-start">
          <Text size="sm" c="dimmed">
            The video meeting for this appointment has not been created yet.
          </Text>
          <Button size="xs" variant="light" loading={busy} onClick={() => void createLink()}>
            Create video link
          </Button>
        </Stack>
      )}
      {link && (
        <Stack gap="xs">
          <TextInput readOnly value={link} aria-label="Patient's join link" onFocus={(e) => e.currentTarget.select()} data-testid="join-link" />
          {!ended && (
            <Group gap="xs">
              <Button size="xs" variant="default" onClick={() => void copy()}>
                {copied ? 'Copied' : 'Copy patient link'}
              </Button>
              <Button size="xs" variant="default" onClick={() => void send()} disabled={!meeting}>
                {email ? 'Send link by email' : 'Send link'}
              </Button>
            </Group>
          )}
          <Text size="xs" c="dimmed" aria-live="polite">
            {copied ? 'The link is on the clipboard.' : 'The link shows only the clinic, your name and the time — no health data.'}
          </Text>
        </Stack>
      )}
      {message && (
        <Alert mt="xs" color={message.color} role="status">
          {message.text}
        </Alert>
      )}
    </section>
  );
}

function StatusHistory({ history, timeZone }: { history: Appointment[]; timeZone: string }) {
  // One entry per change of status; versions that changed something else are folded in.
  const changes: { status: Appointment['status']; at?: string; version?: string }[] = [];
  for (const v of history) {
    if (changes.at(-1)?.status !== v.status) changes.push({ status: v.status, at: v.meta?.lastUpdated, version: v.meta?.versionId });
  }
  if (changes.length === 0) return <Text c="dimmed">No history.</Text>;
  return (
    <Timeline active={changes.length - 1} bulletSize={14} lineWidth={2}>
      {changes.map((c) => (
        <Timeline.Item key={`${c.version}-${c.status}`} title={appointmentStatusLabel(c.status)}>
          <Text size="xs" c="dimmed" component="div">
            {formatDateTime(c.at, timeZone)}
            {c.version && (
              <Badge ml={6} size="xs" variant="outline" color="gray">
                v{c.version}
              </Badge>
            )}
          </Text>
        </Timeline.Item>
      ))}
    </Timeline>
  );
}

