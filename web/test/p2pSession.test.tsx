// @vitest-environment jsdom
import { describe, expect, it, vi } from 'vitest';

type Listener = (payload: never) => void;

const calls = vi.hoisted(() => ({ instances: [] as FakeCall[] }));

interface FakeCall {
  options: { credentials: () => Promise<{ token: string }>; microphoneEnabled?: boolean; cameraEnabled?: boolean };
  emit(event: string, payload: unknown): void;
  participants: unknown[];
  microphoneEnabled: boolean;
  cameraEnabled: boolean;
  me?: { peerId: string };
  join: ReturnType<typeof vi.fn>;
  leave: ReturnType<typeof vi.fn>;
  setMicrophoneEnabled: ReturnType<typeof vi.fn>;
  setCameraEnabled: ReturnType<typeof vi.fn>;
  remove: ReturnType<typeof vi.fn>;
}

vi.mock('../src/p2p/client.js', () => ({
  P2pCall: class {
    private listeners = new Map<string, Set<Listener>>();
    participants: unknown[] = [];
    microphoneEnabled: boolean;
    cameraEnabled: boolean;
    me = { peerId: 'me-peer' };
    join = vi.fn(async () => undefined);
    leave = vi.fn(() => this.emit('ended', { reason: 'left', code: 1000, message: 'You left the call' }));
    setMicrophoneEnabled = vi.fn();
    setCameraEnabled = vi.fn();
    remove = vi.fn();
    constructor(public options: FakeCall['options']) {
      this.microphoneEnabled = options.microphoneEnabled ?? true;
      this.cameraEnabled = options.cameraEnabled ?? true;
      calls.instances.push(this as unknown as FakeCall);
    }
    on(event: string, l: Listener) {
      const set = this.listeners.get(event) ?? new Set();
      set.add(l);
      this.listeners.set(event, set);
      return () => set.delete(l);
    }
    emit(event: string, payload: unknown) {
      for (const l of this.listeners.get(event) ?? []) (l as (p: unknown) => void)(payload);
    }
  },
}));

const { createP2pSession } = await import('../src/call/p2p.js');

const credentials = { provider: 'p2p' as const, token: 'first-token', roomId: 'r1' };

describe('p2p call session', () => {
  it('maps the client states, the lobby and the remote streams to the call screen', async () => {
    const session = await createP2pSession(credentials, { displayName: 'Sam', micOn: true, cameraOn: false });
    const call = calls.instances.at(-1)!;
    expect(call.options.cameraEnabled).toBe(false);
    await session.start();
    expect(call.join).toHaveBeenCalled();

    call.emit('state', { state: 'waiting', previous: 'connecting' });
    expect(session.getSnapshot().state).toBe('waiting');
    call.emit('state', { state: 'connected', previous: 'waiting' });
    call.participants = [{ peerId: 'p2', participantId: 'x', role: 'host', displayName: 'Dr Lee', audioEnabled: true, videoEnabled: false, connectionState: 'connected' }];
    call.emit('participants', { participants: call.participants });
    expect(session.getSnapshot()).toMatchObject({ state: 'connected', remotes: [{ id: 'p2', displayName: 'Dr Lee', videoEnabled: false }] });

    call.emit('lobby', { waiting: [{ peerId: 'p3', participantId: 'g1', role: 'guest', displayName: 'Carer' }] });
    expect(session.getSnapshot().waiting).toEqual([{ id: 'g1', displayName: 'Carer', role: 'guest' }]);

    call.emit('state', { state: 'reconnecting', previous: 'connected' });
    expect(session.getSnapshot().state).toBe('reconnecting');
    call.emit('error', { error: new Error('No camera or microphone was found.') });
    expect(session.getSnapshot().notice).toBe('No camera or microphone was found.');
  });

  it('tells a meeting ended for everyone from leaving, and a removal from a lost connection', async () => {
    const ended = await createP2pSession(credentials, { displayName: 'Sam', micOn: true, cameraOn: true });
    const call = calls.instances.at(-1)!;
    call.emit('state', { state: 'ended', previous: 'connected' });
    expect(ended.getSnapshot().state).toBe('connecting'); // the reason decides, not the bare state
    call.emit('ended', { reason: 'meeting-ended', code: 4410, message: '' });
    expect(ended.getSnapshot()).toMatchObject({ state: 'ended', message: 'The visit has ended.' });

    const left = await createP2pSession(credentials, { displayName: 'Sam', micOn: true, cameraOn: true });
    await left.leave();
    expect(left.getSnapshot().state).toBe('left');

    const lost = await createP2pSession(credentials, { displayName: 'Sam', micOn: true, cameraOn: true });
    calls.instances.at(-1)!.emit('ended', { reason: 'connection-lost', code: 1006, message: '' });
    expect(lost.getSnapshot().state).toBe('failed');
  });

  it('reconnects with fresh credentials, not the first token again', async () => {
    const refresh = vi.fn(async () => ({ provider: 'p2p' as const, token: 'fresh-token', roomId: 'r1' }));
    await createP2pSession(credentials, { displayName: 'Sam', micOn: true, cameraOn: true, refreshCredentials: refresh });
    const call = calls.instances.at(-1)!;
    expect((await call.options.credentials()).token).toBe('first-token');
    expect((await call.options.credentials()).token).toBe('fresh-token');
    expect(refresh).toHaveBeenCalledTimes(1);
  });
});
