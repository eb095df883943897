import { z } from 'zod';
import type { HmsEnvConfig } from '../config.js';
import type { Queryable } from '../db/database.js';
import { badRequest, OperationOutcomeError, outcome, unprocessable } from '../fhir/outcomes.js';
import { createVideoProvider, type VideoProviderConfig } from './providers/factory.js';
import type { HmsProviderConfig } from './providers/hms/provider.js';
import type { VideoProvider, VideoProviderName } from './providers/types.js';

/**
 * Which video provider each organization uses, with what credentials. An org's own settings win; a
 * single-org install may give 100ms credentials in the environment instead; without either, the built-in
 * p2p provider. Providers are built fresh for every use so no org's credentials can serve another's call.
 */

/** Seals secrets at rest (the server's AES-GCM key); open throws when the text was not sealed with it. */
export interface SecretSealer {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

export interface VideoDirectoryOptions {
  db: Queryable;
  sealer?: SecretSealer;
  p2p: { signingKey: string | Uint8Array; signalingUrl?: string; onRoomEnded?: (e: { roomId: string; reason: string; lock: boolean }) => void | Promise<void> };
  hmsEnv?: HmsEnvConfig;
  /** Added to every 100ms provider built (tests shorten timeouts and retries). */
  hmsOverrides?: Partial<HmsProviderConfig>;
}

export const videoIntegrationInput = z.discriminatedUnion('provider', [
  z.object({
    provider: z.literal('100ms'),
    accessKey: z.string().trim().min(1),
    appSecret: z.string().min(1),
    templateId: z.string().trim().min(1),
    webhookSecret: z.string().min(16),
    apiBaseUrl: z.string().url().optional(),
  }),
  z.object({ provider: z.literal('p2p') }),
]);
export type VideoIntegrationInput = z.infer<typeof videoIntegrationInput>;

/** What the API shows: never a secret, only whether one is set. */
export interface VideoIntegrationView {
  provider: VideoProviderName;
  source: 'organization' | 'environment' | 'default';
  accessKey?: string;
  templateId?: string;
  apiBaseUrl?: string;
  secretsConfigured: boolean;
  updatedAt?: string;
}

interface IntegrationRow {
  provider: VideoProviderName;
  settings: { accessKey?: string; templateId?: string; apiBaseUrl?: string };
  sealed_secrets: string | null;
  updated_at: Date | string;
}

/**
 * How long an org's video settings are reused before they are read again. Every join and end of a meeting
 * needs its provider; a change made on this server applies at once, one made on another server within this.
 */
const SETTINGS_TTL_MS = 5_000;

export class VideoProviderDirectory {
  private readonly providers = new Map<string, { expires: number; provider: VideoProvider }>();
  private p2p: VideoProvider | undefined;

  constructor(private readonly options: VideoDirectoryOptions) {}

  /** The provider new meetings of this org are created with. */
  async providerForOrg(orgId: string, q: Queryable = this.options.db): Promise<VideoProvider> {
    // Inside a transaction the settings are read in it, as they stand there.
    if (q !== this.options.db) return this.build(await this.configForOrg(orgId, q));
    const cached = this.providers.get(orgId);
    if (cached && cached.expires > Date.now()) return cached.provider;
    const provider = this.build(await this.configForOrg(orgId, q));
    this.providers.set(orgId, { expires: Date.now() + SETTINGS_TTL_MS, provider });
    return provider;
  }

  /**
   * The provider an existing meeting was created with, even when the org has switched since: its room lives
   * there, and ending it or letting people back in must go to the same place.
   */
  async providerFor(orgId: string, name: VideoProviderName, q: Queryable = this.options.db): Promise<VideoProvider> {
    const current = await this.providerForOrg(orgId, q);
    if (current.name === name) return current;
    if (name === 'p2p') return this.build(this.p2pConfig());
    if (this.options.hmsEnv) return createVideoProvider(this.hmsEnvConfig(this.options.hmsEnv));
    throw unprocessable(`This organization no longer has ${name} configured`);
  }

  /** For webhooks of rooms we do not know: only the environment's credentials can vouch for them. */
  environmentProvider(name: VideoProviderName): VideoProvider | undefined {
    if (name === '100ms' && this.options.hmsEnv) return createVideoProvider(this.hmsEnvConfig(this.options.hmsEnv));
    return undefined;
  }

