import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import type { ExportOwner } from './access.js';
import type { ExportLevel } from './request.js';

/*
 * The SQL of the export tables (migration 005), and only here. Every change a worker makes to a job it runs is
 * fenced by its lease (owner and attempt, status 'running'): a worker that lost the job — cancelled, or taken
 * over after its lease ran out — changes nothing and learns so from the row count.
 */

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/** What the worker runs: the kick-off parameters with the types and patients resolved at kick-off. */
export interface ExportJobRequest {
  level: ExportLevel;
  groupId?: string;
  types: string[];
  since?: string;
  typeFilters: Record<string, string[]>;
  /** Patient and Group level: the patients whose compartments are exported; undefined = every patient */
  patientIds?: string[];
}

export interface ExportJob {
  id: string;
  orgId: string;
  clientKind: 'user' | 'client';
  clientId: string;
  status: JobStatus;
  requestUrl: string;
  request: ExportJobRequest;
  transactionTime: string;
  createdAt: string;
  finishedAt?: string;
  expiresAt?: string;
  attempt: number;
  exported: number;
  error?: string;
}

export interface JobTypeState {
  seq: number;
  resourceType: string;
  done: boolean;
  /** keyset position: the last id written (as of the last checkpoint) */
  afterId: string | null;
  exported: number;
  partSeq: number;
  /** storage key of the file being written, null when none is open */
  partKey: string | null;
  partCount: number;
  partBytes: number;
}

export interface ExportFile {
  name: string;
  storageKey: string;
  resourceType: string;
  kind: 'output' | 'error';
  count: number;
  bytes: number;
}

/** The right to change a running job: held by one worker until it expires. */
export interface Lease {
  jobId: string;
  owner: string;
  attempt: number;
}

interface JobRow {
  id: string;
  org_id: string;
  client_kind: 'user' | 'client';
  client_id: string;
  status: JobStatus;
  request_url: string;
  request: ExportJobRequest | string;
  transaction_time: Date | string;
  created_at: Date | string;
  finished_at: Date | string | null;
  expires_at: Date | string | null;
  attempt: number;
  exported: number | string;
  error: string | null;
}

const iso = (d: Date | string) => new Date(d).toISOString();

function toJob(r: JobRow): ExportJob {
  return {
    id: r.id,
    orgId: r.org_id,
    clientKind: r.client_kind,
    clientId: r.client_id,
    status: r.status,
    requestUrl: r.request_url,
    request: typeof r.request === 'string' ? (JSON.parse(r.request) as ExportJobRequest) : r.request,
    transactionTime: iso(r.transaction_time),
    createdAt: iso(r.created_at),
    finishedAt: r.finished_at ? iso(r.finished_at) : undefined,
    expiresAt: r.expires_at ? iso(r.expires_at) : undefined,
    attempt: Number(r.attempt),
    exported: Number(r.exported),
    error: r.error ?? undefined,
  };
}

const JOB_COLUMNS = `id, org_id, client_kind, client_id, status, request_url, request, transaction_time, created_at, finished_at,
  expires_at, attempt, exported, error`;
const ACTIVE = `status IN ('queued', 'running')`;
// Any constant will do; it keeps the advisory locks of exports apart from other features' locks.
const KICKOFF_LOCK_CLASS = 7_306_305;

/**
 * Creates a queued job, unless its owner already has maxActive jobs queued or running (then undefined). The
 * count and the insert happen under a lock per owner, so two kick-offs at once cannot both pass the limit.
 */
