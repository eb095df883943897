import { IANAZone } from 'luxon';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * All configuration is read from the environment once, at start, validated here and passed down as a typed
 * object. Nothing else in the code reads process.env.
 */
const iceUrl = z.string().regex(/^(stun|stuns|turn|turns):/, 'must start with stun:, stuns:, turn: or turns:');
const iceServerSchema = z
  .object({ urls: z.union([iceUrl, z.array(iceUrl).min(1)]), username: z.string().optional(), credential: z.string().optional() })
  // A TURN relay without credentials would be open to anyone; browsers refuse such an entry anyway.
  .refine((s) => ![s.urls].flat().some((u) => u.startsWith('turn')) || (s.username !== undefined && s.credential !== undefined), {
    message: 'TURN servers need username and credential',
  });

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  /** postgres://… ; when absent the server runs on an embedded PostgreSQL (PGlite) under DATA_DIR. */
  DATABASE_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('./data'),
  /** The address people use to reach this server; join links are built from it. */
  PUBLIC_BASE_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest request body accepted, in bytes (FHIR Bundles can be large). */
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(16 * 1024 * 1024),
  /** On the first start, give the demo practitioner a few video visits (with join links) to try the product. */
  /** IANA time zone of the demo clinic and of organizations created without one (the server's zone by default). */
  DEFAULT_TIME_ZONE: z
    .string()
    .refine((zone) => IANAZone.isValidZone(zone), 'must be an IANA time zone such as Europe/Berlin')
    .optional(),
  DEMO_DATA: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** A meeting nobody has been in for this long (after the provider reports the session closed) is ended. */
  MEETING_IDLE_END_SECONDS: z.coerce.number().int().min(0).default(600),
  /** A meeting still open this long after its scheduled end is ended. */
  MEETING_OVERRUN_END_SECONDS: z.coerce.number().int().min(0).default(3600),
  /** How often the meeting scheduler looks for idle or overrun meetings and due provider retries. */
  MEETING_SCHEDULER_INTERVAL_SECONDS: z.coerce.number().positive().default(30),
  /** Signs join tokens of the built-in peer-to-peer provider; random per process when unset (single server). */
  P2P_SIGNING_KEY: z.string().min(32).optional(),
  P2P_SIGNALING_URL: z.string().url().optional(),
  /**
   * redis://… (or rediss://); when set, server instances relay video-call signaling to each other through Redis
   * pub/sub instead of PostgreSQL LISTEN/NOTIFY. Every instance of one installation must use the same Redis.
   */
  REDIS_URL: z
    .string()
    .url()
    .refine((u) => /^rediss?:\/\//.test(u), 'must start with redis:// or rediss://')
    .optional(),
  /** STUN/TURN servers handed to browsers of the peer-to-peer provider: a JSON array of RTCIceServer. */
  ICE_SERVERS: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return [];
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array of RTCIceServer' });
        return z.NEVER;
      }
      const servers = z.array(iceServerSchema).safeParse(json);
      if (!servers.success) {
        for (const issue of servers.error.issues) ctx.addIssue({ code: 'custom', message: `${issue.path.join('.')}: ${issue.message}` });
        return z.NEVER;
      }
      return servers.data;
    }),
  /** 100ms for a single-organization install; organizations can also configure their own. */
  HMS_ACCESS_KEY: z.string().min(1).optional(),
  HMS_APP_SECRET: z.string().min(1).optional(),
  HMS_TEMPLATE_ID: z.string().min(1).optional(),
  HMS_WEBHOOK_SECRET: z.string().min(1).optional(),
  HMS_API_BASE_URL: z.string().url().optional(),
  /** 32 bytes (64 hex digits or base64) for secrets at rest; embedded installs generate one under DATA_DIR. */
  ENCRYPTION_KEY: z.string().min(32).optional(),
  /** Comma-separated origins allowed to call the API from a browser; empty = same origin only. */
  CORS_ORIGINS: z.string().default(''),
  /** Login attempts per client address per minute. */
  LOGIN_RATE_LIMIT: z.coerce.number().int().positive().default(10),
  /** OAuth token requests per client address per minute (backend services ask every few minutes). */
  TOKEN_RATE_LIMIT: z.coerce.number().int().positive().default(60),
  /** Credentials of the first start; random ones are generated and printed once when unset. */
  BOOTSTRAP_ADMIN_EMAIL: z.string().email().optional(),
  BOOTSTRAP_ADMIN_PASSWORD: z.string().min(8).optional(),
  BOOTSTRAP_PRACTITIONER_EMAIL: z.string().email().optional(),
  BOOTSTRAP_PRACTITIONER_PASSWORD: z.string().min(8).optional(),
  BOOTSTRAP_PATIENT_EMAIL: z.string().email().optional(),
  BOOTSTRAP_PATIENT_PASSWORD: z.string().min(8).optional(),
  BOOTSTRAP_CLIENT_ID: z.string().min(1).optional(),
  BOOTSTRAP_CLIENT_SECRET: z.string().min(16).optional(),
  /** Bulk export ($export) files are split when they reach this many bytes. */
  EXPORT_FILE_MAX_BYTES: z.coerce.number().int().min(1024).default(256 * 1024 * 1024),
  /** Finished export files are deleted this long after the export completed. */
  EXPORT_RETENTION_SECONDS: z.coerce.number().int().positive().default(24 * 3600),
  /** Exports a client may have queued or running at once; one more is answered 429. */
  EXPORT_MAX_CONCURRENT_PER_CLIENT: z.coerce.number().int().positive().default(3),
  /** Run export jobs in this server; 'false' on API-only instances when dedicated instances run them. */
  EXPORT_WORKER: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /** Export jobs one server runs at once. */
  EXPORT_WORKER_CONCURRENCY: z.coerce.number().int().positive().default(1),
  /** Rows read per keyset page. */
  EXPORT_PAGE_SIZE: z.coerce.number().int().positive().default(1000),
  /** Pause between pages, to leave the database to the clinic's daily work during large exports. */
  EXPORT_PAGE_PAUSE_MS: z.coerce.number().int().min(0).default(0),
  /** A job whose server stops renewing its lease for this long is taken over by another server. */
  EXPORT_LEASE_SECONDS: z.coerce.number().int().min(2).default(60),
});

