import { Alert, Button, Card, Container, Group, Stack, Text, TextInput, Title } from '@mantine/core';
import { useCallback, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError } from '../../api/http.js';
import type { JoinResult, PublicMeeting } from '../../api/meetings.js';
import { CallView } from '../../call/CallView.js';
import { DevicePreview, type PreviewChoice } from '../../call/DevicePreview.js';
import { useCallSession } from '../../call/useCallSession.js';
import { LoadingBlock } from '../../components/feedback.js';
import { browserTimeZone, formatDateTime, zoneLabel } from '../../lib/time.js';
import { useAsync } from '../../lib/useAsync.js';
import { useApi } from '../../session.js';

type Phase = { name: 'form' } | { name: 'call'; join: JoinResult; micOn: boolean; cameraOn: boolean } | { name: 'left' } | { name: 'ended' } | { name: 'failed'; message: string };

/**
 * The patient's (or a guest's) way into a visit, from the link they were sent. It shows who they are meeting
 * and when — never anything about their health — and works on a phone.
 */
export function JoinPage({ code }: { code: string }) {
  const api = useApi();
  const info = useAsync(() => api.meetings.byCode(code), [api, code]);
  const [phase, setPhase] = useState<Phase>({ name: 'form' });
  const [name, setName] = useState('');

  if (info.loading && !info.data) {
    return (
      <Shell>
        <LoadingBlock label="Looking up your visit…" />
      </Shell>
    );
  }
  if (info.error) return <Unavailable error={info.error} onRetry={info.reload} />;
  const meeting = info.data!;
  if (meeting.status === 'ended') return <Unavailable reason="ended" />;
  if (meeting.status === 'cancelled') return <Unavailable reason="cancelled" />;

  if (phase.name === 'call') {
    return <InCall phase={phase} name={name} meeting={meeting} onDone={setPhase} />;
  }
  if (phase.name === 'ended') {
    return (
      <Shell>
        <Card withBorder radius="lg" p="xl" data-testid="visit-ended">
          <Stack gap="sm">
            <Title order={1} size="h2">
              The visit has ended
            </Title>
            <Text>Thank you for joining. You can close this page now.</Text>
          </Stack>
        </Card>
      </Shell>
    );
  }

  return (
    <Shell>
      <MeetingHeader meeting={meeting} />
      {phase.name === 'left' && (
        <Alert color="blue" role="status" title="You left the visit">
          You can join again below while the visit is still going on.
        </Alert>
      )}
      {phase.name === 'failed' && (
        <Alert color="red" role="alert" title="The call could not continue">
          {phase.message}
        </Alert>
      )}
      <JoinForm code={code} name={name} setName={setName} onJoined={(join, choice) => setPhase({ name: 'call', join, ...choice })} onUnavailable={info.reload} />
    </Shell>
  );
}

function Shell({ children }: { children: ReactNode }) {
  return (
    <Container size="sm" py="md" px="sm" component="main">
      <Stack gap="md">{children}</Stack>
    </Container>
  );
}

function MeetingHeader({ meeting }: { meeting: PublicMeeting }) {
  const tz = browserTimeZone();
  return (
    <Stack gap={4}>
      <Text c="dimmed" fw={600} data-testid="clinic-name">
        {meeting.organizationName ?? 'Your clinic'}
      </Text>
      <Title order={1} size="h2">
        Video visit{meeting.practitionerName ? ` with ${meeting.practitionerName}` : ''}
      </Title>
      {meeting.scheduledStart && (
        <Text>
          {formatDateTime(meeting.scheduledStart, tz)}{' '}
          <Text span c="dimmed" size="sm">
            ({zoneLabel(tz)})
          </Text>
        </Text>
      )}
    </Stack>
  );
}

