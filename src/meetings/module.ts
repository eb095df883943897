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
  /** The p2p join-token key: the signaling server must verify with the same one. */
  p2pSigningKey: Uint8Array | string;
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
  /** The p2p signaling server closes a room's sockets when told the meeting ended. */
  p2pOnRoomEnded?: (event: { roomId: string; reason: string; lock: boolean }) => void | Promise<void>;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  service?: Partial<Pick<MeetingServiceOptions, 'outboxBaseDelayMs' | 'outboxMaxDelayMs' | 'outboxMaxAttempts' | 'log'>>;
}

export function createMeetingsModule(opts: MeetingsModuleOptions): MeetingsModule {
  const m = opts.config.meetings;
  // Without a configured key, tokens are valid on this process only: fine for the single embedded server.
  const p2pSigningKey = m.p2pSigningKey ?? randomBytes(32);
  const providers = new VideoProviderDirectory({
    db: opts.db,
    sealer: opts.sealer ?? encryptionKeySealer(opts.config.auth.encryptionKey, opts.config.dataDir),
    p2p: { signingKey: p2pSigningKey, signalingUrl: m.p2pSignalingUrl, onRoomEnded: opts.p2pOnRoomEnded },
    hmsEnv: m.hms,
    hmsOverrides: opts.hmsOverrides,
  });
  const service = new MeetingService({
    db: opts.db,
    store: opts.store,
    providers,
    publicBaseUrl: opts.config.publicBaseUrl,
    now: opts.now,
    organizationName: cachedOrganizationName(opts.db),
    log: opts.log,
    ...opts.service,
  });
  const webhooks = new WebhookHandler({ db: opts.db, providers, meetings: service, idleEndSeconds: m.idleEndSeconds, now: opts.now });
  const scheduler = new MeetingScheduler({
    meetings: service,
    intervalSeconds: m.schedulerIntervalSeconds,
    idleEndSeconds: m.idleEndSeconds,
    overrunEndSeconds: m.overrunEndSeconds,
    now: opts.now,
    log: opts.log,
  });
  return { service, webhooks, providers, scheduler, joinLimiter: new AttemptLimiter(opts.joinLimits), p2pSigningKey };
}

/** Join pages ask for the org's name on every join; names change rarely, so a minute's staleness is fine. */
function cachedOrganizationName(db: Database, ttlMs = 60_000): (orgId: string) => Promise<string | undefined> {
  const cache = new Map<string, { name: string | undefined; until: number }>();
  return async (orgId) => {
    const hit = cache.get(orgId);
    if (hit && hit.until > Date.now()) return hit.name;
    const name = (await accounts.getOrganization(db, orgId))?.name;
    if (cache.size > 10_000) cache.clear();
    cache.set(orgId, { name, until: Date.now() + ttlMs });
    return name;
  };
}
