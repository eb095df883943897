import { Alert, Button, Group, Stack, Switch, Text } from '@mantine/core';
import { useCallback, useEffect, useRef, useState } from 'react';
import { mediaProblemText, openMedia, problemOf, type MediaProblem } from './media.js';

export interface PreviewChoice {
  /** Whether any device works; joining without one is allowed (to talk by chat or be seen by nobody). */
  ready: boolean;
  micOn: boolean;
  cameraOn: boolean;
}

interface Props {
  onChange(choice: PreviewChoice): void;
}

/** Shows the camera before joining, with the microphone and camera switches, and says clearly what is wrong. */
export function DevicePreview({ onChange }: Props) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const [stream, setStream] = useState<MediaStream>();
  const [problem, setProblem] = useState<MediaProblem>();
  const [starting, setStarting] = useState(true);
  const [micOn, setMicOn] = useState(true);
  const [cameraOn, setCameraOn] = useState(true);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;

  const start = useCallback(async () => {
    setStarting(true);
    setProblem(undefined);
    try {
      const s = await openMedia({ audio: true, video: true });
      setStream((old) => {
        old?.getTracks().forEach((t) => t.stop());
        return s;
      });
    } catch (err) {
      setProblem(problemOf(err));
    } finally {
      setStarting(false);
    }
  }, []);

  useEffect(() => {
    void start();
  }, [start]);

  // The call opens its own tracks (the permission is remembered), so the preview always releases its own.
  useEffect(() => () => stream?.getTracks().forEach((t) => t.stop()), [stream]);

  useEffect(() => {
    if (videoRef.current && stream) videoRef.current.srcObject = stream;
  });

  useEffect(() => {
    stream?.getAudioTracks().forEach((t) => (t.enabled = micOn));
    stream?.getVideoTracks().forEach((t) => (t.enabled = cameraOn));
    onChangeRef.current({
      ready: Boolean(stream),
      micOn: micOn && (stream?.getAudioTracks().length ?? 0) > 0,
      cameraOn: cameraOn && (stream?.getVideoTracks().length ?? 0) > 0,
    });
  }, [stream, micOn, cameraOn]);

  const hasVideo = (stream?.getVideoTracks().length ?? 0) > 0;
  const hasAudio = (stream?.getAudioTracks().length ?? 0) > 0;
  const text = problem ? mediaProblemText[problem] : undefined;

  return (
    <Stack gap="sm">
      <div className="video-tile video-tile--local" aria-label="Your camera preview" role="img">
        {hasVideo && cameraOn ? (
          <video ref={videoRef} autoPlay playsInline muted />
        ) : (
          <Text c="gray.3" ta="center" p="md">
            {starting ? 'Starting your camera…' : hasVideo ? 'Camera is off' : 'No camera picture'}
          </Text>
        )}
      </div>
      {text && (
        <Alert color="orange" title={text.title} role="alert">
          <Stack gap="xs">
            <Text size="sm">{text.body}</Text>
            <Group>
              <Button size="xs" variant="white" color="orange" onClick={() => void start()}>
                Try again
              </Button>
            </Group>
          </Stack>
        </Alert>
      )}
      {stream && !hasVideo && !text && (
        <Alert color="yellow" role="status">
          No camera was found: you will join with sound only.
        </Alert>
      )}
      <Group>
        <Switch label="Microphone" checked={micOn && hasAudio} disabled={!hasAudio} onChange={(e) => setMicOn(e.currentTarget.checked)} />
        <Switch label="Camera" checked={cameraOn && hasVideo} disabled={!hasVideo} onChange={(e) => setCameraOn(e.currentTarget.checked)} />
      </Group>
    </Stack>
  );
}
