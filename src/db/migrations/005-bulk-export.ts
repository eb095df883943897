/**
 * FHIR Bulk Data export ($export): the jobs, each job's progress per resource type, and its finished files.
 *
 * A job is run by whichever server instance holds its lease (lease_owner until lease_expires_at, renewed
 * while it works); attempt counts the claims, so a file written under an old claim is never appended to by
 * a new one. Lease times use the database clock: the instances' own clocks may disagree.
 *
 * export_job_types keeps the keyset position (after_id) of each type and the file being written, as of the
 * last checkpoint: a job that resumes truncates that file back to part_bytes and reads on after after_id, so
 * every resource is written exactly once.
 */
export const sql = `
CREATE TABLE export_jobs (
  id uuid PRIMARY KEY,
  org_id text NOT NULL,
  client_kind text NOT NULL CHECK (client_kind IN ('user', 'client')),
  client_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  request_url text NOT NULL,
  request jsonb NOT NULL,
  transaction_time timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  expires_at timestamptz,
  attempt integer NOT NULL DEFAULT 0,
  lease_owner text,
  lease_expires_at timestamptz,
  exported bigint NOT NULL DEFAULT 0,
  error text
);
CREATE INDEX export_jobs_runnable ON export_jobs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX export_jobs_active_client ON export_jobs (org_id, client_kind, client_id) WHERE status IN ('queued', 'running');
CREATE INDEX export_jobs_expiry ON export_jobs (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE export_job_types (
  job_id uuid NOT NULL REFERENCES export_jobs (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  resource_type text NOT NULL,
  done boolean NOT NULL DEFAULT false,
  after_id text,
  exported bigint NOT NULL DEFAULT 0,
  part_seq integer NOT NULL DEFAULT 1,
  part_key text,
  part_count integer NOT NULL DEFAULT 0,
  part_bytes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, seq)
);

CREATE TABLE export_files (
  job_id uuid NOT NULL REFERENCES export_jobs (id) ON DELETE CASCADE,
  name text NOT NULL,
  storage_key text NOT NULL,
  resource_type text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('output', 'error')),
  type_seq integer NOT NULL,
  part_seq integer NOT NULL,
  count integer NOT NULL,
  bytes bigint NOT NULL,
  PRIMARY KEY (job_id, name)
);
`;