  async configForOrg(orgId: string, q: Queryable = this.options.db): Promise<VideoProviderConfig> {
    const row = await readRow(q, orgId);
    if (row?.provider === '100ms') {
      const secrets = this.openSecrets(row.sealed_secrets);
      return {
        ...this.options.hmsOverrides,
        provider: '100ms',
        accessKey: row.settings.accessKey ?? '',
        templateId: row.settings.templateId ?? '',
        apiBaseUrl: row.settings.apiBaseUrl ?? this.options.hmsOverrides?.apiBaseUrl,
        appSecret: secrets.appSecret,
        webhookSecret: secrets.webhookSecret,
      };
    }
    if (row?.provider === 'p2p') return this.p2pConfig();
    if (this.options.hmsEnv) return this.hmsEnvConfig(this.options.hmsEnv);
    return this.p2pConfig();
  }

  async view(orgId: string, q: Queryable = this.options.db): Promise<VideoIntegrationView> {
    const row = await readRow(q, orgId);
    if (row) {
      const view: VideoIntegrationView = {
        provider: row.provider,
        source: 'organization',
        secretsConfigured: row.sealed_secrets !== null,
        updatedAt: new Date(row.updated_at).toISOString(),
      };
      if (row.settings.accessKey) view.accessKey = row.settings.accessKey;
      if (row.settings.templateId) view.templateId = row.settings.templateId;
      if (row.settings.apiBaseUrl) view.apiBaseUrl = row.settings.apiBaseUrl;
      return view;
    }
    if (this.options.hmsEnv) {
      return { provider: '100ms', source: 'environment', accessKey: this.options.hmsEnv.accessKey, templateId: this.options.hmsEnv.templateId, secretsConfigured: true };
    }
    return { provider: 'p2p', source: 'default', secretsConfigured: false };
  }

  /** Stores the org's settings after checking that a provider can be built from them. */
  async save(orgId: string, input: VideoIntegrationInput, updatedBy: string, now: Date): Promise<VideoIntegrationView> {
    let settings: IntegrationRow['settings'] = {};
    let sealed: string | null = null;
    if (input.provider === '100ms') {
      if (!this.options.sealer) {
        throw new OperationOutcomeError(503, outcome('error', 'transient', 'Secret storage is not configured on this server'));
      }
      createVideoProvider(input);
      settings = { accessKey: input.accessKey, templateId: input.templateId };
      if (input.apiBaseUrl) settings.apiBaseUrl = input.apiBaseUrl;
      sealed = this.options.sealer.seal(JSON.stringify({ appSecret: input.appSecret, webhookSecret: input.webhookSecret }));
    }
    await this.options.db.query(
      `INSERT INTO video_integrations (org_id, provider, settings, sealed_secrets, updated_by, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (org_id) DO UPDATE SET provider = EXCLUDED.provider, settings = EXCLUDED.settings,
         sealed_secrets = EXCLUDED.sealed_secrets, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at`,
      [orgId, input.provider, JSON.stringify(settings), sealed, updatedBy, now],
    );
    this.providers.delete(orgId);
    return this.view(orgId);
  }

  /** The built-in provider has no per-org settings, so one instance serves every org. */
  private build(config: VideoProviderConfig): VideoProvider {
    if (config.provider !== 'p2p') return createVideoProvider(config);
    this.p2p ??= createVideoProvider(config);
    return this.p2p;
  }

  private openSecrets(sealed: string | null): { appSecret: string; webhookSecret: string } {
    if (!sealed || !this.options.sealer) throw unprocessable('The 100ms secrets of this organization cannot be read on this server');
    try {
      const parsed = JSON.parse(this.options.sealer.open(sealed)) as { appSecret?: string; webhookSecret?: string };
      return { appSecret: parsed.appSecret ?? '', webhookSecret: parsed.webhookSecret ?? '' };
    } catch {
      throw unprocessable('The 100ms secrets of this organization were sealed with another key');
    }
  }

  private p2pConfig(): VideoProviderConfig {
    const { signingKey, signalingUrl, onRoomEnded } = this.options.p2p;
    return { provider: 'p2p', signingKey, signalingUrl, onRoomEnded };
  }

  private hmsEnvConfig(env: HmsEnvConfig): VideoProviderConfig {
    return { ...this.options.hmsOverrides, provider: '100ms', ...env, apiBaseUrl: env.apiBaseUrl ?? this.options.hmsOverrides?.apiBaseUrl };
  }
}

async function readRow(q: Queryable, orgId: string): Promise<IntegrationRow | undefined> {
  const r = await q.query<IntegrationRow>('SELECT provider, settings, sealed_secrets, updated_at FROM video_integrations WHERE org_id = $1', [
    orgId,
  ]);
  return r.rows[0];
}

export function parseVideoIntegrationInput(body: unknown): VideoIntegrationInput {
  const parsed = videoIntegrationInput.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badRequest(`Invalid video integration: ${issue?.path.join('.') || 'body'}: ${issue?.message}`, issue?.path.join('.'));
  }
  return parsed.data;
}