export async function createJob(
  db: Database,
  args: { owner: ExportOwner; requestUrl: string; request: ExportJobRequest; transactionTime: string; maxActive: number },
): Promise<ExportJob | undefined> {
  return db.transaction(async (tx) => {
    const { owner } = args;
    await tx.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [KICKOFF_LOCK_CLASS, `${owner.orgId} ${owner.kind} ${owner.subject}`]);
    const active = await tx.query<{ n: number | string }>(
      `SELECT count(*) AS n FROM export_jobs WHERE org_id = $1 AND client_kind = $2 AND client_id = $3 AND ${ACTIVE}`,
      [owner.orgId, owner.kind, owner.subject],
    );
    if (Number(active.rows[0].n) >= args.maxActive) return undefined;
    const id = randomUUID();
    const inserted = await tx.query<JobRow>(
      `INSERT INTO export_jobs (id, org_id, client_kind, client_id, status, request_url, request, transaction_time)
       VALUES ($1, $2, $3, $4, 'queued', $5, $6::jsonb, $7::timestamptz) RETURNING ${JOB_COLUMNS}`,
      [id, owner.orgId, owner.kind, owner.subject, args.requestUrl, JSON.stringify(args.request), args.transactionTime],
    );
    await tx.query(
      `INSERT INTO export_job_types (job_id, seq, resource_type)
       SELECT $1, t.ord, t.type FROM unnest($2::text[]) WITH ORDINALITY AS t(type, ord)`,
      [id, args.request.types],
    );
    return toJob(inserted.rows[0]);
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function getJob(db: Queryable, id: string): Promise<ExportJob | undefined> {
  if (!UUID.test(id)) return undefined;
  const r = await db.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM export_jobs WHERE id = $1`, [id]);
  return r.rows[0] ? toJob(r.rows[0]) : undefined;
}

/**
 * Takes the oldest job nobody holds — queued, or running under a lease that ran out — and leases it to owner.
 * SKIP LOCKED lets several servers claim at once without waiting on, or taking, each other's rows.
 */
export async function claimJob(db: Database, owner: string, leaseSeconds: number): Promise<{ job: ExportJob; lease: Lease } | undefined> {
  return db.transaction(async (tx) => {
    const r = await tx.query<JobRow>(
      `UPDATE export_jobs SET status = 'running', attempt = attempt + 1, lease_owner = $1,
         lease_expires_at = now() + $2 * interval '1 second', started_at = COALESCE(started_at, now())
       WHERE id = (
         SELECT id FROM export_jobs
         WHERE ${ACTIVE} AND (lease_expires_at IS NULL OR lease_expires_at < now())
         ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING ${JOB_COLUMNS}`,
      [owner, leaseSeconds],
    );
    if (!r.rows[0]) return undefined;
    const job = toJob(r.rows[0]);
    return { job, lease: { jobId: job.id, owner, attempt: job.attempt } };
  });
}

const HELD = `id = $1 AND lease_owner = $2 AND attempt = $3 AND status = 'running'`;
const heldParams = (l: Lease) => [l.jobId, l.owner, l.attempt];

/** Extends the lease; false when the job was cancelled or taken over. */
export async function renewLease(db: Queryable, lease: Lease, leaseSeconds: number): Promise<boolean> {
  const r = await db.query(`UPDATE export_jobs SET lease_expires_at = now() + $4 * interval '1 second' WHERE ${HELD}`, [
    ...heldParams(lease),
    leaseSeconds,
  ]);
  return r.rowCount > 0;
}

export async function listTypes(db: Queryable, jobId: string): Promise<JobTypeState[]> {
  const r = await db.query<{
    seq: number;
    resource_type: string;
    done: boolean;
    after_id: string | null;
    exported: number | string;
    part_seq: number;
    part_key: string | null;
    part_count: number;
    part_bytes: number | string;
  }>(`SELECT seq, resource_type, done, after_id, exported, part_seq, part_key, part_count, part_bytes FROM export_job_types WHERE job_id = $1 ORDER BY seq`, [
    jobId,
  ]);
  return r.rows.map((t) => ({
    seq: Number(t.seq),
    resourceType: t.resource_type,
    done: t.done,
    afterId: t.after_id,
    exported: Number(t.exported),
    partSeq: Number(t.part_seq),
    partKey: t.part_key,
    partCount: Number(t.part_count),
    partBytes: Number(t.part_bytes),
  }));
}

/**
 * Records progress: the type's keyset position and open file as they are now on storage (the caller synced
 * the file first), plus the lease renewed. When file is given, that part is finished: it becomes an output
 * file and the type's next part starts empty. One transaction, fenced by the lease: false = not ours any more.
 */
export async function saveProgress(
  db: Database,
  lease: Lease,
  leaseSeconds: number,
  state: JobTypeState,
  newlyExported: number,
  file?: ExportFile,
): Promise<boolean> {
  try {
    await db.transaction(async (tx) => {
      const held = await tx.query(
        `UPDATE export_jobs SET exported = exported + $4, lease_expires_at = now() + $5 * interval '1 second' WHERE ${HELD}`,
        [...heldParams(lease), newlyExported, leaseSeconds],
      );
      if (held.rowCount === 0) throw new LeaseLost();
      if (file) {
        await tx.query(
          `INSERT INTO export_files (job_id, name, storage_key, resource_type, kind, type_seq, part_seq, count, bytes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [lease.jobId, file.name, file.storageKey, file.resourceType, file.kind, state.seq, state.partSeq, file.count, file.bytes],
        );
      }
      await tx.query(
        `UPDATE export_job_types SET done = $3, after_id = $4, exported = $5, part_seq = $6, part_key = $7, part_count = $8, part_bytes = $9
         WHERE job_id = $1 AND seq = $2`,
        [lease.jobId, state.seq, state.done, state.afterId, state.exported, state.partSeq, state.partKey, state.partCount, state.partBytes],
      );
    });
    return true;
  } catch (err) {
    if (err instanceof LeaseLost) return false;
    throw err;
  }
}