function JoinForm({
  code,
  name,
  setName,
  onJoined,
  onUnavailable,
}: {
  code: string;
  name: string;
  setName(name: string): void;
  onJoined(join: JoinResult, choice: { micOn: boolean; cameraOn: boolean }): void;
  onUnavailable(): void;
}) {
  const api = useApi();
  const signedIn = api.http.hasAccessToken();
  const [birthDate, setBirthDate] = useState('');
  const [devices, setDevices] = useState<PreviewChoice>({ ready: false, micOn: true, cameraOn: true });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [touched, setTouched] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setTouched(true);
    if (!name.trim()) return;
    setBusy(true);
    setError(undefined);
    try {
      const join = await api.meetings.join(code, { displayName: name.trim(), ...(birthDate && !signedIn ? { birthDate } : {}) });
      onJoined(join, { micOn: devices.micOn, cameraOn: devices.cameraOn });
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 410)) onUnavailable();
      setError((err as Error).message);
      setBusy(false);
    }
  }

  return (
    <Card withBorder radius="lg" p="md">
      <form onSubmit={submit} noValidate>
        <Stack>
          <DevicePreview onChange={setDevices} />
          {error && (
            <Alert color="red" role="alert" title="Could not join">
              {error}
            </Alert>
          )}
          <TextInput
            label="Your name"
            description="The clinician sees this name."
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={touched && !name.trim() ? 'Enter your name' : undefined}
            autoComplete="name"
            maxLength={100}
          />
          {!signedIn && (
            <TextInput
              label="Patient's date of birth"
              description="Confirms it is you. Leave empty if you are joining as a relative or carer."
              type="date"
              value={birthDate}
              onChange={(e) => setBirthDate(e.currentTarget.value)}
              autoComplete="bday"
            />
          )}
          <Button type="submit" size="md" loading={busy} fullWidth>
            {devices.ready ? 'Join visit' : 'Join without camera'}
          </Button>
        </Stack>
      </form>
    </Card>
  );
}

function InCall({
  phase,
  name,
  meeting,
  onDone,
}: {
  phase: Extract<Phase, { name: 'call' }>;
  name: string;
  meeting: PublicMeeting;
  onDone(phase: Phase): void;
}) {
  const api = useApi();
  const { meetingId, participantId } = phase.join;
  const refreshCredentials = useCallback(
    () => (participantId ? api.meetings.freshCredentials(meetingId, participantId) : Promise.resolve(phase.join.credentials)),
    [api, meetingId, participantId, phase.join.credentials],
  );
  const { session, error } = useCallSession(phase.join.credentials, {
    displayName: name,
    micOn: phase.micOn,
    cameraOn: phase.cameraOn,
    refreshCredentials,
  });
  const onFinished = useCallback(
    (state: 'left' | 'ended' | 'failed', message?: string) => {
      if (state === 'left') onDone({ name: 'left' });
      else if (state === 'ended') onDone({ name: 'ended' });
      else onDone({ name: 'failed', message: message ?? 'The connection was lost.' });
    },
    [onDone],
  );

  if (error) {
    return (
      <Shell>
        <Alert color="red" role="alert" title="Could not connect">
          {error.message}
        </Alert>
        <Group>
          <Button onClick={() => onDone({ name: 'form' })}>Back</Button>
        </Group>
      </Shell>
    );
  }
  if (!session) {
    return (
      <Shell>
        <LoadingBlock label="Connecting…" />
      </Shell>
    );
  }
  return (
    <Container fluid p={{ base: 8, sm: 'md' }} component="main">
      <CallView
        session={session}
        isHost={false}
        title={`Visit${meeting.practitionerName ? ` with ${meeting.practitionerName}` : ''}`}
        onFinished={onFinished}
      />
    </Container>
  );
}

function Unavailable({ reason, error, onRetry }: { reason?: 'ended' | 'cancelled'; error?: Error; onRetry?: () => void }) {
  const status = error instanceof ApiError ? error.status : undefined;
  let title = 'This visit link does not work';
  let body = 'Check that you opened the whole link from your message. If it still does not work, contact your clinic.';
  if (reason === 'ended' || status === 410) {
    title = 'This visit has ended';
    body = 'The link no longer works. If you still need to talk to your clinician, contact your clinic.';
  }
  if (reason === 'cancelled' || (status === 410 && /cancel/i.test(error?.message ?? ''))) {
    title = 'This visit was cancelled';
    body = 'Contact your clinic to book a new time.';
  }
  const transient = error && (status === 0 || status === 429 || (status !== undefined && status >= 500));
  if (transient) {
    title = 'We could not load your visit';
    body = error.message;
  }
  return (
    <Shell>
      <Card withBorder radius="lg" p="xl" data-testid="visit-unavailable">
        <Stack gap="sm">
          <Title order={1} size="h2">
            {title}
          </Title>
          <Text>{body}</Text>
          {transient && onRetry && (
            <Group>
              <Button onClick={onRetry}>Try again</Button>
            </Group>
          )}
        </Stack>
      </Card>
    </Shell>
  );
}
