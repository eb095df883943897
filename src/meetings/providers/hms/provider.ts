import { badRequest, unprocessable } from '../../../fhir/outcomes.js';
import type {
  CreateRoomInput,
  CreatedRoom,
  EndRoomOptions,
  EndRoomResult,
  HmsJoinCredentials,
  JoinCredentialsInput,
  ParticipantRole,
  ProviderEvent,
  VideoProvider,
  WebhookRequest,
} from '../types.js';
import { HMS_DEFAULT_BASE_URL, HmsClient } from './client.js';
import { signAppToken } from './tokens.js';
import { HMS_DEFAULT_WEBHOOK_SECRET_HEADER, parseHmsWebhookBody, verifyHmsWebhook, type HmsWebhookVerification } from './webhooks.js';

export interface HmsProviderConfig {
  provider: '100ms';
  accessKey: string;
  appSecret: string;
  /** The 100ms template every room of this organisation is created with; it defines the roles. */
  templateId: string;
  /** Value of the secret header configured on the 100ms webhook. */
  webhookSecret: string;
  /** Name of that header; `x-webhook-secret` unless configured otherwise on 100ms. */
  webhookSecretHeader?: string;
  webhookSigningSecret?: string;
  /** `https://api.100ms.live/v2` unless set (tests point it at a local fake). */
  apiBaseUrl?: string;
  /** 100ms template role per product role; host → `host`, patient and guest → `guest` by default. */
  roleNames?: Partial<Record<ParticipantRole, string>>;
  timeoutMs?: number;
  maxRetries?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  managementTokenTtlSeconds?: number;
  /** For tests. */
  fetch?: typeof fetch;
  now?: () => number;
}

const DEFAULT_ROLE_NAMES: Record<ParticipantRole, string> = { host: 'host', patient: 'guest', guest: 'guest' };

export class HmsVideoProvider implements VideoProvider {
  readonly name = '100ms' as const;
  private readonly client: HmsClient;
  private readonly webhook: HmsWebhookVerification;
  private readonly roleNames: Record<ParticipantRole, string>;
  private readonly now: () => number;

  constructor(private readonly config: HmsProviderConfig) {
    for (const key of ['accessKey', 'appSecret', 'templateId', 'webhookSecret'] as const) {
      if (typeof config[key] !== 'string' || config[key].trim() === '') {
        throw unprocessable(`100ms configuration is missing ${key}`, key);
      }
    }
    this.now = config.now ?? Date.now;
    this.roleNames = { ...DEFAULT_ROLE_NAMES, ...config.roleNames };
    this.webhook = {
      secretHeader: config.webhookSecretHeader ?? HMS_DEFAULT_WEBHOOK_SECRET_HEADER,
      secret: config.webhookSecret,
      signingSecret: config.webhookSigningSecret || undefined,
    };
    this.client = new HmsClient({
      credentials: { accessKey: config.accessKey, appSecret: config.appSecret },
      baseUrl: (config.apiBaseUrl ?? HMS_DEFAULT_BASE_URL).replace(/\/+$/, ''),
      timeoutMs: config.timeoutMs ?? 10_000,
      maxRetries: config.maxRetries ?? 2,
      retryBaseDelayMs: config.retryBaseDelayMs ?? 250,
      retryMaxDelayMs: config.retryMaxDelayMs ?? 2_000,
      managementTokenTtlSeconds: config.managementTokenTtlSeconds ?? 3_600,
      fetch: config.fetch ?? globalThis.fetch,
      now: this.now,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    });
  }

  async createRoom(input: CreateRoomInput): Promise<CreatedRoom> {
    const room = await this.client.createRoom({
      name: input.name,
      description: input.description,
      template_id: this.config.templateId,
    });
    return { roomId: room.id, details: room };
  }

  endRoom(roomId: string, options: EndRoomOptions): Promise<EndRoomResult> {
    return this.client.endActiveRoom(roomId, { reason: options.reason, lock: options.lock });
  }

  async issueJoinCredentials(input: JoinCredentialsInput): Promise<HmsJoinCredentials> {
    const now = new Date(this.now());
    if (!(input.expiresAt.getTime() > now.getTime())) throw badRequest('Join credentials must expire in the future', 'expiresAt');
    const providerRole = this.roleNames[input.role];
    const token = await signAppToken(
      { accessKey: this.config.accessKey, appSecret: this.config.appSecret },
      { roomId: input.roomId, userId: input.userId, role: providerRole },
      now,
      input.expiresAt,
    );
    return {
      provider: '100ms',
      token,
      roomId: input.roomId,
      // JWT exp has whole seconds; report what the token really says.
      expiresAt: new Date(Math.floor(input.expiresAt.getTime() / 1000) * 1000).toISOString(),
      providerRole,
      userId: input.userId,
    };
  }

  async parseWebhook(request: WebhookRequest): Promise<ProviderEvent[]> {
    verifyHmsWebhook(request, this.webhook);
    return parseHmsWebhookBody(request.rawBody);
  }
}
