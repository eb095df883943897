import { randomBytes } from 'node:crypto';
import { accounts } from '../auth/accounts.js';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { FhirStore } from '../fhir/store.js';
import { VideoProviderDirectory, type SecretSealer, type VideoDirectoryOptions } from './integrations.js';
import { AttemptLimiter, type AttemptLimits } from './rate-limit.js';
import { MeetingScheduler } from './scheduler.js';
import { encryptionKeySealer } from './secrets.js';
import { MeetingService, type MeetingServiceOptions } from './service.js';
import { WebhookHandler } from './webhooks.js';

/** The meetings feature, wired once at start and handed to the HTTP layer and to main (for the scheduler). */
export interface MeetingsModule {
  service: MeetingService;
  webhooks: WebhookHandler;
  providers: VideoProviderDirectory;
  scheduler: MeetingScheduler;
  joinLimiter: AttemptLimiter;
}

export interface MeetingsModuleOptions {
  config: Config;
  db: Database;
  store: FhirStore;
  /** How org video secrets are sealed at rest; the server's encryption key by default. */
  sealer?: SecretSealer;
  now?: () => Date;
  /** Tests: faster 100ms retries, another base URL. */
  hmsOverrides?: VideoDirectoryOptions['hmsOverrides'];
  joinLimits?: AttemptLimits;
  service?: Partial<Pick<MeetingServiceOptions, 'outboxBaseDelayMs' | 'outboxMaxDelayMs' | 'outboxMaxAttempts' | 'log'>>;
}

export function createMeetingsModule(opts: MeetingsModuleOptions): MeetingsModule {
  const m = opts.config.meetings;
  const providers = new VideoProviderDirectory({
    db: opts.db,
    sealer: opts.sealer ?? encryptionKeySealer(opts.config.auth.encryptionKey, opts.config.dataDir),
    // Without a configured key, tokens are valid on this process only: fine for the single embedded server.
    p2p: { signingKey: m.p2pSigningKey ?? randomBytes(32), signalingUrl: m.p2pSignalingUrl },
    hmsEnv: m.hms,
    hmsOverrides: opts.hmsOverrides,
  });
  const service = new MeetingService({
    db: opts.db,
    store: opts.store,
    providers,
    publicBaseUrl: opts.config.publicBaseUrl,
    now: opts.now,
    organizationName: async (orgId) => (await accounts.getOrganization(opts.db, orgId))?.name,
    ...opts.service,
  });
  const webhooks = new WebhookHandler({ db: opts.db, providers, meetings: service, idleEndSeconds: m.idleEndSeconds, now: opts.now });
  const scheduler = new MeetingScheduler({
    meetings: service,
    intervalSeconds: m.schedulerIntervalSeconds,
    idleEndSeconds: m.idleEndSeconds,
    overrunEndSeconds: m.overrunEndSeconds,
    now: opts.now,
  });
  return { service, webhooks, providers, scheduler, joinLimiter: new AttemptLimiter(opts.joinLimits) };
}
