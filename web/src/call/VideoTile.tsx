import { Text } from '@mantine/core';
import { useEffect, useRef } from 'react';
import type { CallPeer } from './types.js';

interface Props {
  peer: CallPeer;
  local?: boolean;
  className?: string;
}

function initials(name: string): string {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0]!.toUpperCase())
    .join('');
}

/**
 * One person's picture. The video element stays mounted while the camera is off so a remote person's sound
 * keeps playing; the local tile is always muted (no echo) and mirrored.
 */
export function VideoTile({ peer, local = false, className }: Props) {
  const ref = useRef<HTMLVideoElement>(null);

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (peer.stream) {
      if (el.srcObject !== peer.stream) el.srcObject = peer.stream;
      void el.play().catch(() => undefined);
      return;
    }
    if (peer.attachVideo) return peer.attachVideo(el);
    return undefined;
  }, [peer.stream, peer.attachVideo]);

  const label = local ? 'You' : peer.displayName;
  return (
    <figure
      className={`video-tile${local ? ' video-tile--local' : ''}${className ? ` ${className}` : ''}`}
      style={{ margin: 0 }}
      aria-label={local ? 'Your video' : `Video of ${peer.displayName}`}
      data-testid={local ? 'local-video' : 'remote-video'}
      data-peer-id={peer.id}
    >
      <video ref={ref} autoPlay playsInline muted={local} style={{ visibility: peer.videoEnabled ? 'visible' : 'hidden' }} />
      {!peer.videoEnabled && (
        <Text
          aria-hidden="true"
          fz={40}
          fw={700}
          c="gray.3"
          style={{ position: 'absolute', inset: 0, display: 'flex', alignItems: 'center', justifyContent: 'center' }}
        >
          {initials(peer.displayName) || '?'}
        </Text>
      )}
      <figcaption className="video-tile__name">
        {label}
        {!peer.audioEnabled && ' · muted'}
        {!peer.videoEnabled && ' · camera off'}
      </figcaption>
    </figure>
  );
}
