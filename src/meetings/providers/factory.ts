import { unprocessable } from '../../fhir/outcomes.js';
import { HmsVideoProvider, type HmsProviderConfig } from './hms/provider.js';
import { P2pVideoProvider, type P2pProviderConfig } from './p2p/provider.js';
import type { VideoProvider } from './types.js';

export type { HmsProviderConfig } from './hms/provider.js';
export type { P2pProviderConfig } from './p2p/provider.js';

/** One organisation's video settings; `provider` picks the adapter. */
export type VideoProviderConfig = HmsProviderConfig | P2pProviderConfig;

/**
 * Builds a fresh provider for one organisation's configuration. Nothing is cached across calls: each object
 * holds its own credentials and its own management token, so one organisation's 100ms workspace can never
 * serve another's request.
 */
export function createVideoProvider(config: VideoProviderConfig): VideoProvider {
  switch (config.provider) {
    case '100ms':
      return new HmsVideoProvider(config);
    case 'p2p':
      return new P2pVideoProvider(config);
    default: {
      const unknown: never = config;
      throw unprocessable(`Unknown video provider ${String((unknown as { provider?: unknown }).provider)}`, 'provider');
    }
  }
}
