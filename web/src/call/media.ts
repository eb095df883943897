/** Turning getUserMedia failures into sentences a patient can act on. */

export type MediaProblem = 'denied' | 'no-device' | 'in-use' | 'insecure' | 'unsupported' | 'other';

export function mediaProblem(error: unknown): MediaProblem {
  const name = (error as { name?: string })?.name;
  if (name === 'NotAllowedError' || name === 'PermissionDeniedError' || name === 'SecurityError') return 'denied';
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') return 'no-device';
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError') return 'in-use';
  return 'other';
}

export const mediaProblemText: Record<MediaProblem, { title: string; body: string }> = {
  denied: {
    title: 'Camera and microphone are blocked',
    body: "Your browser is not letting this page use your camera or microphone. Open the site settings (the icon next to the address), allow camera and microphone, then press 'Try again'.",
  },
  'no-device': {
    title: 'No camera or microphone found',
    body: 'Connect a camera or headset, or use a phone or laptop that has one, then press Try again. You can also join with sound only if a microphone works.',
  },
  'in-use': {
    title: 'Your camera is busy',
    body: 'Another app or tab is using your camera or microphone. Close it, then press Try again.',
  },
  insecure: {
    title: 'This page needs a secure connection',
    body: 'Video only works on an https:// address. Open the link exactly as you received it.',
  },
  unsupported: {
    title: 'This browser cannot make video calls',
    body: 'Open the link in a current version of Chrome, Edge, Firefox or Safari.',
  },
  other: {
    title: 'The camera could not be started',
    body: 'Something went wrong while starting your camera or microphone. Press Try again, or reload the page.',
  },
};

/** Camera and microphone together; when one is missing, whatever is available (a laptop without a camera can still talk). */
export async function openMedia(want: { audio: boolean; video: boolean }): Promise<MediaStream> {
  if (!window.isSecureContext) throw Object.assign(new Error('insecure'), { name: 'InsecureContext' });
  if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error('unsupported'), { name: 'Unsupported' });
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: want.audio ? { echoCancellation: true, noiseSuppression: true } : false,
      video: want.video ? { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' } : false,
    });
  } catch (err) {
    if (mediaProblem(err) === 'no-device' && want.audio && want.video) {
      // Try each alone before giving up.
      for (const only of [{ audio: true, video: false }, { audio: false, video: true }]) {
        try {
          return await navigator.mediaDevices.getUserMedia(only);
        } catch {
          // next
        }
      }
    }
    throw err;
  }
}

export function problemOf(error: unknown): MediaProblem {
  const name = (error as { name?: string })?.name;
  if (name === 'InsecureContext') return 'insecure';
  if (name === 'Unsupported') return 'unsupported';
  return mediaProblem(error);
}