/** Credentials for the first start (see src/auth/bootstrap.ts). */
export interface BootstrapConfig {
  adminEmail?: string;
  adminPassword?: string;
  practitionerEmail?: string;
  practitionerPassword?: string;
  patientEmail?: string;
  patientPassword?: string;
  clientId?: string;
  clientSecret?: string;
}

export interface AuthConfig {
  encryptionKey?: string;
  corsOrigins: string[];
  loginRateLimit: number;
  tokenRateLimit: number;
  bootstrap: BootstrapConfig;
}

/** 100ms credentials from the environment (all four must be set to use them). */
export interface HmsEnvConfig {
  accessKey: string;
  appSecret: string;
  templateId: string;
  webhookSecret: string;
  apiBaseUrl?: string;
}

/** An RTCIceServer as browsers take it. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface MeetingsConfig {
  idleEndSeconds: number;
  overrunEndSeconds: number;
  schedulerIntervalSeconds: number;
  p2pSigningKey?: string;
  p2pSignalingUrl?: string;
  /** Relays signaling between server instances through Redis when set; PostgreSQL LISTEN/NOTIFY otherwise. */
  redisUrl?: string;
  /** Empty when unset: on one machine or one LAN, host candidates are enough. */
  iceServers: IceServer[];
  hms?: HmsEnvConfig;
}

export interface ExportConfig {
  /** where the local-disk storage keeps export files: DATA_DIR/exports (shared by all instances) */
  dir: string;
  fileMaxBytes: number;
  retentionSeconds: number;
  maxConcurrentPerClient: number;
  worker: boolean;
  workerConcurrency: number;
  pageSize: number;
  pagePauseMs: number;
  leaseSeconds: number;
}

export interface Config {
  port: number;
  host: string;
  databaseUrl?: string;
  dataDir: string;
  publicBaseUrl: string;
  logLevel: string;
  maxBodyBytes: number;
  demoData: boolean;
  defaultTimeZone: string;
  meetings: MeetingsConfig;
  auth: AuthConfig;
  bulkExport: ExportConfig;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    logLevel: e.LOG_LEVEL,
    maxBodyBytes: e.MAX_BODY_BYTES,
    demoData: e.DEMO_DATA,
    defaultTimeZone: e.DEFAULT_TIME_ZONE ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC',
    meetings: {
      idleEndSeconds: e.MEETING_IDLE_END_SECONDS,
      overrunEndSeconds: e.MEETING_OVERRUN_END_SECONDS,
      schedulerIntervalSeconds: e.MEETING_SCHEDULER_INTERVAL_SECONDS,
      p2pSigningKey: e.P2P_SIGNING_KEY,
      p2pSignalingUrl: e.P2P_SIGNALING_URL,
      redisUrl: e.REDIS_URL,
      iceServers: e.ICE_SERVERS,
      hms:
        e.HMS_ACCESS_KEY && e.HMS_APP_SECRET && e.HMS_TEMPLATE_ID && e.HMS_WEBHOOK_SECRET
          ? {
              accessKey: e.HMS_ACCESS_KEY,
              appSecret: e.HMS_APP_SECRET,
              templateId: e.HMS_TEMPLATE_ID,
              webhookSecret: e.HMS_WEBHOOK_SECRET,
              apiBaseUrl: e.HMS_API_BASE_URL,
            }
          : undefined,
    },
    auth: {
      encryptionKey: e.ENCRYPTION_KEY,
      corsOrigins: e.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
      loginRateLimit: e.LOGIN_RATE_LIMIT,
      tokenRateLimit: e.TOKEN_RATE_LIMIT,
      bootstrap: {
        adminEmail: e.BOOTSTRAP_ADMIN_EMAIL,
        adminPassword: e.BOOTSTRAP_ADMIN_PASSWORD,
        practitionerEmail: e.BOOTSTRAP_PRACTITIONER_EMAIL,
        practitionerPassword: e.BOOTSTRAP_PRACTITIONER_PASSWORD,
        patientEmail: e.BOOTSTRAP_PATIENT_EMAIL,
        patientPassword: e.BOOTSTRAP_PATIENT_PASSWORD,
        clientId: e.BOOTSTRAP_CLIENT_ID,
        clientSecret: e.BOOTSTRAP_CLIENT_SECRET,
      },
    },
    bulkExport: {
      dir: join(e.DATA_DIR, 'exports'),
      fileMaxBytes: e.EXPORT_FILE_MAX_BYTES,
      retentionSeconds: e.EXPORT_RETENTION_SECONDS,
      maxConcurrentPerClient: e.EXPORT_MAX_CONCURRENT_PER_CLIENT,
      worker: e.EXPORT_WORKER,
      workerConcurrency: e.EXPORT_WORKER_CONCURRENCY,
      pageSize: e.EXPORT_PAGE_SIZE,
      pagePauseMs: e.EXPORT_PAGE_PAUSE_MS,
      leaseSeconds: e.EXPORT_LEASE_SECONDS,
    },
  };
}
