// @vitest-environment jsdom
import { MantineProvider } from '@mantine/core';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { CallView } from '../src/call/CallView.js';
import { SnapshotStore, initialSnapshot, type CallSession } from '../src/call/types.js';
import { theme } from '../src/theme.js';
import './support.js';

function fakeSession() {
  const store = new SnapshotStore({
    ...initialSnapshot({ micOn: true, cameraOn: true }),
    state: 'connected',
    local: { id: 'me', displayName: 'Dr Ada Lee', audioEnabled: true, videoEnabled: true },
    remotes: [{ id: 'p1', displayName: 'Sam Patient', audioEnabled: true, videoEnabled: true }],
  });
  const session: CallSession = {
    subscribe: store.subscribe,
    getSnapshot: store.get,
    start: vi.fn(async () => undefined),
    setMicrophone: vi.fn(async (on: boolean) => store.set({ micOn: on })),
    setCamera: vi.fn(async (on: boolean) => store.set({ cameraOn: on })),
    leave: vi.fn(async () => store.set({ state: 'left' })),
  };
  return { store, session };
}

function renderCall(props: Partial<Parameters<typeof CallView>[0]> & { session: CallSession }) {
  const onFinished = vi.fn();
  render(
    <MantineProvider theme={theme} env="test">
      <CallView isHost={false} title="Video visit" onFinished={onFinished} {...props} />
    </MantineProvider>,
  );
  return { onFinished };
}

describe('Call view', () => {
  it('shows the remote person and the local preview, and toggles microphone and camera', async () => {
    const { session } = fakeSession();
    renderCall({ session });
    expect(screen.getByLabelText('Video of Sam Patient')).toBeTruthy();
    expect(screen.getByLabelText('Your video')).toBeTruthy();

    const mute = screen.getByRole('button', { name: 'Mute' });
    expect(mute.getAttribute('aria-pressed')).toBe('false');
    fireEvent.click(mute);
    expect(session.setMicrophone).toHaveBeenCalledWith(false);
    expect((await screen.findByRole('button', { name: 'Unmute' })).getAttribute('aria-pressed')).toBe('true');

    fireEvent.click(screen.getByRole('button', { name: 'Camera off' }));
    expect(session.setCamera).toHaveBeenCalledWith(false);
    expect(await screen.findByRole('button', { name: 'Camera on' })).toBeTruthy();
    expect(screen.getByText('You · muted · camera off')).toBeTruthy();
  });

  it('tells the person when the connection drops and comes back', async () => {
    const { session, store } = fakeSession();
    renderCall({ session });
    store.set({ state: 'reconnecting' });
    expect(await screen.findByText(/Trying to reconnect/)).toBeTruthy();
    expect(screen.getByTestId('connection-state').textContent).toBe('Reconnecting…');
    store.set({ state: 'connected' });
    await waitFor(() => expect(screen.queryByText(/Trying to reconnect/)).toBeNull());
  });

  it('lets the host end the visit only after confirming', async () => {
    const { session } = fakeSession();
    const onEndVisit = vi.fn(async () => undefined);
    renderCall({ session, isHost: true, onEndVisit, waiting: [{ id: 'g1', displayName: 'Guest Carer' }] });
    expect(screen.getByTestId('host-waiting-list').textContent).toContain('Guest Carer');

    fireEvent.click(screen.getByRole('button', { name: 'End visit' }));
    const dialog = await screen.findByRole('dialog', { name: 'End the visit for everyone?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Keep talking' }));
    expect(onEndVisit).not.toHaveBeenCalled();

    fireEvent.click(screen.getByRole('button', { name: 'End visit' }));
    const again = await screen.findByRole('dialog', { name: 'End the visit for everyone?' });
    fireEvent.click(within(again).getByRole('button', { name: 'End visit' }));
    await waitFor(() => expect(onEndVisit).toHaveBeenCalledTimes(1));
  });

  it('does not offer End visit to a patient, and reports leaving', async () => {
    const { session } = fakeSession();
    const { onFinished } = renderCall({ session });
    expect(screen.queryByRole('button', { name: 'End visit' })).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Leave' }));
    await waitFor(() => expect(onFinished).toHaveBeenCalledWith('left', undefined));
  });
});
