import { Alert, Button, Card, Container, Grid, Group, List, Stack, Text, TextInput, Title } from '@mantine/core';
import { useInterval } from '@mantine/hooks';
import { useCallback, useState } from 'react';
import type { Patient } from '@medplum/fhirtypes';
import { patientDisplayName } from '../../api/fhir.js';
import type { JoinResult, Meeting } from '../../api/meetings.js';
import { meetingState } from '../../api/meetings.js';
import { CallView } from '../../call/CallView.js';
import { DevicePreview, type PreviewChoice } from '../../call/DevicePreview.js';
import { useCallSession } from '../../call/useCallSession.js';
import { MeetingStateBadge } from '../../components/badges.js';
import { ErrorAlert, LoadingBlock } from '../../components/feedback.js';
import { formatDateTime } from '../../lib/time.js';
import { useAsync } from '../../lib/useAsync.js';
import { Link, useRouter } from '../../router.js';
import { useApi, useSignedIn } from '../../session.js';

type Phase = { name: 'prejoin'; note?: string } | { name: 'call'; join: JoinResult; micOn: boolean; cameraOn: boolean };

function joinLink(meeting: Meeting): string {
  return meeting.publicLink ?? `${window.location.origin}/join/${meeting.code}`;
}

/** The practitioner's side of a visit: check the camera, see who is waiting, join, end. */
export function HostVisitPage({ meetingId }: { meetingId: string }) {
  const api = useApi();
  const meeting = useAsync(() => api.meetings.get(meetingId), [api, meetingId]);
  const patientId = meeting.data?.patientId;
  const patient = useAsync(
    () => (patientId ? api.fhir.read<Patient>('Patient', patientId) : Promise.resolve(undefined)),
    [api, patientId],
  );
  const title = `${meeting.data?.appointmentId ? 'Video visit' : 'Instant meeting'}${patient.data ? ` with ${patientDisplayName(patient.data)}` : ''}`;
  const [phase, setPhase] = useState<Phase>({ name: 'prejoin' });
  // Arrivals show up here before the host is in the call.
  useInterval(() => phase.name === 'prejoin' && meeting.reload(), 4000, { autoInvoke: true });

  if (!meeting.data && meeting.loading) return <LoadingBlock label="Loading the visit…" />;
  if (!meeting.data) {
    return (
      <Container size="sm" py="xl" component="main">
        <Stack>
          <ErrorAlert error={meeting.error ?? new Error('Not found')} title="Could not open the visit" onRetry={meeting.reload} />
          <Button component={Link} to="/app" variant="default">
            Back to today
          </Button>
        </Stack>
      </Container>
    );
  }
  const m = meeting.data;
  if (phase.name === 'call') return <HostCall meeting={m} title={title} phase={phase} onLeft={(note) => setPhase({ name: 'prejoin', note })} />;
  return <PreJoin meeting={m} title={title} note={phase.note} onJoined={(join, choice) => setPhase({ name: 'call', join, ...choice })} />;
}

