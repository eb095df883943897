import { Button, Modal, Text, type ButtonProps } from '@mantine/core';
import { useState } from 'react';
import { useRouter } from '../../router.js';
import { useApi } from '../../session.js';

type Props = ButtonProps &
  (
    | { variant: 'instant'; patientId?: string; onError?(error: Error): void }
    | { variant: 'appointment'; appointmentId: string; onError?(error: Error): void }
  );

/**
 * Starts a video visit and takes the practitioner into it. `appointment`: the appointment's meeting
 * (created now if it does not exist yet; the API returns the existing one otherwise). `instant`: a new meeting
 * outside any appointment.
 */
export function InstantMeetingButton(props: Props) {
  const api = useApi();
  const { navigate } = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const { onError, ...rest } = props;
  const buttonProps: ButtonProps = { ...rest };
  delete (buttonProps as Record<string, unknown>).variant;
  delete (buttonProps as Record<string, unknown>).appointmentId;
  delete (buttonProps as Record<string, unknown>).patientId;

  async function start() {
    setBusy(true);
    setError(undefined);
    try {
      const meeting =
        props.variant === 'appointment'
          ? await api.meetings.createForAppointment(props.appointmentId)
          : await api.meetings.createInstant(props.patientId ? { patientId: props.patientId } : {});
      navigate(`/app/visit/${meeting.id}`);
    } catch (err) {
      setError((err as Error).message);
      onError?.(err as Error);
      setBusy(false);
    }
  }

  return (
    <>
      <Button
        {...buttonProps}
        variant={props.variant === 'appointment' ? 'filled' : 'light'}
        loading={busy}
        onClick={() => void start()}
      >
        {props.variant === 'appointment' ? 'Start video visit' : 'Instant meeting'}
      </Button>
      <Modal opened={Boolean(error) && !onError} onClose={() => setError(undefined)} title="Could not start the meeting">
        <Text role="alert">{error}</Text>
      </Modal>
    </>
  );
}