class LeaseLost extends Error {}

export async function completeJob(db: Queryable, lease: Lease, retentionSeconds: number): Promise<boolean> {
  const r = await db.query(
    `UPDATE export_jobs SET status = 'completed', finished_at = now(), expires_at = now() + $4 * interval '1 second',
       lease_owner = NULL, lease_expires_at = NULL
     WHERE ${HELD}`,
    [...heldParams(lease), retentionSeconds],
  );
  return r.rowCount > 0;
}

export async function failJob(db: Queryable, lease: Lease, error: string, retentionSeconds: number): Promise<boolean> {
  const r = await db.query(
    `UPDATE export_jobs SET status = 'failed', error = $4, finished_at = now(), expires_at = now() + $5 * interval '1 second',
       lease_owner = NULL, lease_expires_at = NULL
     WHERE ${HELD}`,
    [...heldParams(lease), error, retentionSeconds],
  );
  return r.rowCount > 0;
}

/** Gives the job back: claimable by any worker after delaySeconds (0 = at once, as on an orderly shutdown). */
export async function releaseJob(db: Queryable, lease: Lease, delaySeconds: number): Promise<void> {
  await db.query(`UPDATE export_jobs SET lease_owner = NULL, lease_expires_at = now() + $4 * interval '1 second' WHERE ${HELD}`, [
    ...heldParams(lease),
    delaySeconds,
  ]);
}

/**
 * The client is done with the job (or gives it up): from now on it is gone for the client, and its files are
 * deleted. The row stays until the sweep, so a worker still running it sees the cancellation.
 */
export async function cancelJob(db: Queryable, id: string): Promise<boolean> {
  const r = await db.query(
    `UPDATE export_jobs SET status = 'cancelled', finished_at = COALESCE(finished_at, now()), expires_at = now(),
       lease_owner = NULL, lease_expires_at = NULL
     WHERE id = $1 AND status <> 'cancelled'`,
    [id],
  );
  return r.rowCount > 0;
}

export async function listFiles(db: Queryable, jobId: string): Promise<ExportFile[]> {
  const r = await db.query<{ name: string; storage_key: string; resource_type: string; kind: 'output' | 'error'; count: number; bytes: number | string }>(
    `SELECT name, storage_key, resource_type, kind, count, bytes FROM export_files WHERE job_id = $1 ORDER BY type_seq, part_seq`,
    [jobId],
  );
  return r.rows.map((f) => ({
    name: f.name,
    storageKey: f.storage_key,
    resourceType: f.resource_type,
    kind: f.kind,
    count: Number(f.count),
    bytes: Number(f.bytes),
  }));
}

export async function getFile(db: Queryable, jobId: string, name: string): Promise<ExportFile | undefined> {
  return (await listFiles(db, jobId)).find((f) => f.name === name);
}

/** Removes jobs past their expiry (finished ones after the retention time, cancelled ones at once); returns their ids. */
export async function deleteExpiredJobs(db: Database, limit: number): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `DELETE FROM export_jobs WHERE id IN (
       SELECT id FROM export_jobs WHERE expires_at < now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING id`,
    [limit],
  );
  return r.rows.map((x) => x.id);
}

/** Types with at least one current row in the org, by a loose index scan (one index probe per type). */
export async function typesInOrg(db: Queryable, orgId: string): Promise<string[]> {
  const r = await db.query<{ t: string }>(
    `WITH RECURSIVE types(t) AS (
       SELECT min(resource_type) FROM fhir_resources WHERE org_id = $1
       UNION ALL
       SELECT (SELECT min(resource_type) FROM fhir_resources WHERE org_id = $1 AND resource_type > types.t)
       FROM types WHERE types.t IS NOT NULL)
     SELECT t FROM types WHERE t IS NOT NULL`,
    [orgId],
  );
  return r.rows.map((x) => x.t);
}