function PreJoin({
  meeting,
  title,
  note,
  onJoined,
}: {
  meeting: Meeting;
  title: string;
  note?: string;
  onJoined(join: JoinResult, choice: { micOn: boolean; cameraOn: boolean }): void;
}) {
  const api = useApi();
  const session = useSignedIn();
  const [devices, setDevices] = useState<PreviewChoice>({ ready: false, micOn: true, cameraOn: true });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [copied, setCopied] = useState(false);
  const ended = meeting.status === 'ended' || meeting.status === 'cancelled';
  const waiting = meeting.participants.filter((p) => p.role !== 'host' && !p.leftAt);

  async function join() {
    setBusy(true);
    setError(undefined);
    try {
      const result = await api.meetings.join(meeting.code, { displayName: session.user.displayName });
      if (result.role !== 'host') throw new Error('You are not the host of this meeting, so you cannot start it.');
      onJoined(result, { micOn: devices.micOn, cameraOn: devices.cameraOn });
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  }

  return (
    <Container size="lg" py="md" component="main">
      <Stack gap="md">
        <Group justify="space-between">
          <Button component={Link} to="/app" variant="subtle">
            ‹ Today
          </Button>
          <MeetingStateBadge state={meetingState(meeting)} />
        </Group>
        <Title order={1}>{title}</Title>
        {meeting.appointmentId && meeting.scheduledStart && (
          <Text c="dimmed">Scheduled {formatDateTime(meeting.scheduledStart, session.timeZone)}</Text>
        )}
        {note && (
          <Alert color="blue" role="status">
            {note}
          </Alert>
        )}
        {ended ? (
          <Card withBorder p="lg">
            <Stack>
              <Text>This visit has ended.</Text>
              <Group>
                <Button component={Link} to={`/app/summary/${meeting.id}`}>
                  Visit summary
                </Button>
              </Group>
            </Stack>
          </Card>
        ) : (
          <Grid gutter="lg">
            <Grid.Col span={{ base: 12, md: 7 }}>
              <Card withBorder p="md">
                <DevicePreview onChange={setDevices} />
              </Card>
            </Grid.Col>
            <Grid.Col span={{ base: 12, md: 5 }}>
              <Stack>
                <Card withBorder p="md" component="section" aria-labelledby="waiting-heading">
                  <Title order={2} size="h4" id="waiting-heading" mb="xs">
                    Waiting room
                  </Title>
                  {waiting.length === 0 ? (
                    <Text c="dimmed" data-testid="waiting-none">
                      Nobody is waiting yet.
                    </Text>
                  ) : (
                    <List data-testid="waiting-list">
                      {waiting.map((p) => (
                        <List.Item key={p.id}>
                          {p.displayName}{' '}
                          <Text span size="sm" c="dimmed">
                            ({p.role}, since {formatDateTime(p.joinedAt, session.timeZone)})
                          </Text>
                        </List.Item>
                      ))}
                    </List>
                  )}
                </Card>
                <Card withBorder p="md" component="section" aria-labelledby="link-heading">
                  <Title order={2} size="h4" id="link-heading" mb="xs">
                    {meeting.appointmentId ? "Patient's link" : 'Link to send'}
                  </Title>
                  <TextInput readOnly value={joinLink(meeting)} aria-label="Patient's join link" onFocus={(e) => e.currentTarget.select()} data-testid="join-link" />
                  <Button
                    mt="xs"
                    size="xs"
                    variant="default"
                    onClick={() =>
                      void navigator.clipboard
                        ?.writeText(joinLink(meeting))
                        .then(() => setCopied(true))
                        .catch(() => undefined)
                    }
                  >
                    {copied ? 'Copied' : 'Copy patient link'}
                  </Button>
                </Card>
                {error && (
                  <Alert color="red" role="alert" title="Could not join">
                    {error}
                  </Alert>
                )}
                <Button size="lg" onClick={() => void join()} loading={busy}>
                  {meeting.status === 'active' ? 'Rejoin visit' : 'Join and start visit'}
                </Button>
              </Stack>
            </Grid.Col>
          </Grid>
        )}
      </Stack>
    </Container>
  );
}

function HostCall({
  meeting,
  title,
  phase,
  onLeft,
}: {
  meeting: Meeting;
  title: string;
  phase: Extract<Phase, { name: 'call' }>;
  onLeft(note?: string): void;
}) {
  const api = useApi();
  const session = useSignedIn();
  const { navigate } = useRouter();
  const { meetingId, participantId } = phase.join;
  const refreshCredentials = useCallback(
    () => (participantId ? api.meetings.freshCredentials(meetingId, participantId) : Promise.resolve(phase.join.credentials)),
    [api, meetingId, participantId, phase.join.credentials],
  );
  const { session: call, error } = useCallSession(phase.join.credentials, {
    displayName: session.user.displayName,
    micOn: phase.micOn,
    cameraOn: phase.cameraOn,
    refreshCredentials,
  });
  const participants = useAsync(() => api.meetings.get(meeting.id), [api, meeting.id]);
  useInterval(participants.reload, 5000, { autoInvoke: true });
  const waiting = (participants.data?.participants ?? []).filter((p) => p.role !== 'host' && !p.leftAt).map((p) => ({ id: p.id, displayName: p.displayName }));

  const endVisit = useCallback(async () => {
    await api.meetings.end(meeting.id);
    await call?.leave().catch(() => undefined);
    navigate(`/app/summary/${meeting.id}`);
  }, [api, call, meeting.id, navigate]);

  const onFinished = useCallback(
    (state: 'left' | 'ended' | 'failed', message?: string) => {
      if (state === 'ended') navigate(`/app/summary/${meeting.id}`);
      else if (state === 'left') onLeft('You left the visit. It is still open: you can rejoin, or end it from the call.');
      else onLeft(message ?? 'The connection failed.');
    },
    [meeting.id, navigate, onLeft],
  );

  if (error) {
    return (
      <Container size="sm" py="xl">
        <ErrorAlert error={error} title="Could not connect" onRetry={() => onLeft()} />
      </Container>
    );
  }
  if (!call) return <LoadingBlock label="Connecting…" />;
  return (
    <Container fluid p={{ base: 8, sm: 'md' }} component="main">
      <CallView
        session={call}
        isHost
        title={title}
        onFinished={onFinished}
        onEndVisit={endVisit}
        waiting={waiting}
        hostTools={
          <Button variant="white" color="dark" onClick={() => void navigator.clipboard?.writeText(joinLink(meeting)).catch(() => undefined)}>
            Copy patient link
          </Button>
        }
      />
    </Container>
  );
}
