import { Alert, Badge, Button, Group, Loader, Modal, Paper, Stack, Text, Title } from '@mantine/core';
import { useEffect, useState, useSyncExternalStore, type ReactNode } from 'react';
import type { CallSession, ConnectionState } from './types.js';
import { VideoTile } from './VideoTile.js';

export interface WaitingEntry {
  id: string;
  displayName: string;
}

interface Props {
  session: CallSession;
  isHost: boolean;
  /** "Visit with Dr Smith" — shown at the top. */
  title: string;
  /** Called once the call is over for this person (left, ended for everyone, or failed). */
  onFinished(state: Extract<ConnectionState, 'left' | 'ended' | 'failed'>, message?: string): void;
  /** Host only: ends the visit for everyone. */
  onEndVisit?: () => Promise<void>;
  /** Host only: people the server knows are waiting but are not in the call yet. */
  waiting?: WaitingEntry[];
  /** Extra controls for the host (copy the patient's link). */
  hostTools?: ReactNode;
}

const stateText: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  waiting: 'In the waiting room',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  left: 'You left the visit',
  ended: 'The visit has ended',
  failed: 'Connection failed',
};

const stateColor: Record<ConnectionState, string> = {
  connecting: 'blue',
  waiting: 'orange',
  connected: 'green',
  reconnecting: 'orange',
  left: 'gray',
  ended: 'gray',
  failed: 'red',
};

export function CallView({ session, isHost, title, onFinished, onEndVisit, waiting = [], hostTools }: Props) {
  const snap = useSyncExternalStore(session.subscribe, session.getSnapshot);
  const [confirmEnd, setConfirmEnd] = useState(false);
  const [ending, setEnding] = useState(false);
  const [endError, setEndError] = useState<string>();
  const [leaving, setLeaving] = useState(false);

  useEffect(() => {
    if (snap.state === 'left' || snap.state === 'ended' || snap.state === 'failed') onFinished(snap.state, snap.message);
  }, [snap.state, snap.message, onFinished]);

  async function leave() {
    setLeaving(true);
    await session.leave().catch(() => undefined);
  }

  async function endVisit() {
    if (!onEndVisit) return;
    setEnding(true);
    setEndError(undefined);
    try {
      await onEndVisit();
      setConfirmEnd(false);
    } catch (err) {
      setEndError((err as Error).message);
    } finally {
      setEnding(false);
    }
  }

  const inLobby = snap.state === 'waiting';
  const remotesInCall = new Set(snap.remotes.map((r) => r.displayName));
  const lobby = [...snap.waiting, ...waiting.filter((w) => !remotesInCall.has(w.displayName) && !snap.waiting.some((s) => s.id === w.id))];

  return (
    <section className="call-screen" aria-label="Video visit">
      <Group justify="space-between" wrap="nowrap">
        <Title order={1} size="h4" c="gray.0" style={{ minWidth: 0 }} lineClamp={1}>
          {title}
        </Title>
        <Badge color={stateColor[snap.state]} variant="filled" size="md" style={{ flexShrink: 0 }} data-testid="connection-state" data-state={snap.state}>
          {stateText[snap.state]}
        </Badge>
      </Group>
      <div aria-live="polite" className="visually-hidden">
        {stateText[snap.state]}
        {snap.state === 'connected' && snap.remotes.length > 0 && `. With ${snap.remotes.map((r) => r.displayName).join(', ')}.`}
      </div>

      {snap.state === 'reconnecting' && (
        <Alert color="orange" variant="filled" role="status" title="Connection lost">
          Trying to reconnect. Stay on this page; the visit continues when the connection is back.
        </Alert>
      )}

      {snap.notice && (
        <Alert color="yellow" role="status" title="Camera or microphone">
          {snap.notice}
        </Alert>
      )}

      {isHost && lobby.length > 0 && (
        <Alert color="orange" role="status" title="In the waiting room" data-testid="host-waiting-list">
          {lobby.map((w) => w.displayName).join(', ')}
          {snap.state === 'connected' ? ' — connecting them to you.' : ' — they join as soon as you are in the call.'}
        </Alert>
      )}

      {inLobby ? (
        <Paper p="xl" radius="lg" bg="dark.6" c="gray.0" style={{ flex: 1, display: 'flex', alignItems: 'center', justifyContent: 'center' }}>
          <Stack align="center" gap="sm" maw={420} ta="center" data-testid="waiting-room">
            <Loader color="gray.3" aria-hidden="true" />
            <Title order={2} size="h3">
              You are in the waiting room
            </Title>
            <Text>Your clinician will let you in. Please keep this page open.</Text>
          </Stack>
        </Paper>
      ) : (
        <div className="video-stage">
          {snap.remotes.map((peer) => (
            <VideoTile key={peer.id} peer={peer} />
          ))}
          {snap.remotes.length === 0 && (
            <Paper p="xl" radius="lg" bg="dark.6" c="gray.0" ta="center">
              {snap.state === 'connecting' ? (
                <Group justify="center" gap="sm">
                  <Loader size="sm" color="gray.3" aria-hidden="true" />
                  <Text>Connecting to the visit…</Text>
                </Group>
              ) : (
                <Text>{isHost ? 'The patient has not joined yet.' : 'Waiting for the others to join…'}</Text>
              )}
            </Paper>
          )}
        </div>
      )}

      {snap.local && <VideoTile peer={{ ...snap.local, videoEnabled: snap.cameraOn, audioEnabled: snap.micOn }} local className="self-view" />}

      <Group justify="center" gap="sm" wrap="wrap" component="nav" aria-label="Call controls">
        <Button
          variant={snap.micOn ? 'white' : 'filled'}
          color={snap.micOn ? 'dark' : 'red.8'}
          aria-pressed={!snap.micOn}
          onClick={() => void session.setMicrophone(!snap.micOn)}
        >
          {snap.micOn ? 'Mute' : 'Unmute'}
        </Button>
        <Button
          variant={snap.cameraOn ? 'white' : 'filled'}
          color={snap.cameraOn ? 'dark' : 'red.8'}
          aria-pressed={!snap.cameraOn}
          onClick={() => void session.setCamera(!snap.cameraOn)}
        >
          {snap.cameraOn ? 'Camera off' : 'Camera on'}
        </Button>
        {hostTools}
        <Button variant="filled" color="gray.7" onClick={() => void leave()} loading={leaving}>
          Leave
        </Button>
        {isHost && onEndVisit && (
          <Button color="red.8" onClick={() => setConfirmEnd(true)}>
            End visit
          </Button>
        )}
      </Group>

      <Modal opened={confirmEnd} onClose={() => setConfirmEnd(false)} title="End the visit for everyone?" centered>
        <Stack>
          <Text>Everyone is disconnected and the link stops working. The visit is recorded as finished.</Text>
          {endError && (
            <Alert color="red" role="alert">
              {endError}
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setConfirmEnd(false)} data-autofocus>
              Keep talking
            </Button>
            <Button color="red.8" onClick={() => void endVisit()} loading={ending}>
              End visit
            </Button>
          </Group>
        </Stack>
      </Modal>
    </section>
  );
}
