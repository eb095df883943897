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
  /** Load the demo data (organization, users, Synthea patients) into an empty database at start. */
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
});

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
  /** Empty when unset: on one machine or one LAN, host candidates are enough. */
  iceServers: IceServer[];
  hms?: HmsEnvConfig;
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
  meetings: MeetingsConfig;
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
    meetings: {
      idleEndSeconds: e.MEETING_IDLE_END_SECONDS,
      overrunEndSeconds: e.MEETING_OVERRUN_END_SECONDS,
      schedulerIntervalSeconds: e.MEETING_SCHEDULER_INTERVAL_SECONDS,
      p2pSigningKey: e.P2P_SIGNING_KEY,
      p2pSignalingUrl: e.P2P_SIGNALING_URL,
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
  };
}
