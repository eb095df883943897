// @vitest-environment jsdom
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { SnapshotStore, type CallSession } from '../src/call/types.js';
import { JoinPage } from '../src/pages/join/JoinPage.js';
import { Providers, fakeServer, outcome, route } from './support.js';

const fakeCall = vi.hoisted(() => ({ current: undefined as undefined | { store: unknown; left: boolean } }));

vi.mock('../src/call/index.js', () => ({
  createCallSession: async (_credentials: unknown, options: { micOn: boolean; cameraOn: boolean; displayName: string }) => {
    const { SnapshotStore: Store, initialSnapshot: initial } = await import('../src/call/types.js');
    const store = new Store(initial(options));
    const state = { store, left: false };
    fakeCall.current = state;
    const session: CallSession = {
      subscribe: store.subscribe,
      getSnapshot: store.get,
      start: async () => store.set({ state: 'waiting', local: { id: 'me', displayName: options.displayName, audioEnabled: true, videoEnabled: true } }),
      setMicrophone: async (on) => store.set({ micOn: on }),
      setCamera: async (on) => store.set({ cameraOn: on }),
      leave: async () => {
        state.left = true;
        store.set({ state: 'left' });
      },
    };
    return session;
  },
}));

function fakeStream(): MediaStream {
  const track = (kind: string) => ({ kind, enabled: true, stop: vi.fn() });
  const tracks = [track('audio'), track('video')];
  return {
    getTracks: () => tracks,
    getAudioTracks: () => tracks.filter((t) => t.kind === 'audio'),
    getVideoTracks: () => tracks.filter((t) => t.kind === 'video'),
  } as unknown as MediaStream;
}

function mockMedia(impl: () => Promise<MediaStream>) {
  Object.defineProperty(window, 'isSecureContext', { value: true, configurable: true });
  Object.defineProperty(navigator, 'mediaDevices', { value: { getUserMedia: vi.fn(impl) }, configurable: true });
}

const view = {
  meetingId: 'm1',
  code: 'ABCD2345',
  status: 'scheduled',
  provider: 'p2p',
  scheduledStart: '2030-03-04T09:30:00.000Z',
  practitionerName: 'Dr Ada Lee',
  organizationName: 'Harbour Clinic',
};

describe('Join page', () => {
  beforeEach(() => {
    fakeCall.current = undefined;
    mockMedia(async () => fakeStream());
  });

  it('shows the clinic, the practitioner and the time, and nothing about the patient', async () => {
    const { api } = fakeServer(route('GET', '/api/virtual-meetings/code/ABCD2345', () => ({ body: view })));
    render(
      <Providers api={api} path="/join/ABCD2345">
        <JoinPage code="ABCD2345" />
      </Providers>,
    );
    expect(await screen.findByText('Harbour Clinic')).toBeTruthy();
    expect(screen.getByRole('heading', { name: 'Video visit with Dr Ada Lee' })).toBeTruthy();
    expect(screen.getByLabelText(/Your name/)).toBeTruthy();
    expect(screen.getByLabelText(/Patient's date of birth/)).toBeTruthy();
  });

  it('explains an unknown code, an ended visit and a cancelled one', async () => {
    const { api } = fakeServer(
      route('GET', '/api/virtual-meetings/code/NOPE2345', () => outcome(404, 'not-found', 'No meeting has this code')),
      route('GET', '/api/virtual-meetings/code/DONE2345', () => outcome(410, 'deleted', 'This meeting has ended')),
      route('GET', '/api/virtual-meetings/code/GONE2345', () => outcome(410, 'deleted', 'This meeting has been cancelled')),
    );
    const { unmount } = render(
      <Providers api={api}>
        <JoinPage code="NOPE2345" />
      </Providers>,
    );
    expect(await screen.findByRole('heading', { name: 'This visit link does not work' })).toBeTruthy();
    unmount();
    const second = render(
      <Providers api={api}>
        <JoinPage code="DONE2345" />
      </Providers>,
    );
    expect(await screen.findByRole('heading', { name: 'This visit has ended' })).toBeTruthy();
    second.unmount();
    render(
      <Providers api={api}>
        <JoinPage code="GONE2345" />
      </Providers>,
    );
    expect(await screen.findByRole('heading', { name: 'This visit was cancelled' })).toBeTruthy();
  });

  it('says clearly when the camera is blocked, and can try again', async () => {
    mockMedia(async () => {
      throw Object.assign(new Error('denied'), { name: 'NotAllowedError' });
    });
    const { api } = fakeServer(route('GET', '/api/virtual-meetings/code/ABCD2345', () => ({ body: view })));
    render(
      <Providers api={api}>
        <JoinPage code="ABCD2345" />
      </Providers>,
    );
    expect(await screen.findByText('Camera and microphone are blocked')).toBeTruthy();
    mockMedia(async () => fakeStream());
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    await waitFor(() => expect(screen.queryByText('Camera and microphone are blocked')).toBeNull());
  });

  it('says when there is no camera or microphone at all', async () => {
    mockMedia(async () => {
      throw Object.assign(new Error('none'), { name: 'NotFoundError' });
    });
    const { api } = fakeServer(route('GET', '/api/virtual-meetings/code/ABCD2345', () => ({ body: view })));
    render(
      <Providers api={api}>
        <JoinPage code="ABCD2345" />
      </Providers>,
    );
    expect(await screen.findByText('No camera or microphone found')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Join without camera' })).toBeTruthy();
  });

  it('joins with the name and birth date, then waits in the waiting room', async () => {
    const { api, requests } = fakeServer(
      route('GET', '/api/virtual-meetings/code/ABCD2345', () => ({ body: view })),
      route('POST', '/api/virtual-meetings/join/ABCD2345', () => ({
        body: { meeting: view, role: 'patient', participantId: 'part-1', provider: 'p2p', credentials: { provider: 'p2p', token: 't', roomId: 'r', expiresAt: '2030-01-01T00:00:00Z', participantId: 'part-1', role: 'patient' } },
      })),
    );
    render(
      <Providers api={api}>
        <JoinPage code="ABCD2345" />
      </Providers>,
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Join visit' }));
    expect(await screen.findByText('Enter your name')).toBeTruthy();

    fireEvent.change(screen.getByLabelText(/Your name/), { target: { value: 'Sam Patient' } });
    fireEvent.change(screen.getByLabelText(/Patient's date of birth/), { target: { value: '1984-05-06' } });
    fireEvent.click(screen.getByRole('button', { name: 'Join visit' }));

    expect(await screen.findByText('Your clinician will let you in. Please keep this page open.')).toBeTruthy();
    const join = requests.find((r) => r.path === '/api/virtual-meetings/join/ABCD2345');
    expect(join?.body).toEqual({ displayName: 'Sam Patient', birthDate: '1984-05-06' });
    expect(join?.headers.Authorization).toBeUndefined();
    // Nothing about the person goes into the address.
    expect(window.location.pathname + window.location.search).not.toMatch(/Sam|1984/);

    // The clinician ends the visit: the end screen.
    (fakeCall.current!.store as SnapshotStore).set({ state: 'ended' });
    expect(await screen.findByRole('heading', { name: 'The visit has ended' })).toBeTruthy();
  });
});

