import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { TextArray, type Database, type Queryable } from '../../db/database.js';
import { renumber, runParts } from '../../db/statement.js';
import { badRequest, conflict, gone, notFound, OperationOutcomeError, outcome, preconditionFailed } from '../outcomes.js';
import { keyIndexHashes } from '../search/tokens.js';
import { EMPTY_INDEXES, SEARCH_INDEX_VERSION, type ResourceIndexes } from '../search/types.js';
import { newResourceId } from './ids.js';
import { fhirInstant, storedVersion, withServerMeta, type StoredVersion } from './meta.js';
import type {
  CreateOptions,
  FhirRepository,
  HistoryOptions,
  RepositoryContext,
  ResourceChange,
  SearchQuery,
  StoredJson,
  UpdateOptions,
  WriteResult,
} from './repository.js';

/** What the store needs from validation and search; injected so each part can be tested alone. */
export interface RepositoryDependencies {
  validate(resource: unknown): Resource;
  extractIndexes(resource: Resource): ResourceIndexes;
  writeIndexRows(tx: Queryable, resourceType: string, id: string, indexes: ResourceIndexes, opts: { isNew: boolean }): Promise<void>;
  /**
   * The side-table writes as CTEs (`name AS (…)`, bind values numbered from firstParam) that read the written
   * row's (resource_type, id) from the CTE named `source`. Given, they join the current+history statement and
   * a write is one statement; absent, the repository calls writeIndexRows after it.
   */
  indexRowsSql?(indexes: ResourceIndexes, opts: { isNew: boolean; source: string; firstParam: number }): { ctes: readonly string[]; params: unknown[] };
  deleteIndexRows(tx: Queryable, resourceType: string, id: string): Promise<void>;
  search(tx: Queryable, ctx: RepositoryContext, resourceType: string, query: SearchQuery, opts: { strict: boolean }): Promise<Bundle>;
  searchCompartment(
    tx: Queryable,
    ctx: RepositoryContext,
    args: { compartmentType: string; compartmentId: string; resourceType: string; query: SearchQuery; strict: boolean },
  ): Promise<Bundle>;
  /**
   * Called inside the writing transaction after each change (the audit trail uses it), so the change and its
   * record commit or roll back together.
   */
  onWrite?(tx: Queryable, ctx: RepositoryContext, change: ResourceChange): Promise<void>;
  /**
   * Like onWrite, but as CTEs of the write statement itself (bind values numbered from firstParam; `gate` names
   * the CTE that returns the written row, so they can write only when it did). The audit trail uses it: the
   * change and its record are then one statement.
   */
  onWriteSql?(ctx: RepositoryContext, change: ResourceChange, opts: { firstParam: number; gate: string }): { ctes: string[]; params: unknown[] } | undefined;
}

interface CurrentRow {
  org_id: string;
  version_id: number;
  deleted: boolean;
  content_hash: string;
  resource_data: Resource;
}

const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;
/*
 * Single-row lookups name the primary key and nothing else; the caller compares the org itself. Hot
 * statements are prepared, and a prepared statement soon runs a generic plan, which cannot tell that
 * `org_id = $3` adds nothing to a primary-key match: with the org in the WHERE clause the generic plan may
 * take the (org_id, resource_type, last_updated, id) index instead and walk every resource of that type in
 * the org for each read (measured: 2.5 ms per read at 16,000 Appointments, growing with the org).
 */
const BY_KEY = 'resource_type = $1 AND id = $2';
/** The read of a current resource (exported for the test that checks its generic plan). */
export const READ_CURRENT_SQL = `SELECT org_id, deleted, resource_data FROM fhir_resources WHERE ${BY_KEY}`;
const READ_JSON_SQL = `SELECT org_id, deleted, version_id, last_updated, resource_data::text AS json FROM fhir_resources WHERE ${BY_KEY}`;
const DEFAULT_HISTORY_COUNT = 50;
const MAX_HISTORY_COUNT = 1000;

/**
 * The FHIR store on PostgreSQL. Every write is one transaction: current row (with token/reference index
 * columns), history row, index side tables. Concurrent writers of the same resource serialize on the current
 * row (SELECT … FOR UPDATE), so no update is lost.
 */
export class PostgresFhirRepository implements FhirRepository {
  constructor(
    private readonly db: Database,
    readonly context: RepositoryContext,
    private readonly deps: RepositoryDependencies,
    /** set when this repository is bound to an open transaction */
    private readonly tx?: Queryable,
  ) {}

  withTransaction<T>(fn: (repo: FhirRepository) => Promise<T>): Promise<T> {
    if (this.tx) return fn(this);
    return this.db.transaction((tx) => fn(new PostgresFhirRepository(this.db, this.context, this.deps, tx)));
  }

  private get q(): Queryable {
    return this.tx ?? this.db;
  }

  // ---------------------------------------------------------------------------------------------- create

  async create<T extends Resource>(resource: T, opts: CreateOptions = {}): Promise<WriteResult<T>> {
    const newId = opts.assignedId ?? newResourceId();
    const valid = this.deps.validate(stripServerMeta({ ...resource, id: undefined })) as T;
    if (opts.ifNoneExist) {
      const criteria = opts.ifNoneExist;
      return this.withTransaction(async (repo) => {
        const self = repo as PostgresFhirRepository;
        await self.lockCriteria(valid.resourceType, criteria);
        const matches = await self.findIds(valid.resourceType, criteria);
        if (matches.length > 1) {
          throw preconditionFailed(`If-None-Exist matched ${matches.length} ${valid.resourceType} resources; it must match at most one`);
        }
        if (matches.length === 1) {
          return { resource: (await self.read(valid.resourceType, matches[0])) as T, outcome: 'existing' as const };
        }
        return created(await self.insertNew(self.requireTx(), valid, newId));
      });
    }
    // A create whose every part is one statement needs no explicit transaction: PostgreSQL runs a single
    // statement atomically, and BEGIN/COMMIT would be two more round trips on the busiest write there is.
    if (!this.tx && this.writesInOneStatement) return created(await this.insertNew(this.db, valid, newId));
    return created(
      await this.withTransaction((repo) => {
        const self = repo as PostgresFhirRepository;
        return self.insertNew(self.requireTx(), valid, newId);
      }),
    );
  }

  /** True when a write's rows, index rows and hook all go into its one statement. */
  private get writesInOneStatement(): boolean {
    return this.deps.indexRowsSql !== undefined && this.deps.onWrite === undefined;
  }

  private async insertNew<T extends Resource>(q: Queryable, valid: T, id: string, versionId = 1, createdAt?: string): Promise<StoredVersion<T>> {
    const now = fhirInstant();
    const { resource: stored, json, hash } = storedVersion(valid, id, versionId, now);
    const indexes = this.deps.extractIndexes(stored);
    const change: ResourceChange = { interaction: 'create', resourceType: stored.resourceType, id, versionId };
    const hashes = keyIndexHashes(indexes);
    const statement = new WriteStatement([
      stored.resourceType, id, this.context.orgId, versionId, now, createdAt ?? now, hash, json,
      new TextArray(indexes.tokens), new TextArray(indexes.refs), new TextArray(indexes.texts), hashes.tokens, hashes.refs,
    ]);
    statement.add(this.deps.indexRowsSql?.(indexes, { isNew: true, source: 'cur', firstParam: statement.nextParam }));
    statement.add(this.deps.onWriteSql?.(this.context, change, { firstParam: statement.nextParam, gate: 'cur' }));
    const inserted = await q.query(
      `WITH cur AS (
         INSERT INTO fhir_resources
           (resource_type, id, org_id, version_id, last_updated, created_at, deleted, content_hash, resource_data, tokens, refs, texts,
            token_hashes, ref_hashes, index_version)
         VALUES ($1, $2, $3, $4, $5, $6, false, $7, $8, $9, $10, $11, $12, $13, ${SEARCH_INDEX_VERSION})
         ON CONFLICT (resource_type, id) DO NOTHING
         RETURNING resource_type, id, org_id, version_id, last_updated, resource_data)${statement.ctes}
       INSERT INTO fhir_resource_history (resource_type, id, version_id, org_id, last_updated, deleted, resource_data)
       SELECT resource_type, id, version_id, org_id, last_updated, false, resource_data FROM cur`,
      statement.params,
      { prepare: true },
    );
    if (inserted.rowCount === 0) throw conflict(`${stored.resourceType}/${id} already exists`);
    if (!this.deps.indexRowsSql) await this.deps.writeIndexRows(q, stored.resourceType, id, indexes, { isNew: true });
    await this.onWrite(q, change);
    return { resource: stored, json, hash };
  }

  private async onWrite(q: Queryable, change: ResourceChange): Promise<void> {
    if (this.deps.onWrite) await this.deps.onWrite(q, this.context, change);
  }

  // ------------------------------------------------------------------------------------------------ read

  async read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T> {
    const r = await this.q.query<{ org_id: string; deleted: boolean; resource_data: T }>(READ_CURRENT_SQL, [resourceType, id], { prepare: true });
    const row = r.rows[0];
    if (!row || row.org_id !== this.context.orgId) throw notFound(`${resourceType}/${id} not found`);
    if (row.deleted) throw gone(`${resourceType}/${id} was deleted`);
    return row.resource_data;
  }

  async readJson(resourceType: string, id: string): Promise<StoredJson> {
    const r = await this.q.query<{ org_id: string; deleted: boolean; version_id: number; last_updated: Date; json: string }>(
      READ_JSON_SQL,
      [resourceType, id],
      { prepare: true },
    );
    const row = r.rows[0];
    if (!row || row.org_id !== this.context.orgId) throw notFound(`${resourceType}/${id} not found`);
    if (row.deleted) throw gone(`${resourceType}/${id} was deleted`);
    return { json: row.json, versionId: String(row.version_id), lastUpdated: fhirInstant(new Date(row.last_updated)) };
  }

  async readIfExists<T extends Resource = Resource>(resourceType: string, id: string): Promise<T | undefined> {
    const r = await this.q.query<{ org_id: string; deleted: boolean; resource_data: T }>(READ_CURRENT_SQL, [resourceType, id], { prepare: true });
    const row = r.rows[0];
    return row && !row.deleted && row.org_id === this.context.orgId ? row.resource_data : undefined;
  }

  async vread<T extends Resource = Resource>(resourceType: string, id: string, versionId: string): Promise<T> {
    if (!/^\d{1,9}$/.test(versionId)) throw notFound(`${resourceType}/${id}/_history/${versionId} not found`);
    const r = await this.q.query<{ deleted: boolean; resource_data: T | null }>(
      `SELECT deleted, resource_data FROM fhir_resource_history
       WHERE resource_type = $1 AND id = $2 AND version_id = $3 AND org_id = $4`,
      [resourceType, id, Number(versionId), this.context.orgId],
    );
    const row = r.rows[0];
    if (!row) throw notFound(`${resourceType}/${id}/_history/${versionId} not found`);
    if (row.deleted || !row.resource_data) throw gone(`${resourceType}/${id} version ${versionId} is a deletion`);
    return row.resource_data;
  }

  // --------------------------------------------------------------------------------------------- history

  async history(resourceType: string | undefined, id: string | undefined, opts: HistoryOptions = {}): Promise<Bundle> {
    const count = clampCount(opts.count, DEFAULT_HISTORY_COUNT, MAX_HISTORY_COUNT);
    const where: string[] = ['org_id = $1'];
    const params: unknown[] = [this.context.orgId];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (resourceType) add('resource_type = ?', resourceType);
    if (id) {
      add('id = ?', id);
      // Instance history must say 404 for a resource that never existed here (or is another org's).
      const exists = await this.q.query(
        'SELECT 1 FROM fhir_resources WHERE resource_type = $1 AND id = $2 AND org_id = $3',
        [resourceType, id, this.context.orgId],
      );
      if (exists.rowCount === 0) throw notFound(`${resourceType}/${id} not found`);
    }
    if (opts.since) {
      if (Number.isNaN(Date.parse(opts.since))) throw badRequest(`_since must be an instant, got '${opts.since}'`, '_since');
      add('last_updated >= ?', opts.since);
    }
    const cursor = opts.cursor ? decodeHistoryCursor(opts.cursor) : undefined;
    if (cursor) {
      params.push(cursor.t, cursor.type, cursor.id, cursor.v);
      const n = params.length;
      where.push(`(last_updated, resource_type, id, version_id) < ($${n - 3}::timestamptz, $${n - 2}, $${n - 1}, $${n})`);
    }
    params.push(count + 1);
    const rows = await this.q.query<{
      resource_type: string;
      id: string;
      version_id: number;
      last_updated: Date | string;
      deleted: boolean;
      resource_data: Resource | null;
    }>(
      `SELECT resource_type, id, version_id, last_updated, deleted, resource_data
       FROM fhir_resource_history WHERE ${where.join(' AND ')}
       ORDER BY last_updated DESC, resource_type DESC, id DESC, version_id DESC
       LIMIT $${params.length}`,
      params,
    );
    const page = rows.rows.slice(0, count);
    const base = this.context.baseUrl;
    const path = [resourceType, id].filter(Boolean).join('/');
    const selfUrl = `${base}/${path ? `${path}/` : ''}_history`;
    const entry: BundleEntry[] = page.map((row) => {
      const lastModified = new Date(row.last_updated).toISOString();
      const isFirst = row.version_id === 1;
      return {
        fullUrl: `${base}/${row.resource_type}/${row.id}`,
        ...(row.deleted || !row.resource_data ? {} : { resource: row.resource_data }),
        request: {
          method: row.deleted ? 'DELETE' : isFirst ? 'POST' : 'PUT',
          url: isFirst && !row.deleted ? row.resource_type : `${row.resource_type}/${row.id}`,
        },
        response: {
          status: row.deleted ? '204' : isFirst ? '201' : '200',
          etag: `W/"${row.version_id}"`,
          lastModified,
        },
      };
    });
    const link: Bundle['link'] = [{ relation: 'self', url: selfUrl }];
    const last = page[page.length - 1];
    if (rows.rows.length > count && last) {
      const next = encodeHistoryCursor({
        t: new Date(last.last_updated).toISOString(),
        type: last.resource_type,
        id: last.id,
        v: last.version_id,
      });
      const qs = new URLSearchParams({ _count: String(count), _cursor: next });
      if (opts.since) qs.set('_since', opts.since);
      link.push({ relation: 'next', url: `${selfUrl}?${qs}` });
    }
    return { resourceType: 'Bundle', type: 'history', link, entry };
  }

  // ---------------------------------------------------------------------------------------------- update

  async update<T extends Resource>(resource: T, opts: UpdateOptions = {}): Promise<WriteResult<T>> {
    if (!resource.id) throw badRequest('An update needs the resource id', `${resource.resourceType}.id`);
    if (!ID_PATTERN.test(resource.id)) throw badRequest(`'${resource.id}' is not a valid FHIR id`, `${resource.resourceType}.id`);
    const valid = this.deps.validate(stripServerMeta(resource)) as T;
    return this.withTransaction((repo) => (repo as PostgresFhirRepository).updateInTx(valid, opts));
  }

  private async updateInTx<T extends Resource>(valid: T, opts: UpdateOptions): Promise<WriteResult<T>> {
    const tx = this.requireTx();
    const id = valid.id as string;
    const current = await this.lockCurrent(valid.resourceType, id);
    if (current && current.org_id !== this.context.orgId) {
      // Another organization's resource: answered as if it did not exist. It cannot be created here either
      // (ids are unique per type), so the answer is 404 rather than an update-as-create.
      throw notFound(`${valid.resourceType}/${id} not found`);
    }
    if (opts.ifMatch !== undefined) {
      if (!current || current.deleted) throw preconditionFailed(`${valid.resourceType}/${id} does not exist; If-Match cannot match`);
      if (String(current.version_id) !== opts.ifMatch) {
        throw preconditionFailed(
          `Version conflict: ${valid.resourceType}/${id} is at version ${current.version_id}, If-Match gave ${opts.ifMatch}`,
        );
      }
    }
    if (!current) {
      const version = await this.insertNew(tx, valid, id);
      if (opts.alongside?.length) await runParts(tx, opts.alongside);
      return created(version);
    }

    const nextVersion = current.version_id + 1;
    const now = fhirInstant();
    const { resource: stored, json, hash } = storedVersion(valid, id, nextVersion, now);
    if (!current.deleted && hash === current.content_hash) {
      if (opts.alongside?.length) await runParts(tx, opts.alongside);
      return { resource: current.resource_data as T, outcome: 'unchanged' };
    }
    const indexes = this.deps.extractIndexes(stored);
    const change: ResourceChange = { interaction: current.deleted ? 'create' : 'update', resourceType: valid.resourceType, id, versionId: nextVersion };
    const hashes = keyIndexHashes(indexes);
    const statement = new WriteStatement([
      valid.resourceType, id, nextVersion, now, hash, json,
      new TextArray(indexes.tokens), new TextArray(indexes.refs), new TextArray(indexes.texts), hashes.tokens, hashes.refs,
    ]);
    statement.add(this.deps.indexRowsSql?.(indexes, { isNew: current.deleted, source: 'cur', firstParam: statement.nextParam }));
    statement.add(this.deps.onWriteSql?.(this.context, change, { firstParam: statement.nextParam, gate: 'cur' }));
    for (const [i, part] of (opts.alongside ?? []).entries()) {
      statement.add({ ctes: [`alongside${i} AS (${renumber(part.sql, statement.nextParam - 1)})`], params: part.params });
    }
    await tx.query(
      `WITH cur AS (
         UPDATE fhir_resources
         SET version_id = $3, last_updated = $4, deleted = false, content_hash = $5, resource_data = $6, tokens = $7, refs = $8, texts = $9,
             token_hashes = $10, ref_hashes = $11, index_version = ${SEARCH_INDEX_VERSION}
         WHERE resource_type = $1 AND id = $2
         RETURNING resource_type, id, org_id, version_id, last_updated, resource_data)${statement.ctes}
       INSERT INTO fhir_resource_history (resource_type, id, version_id, org_id, last_updated, deleted, resource_data)
       SELECT resource_type, id, version_id, org_id, last_updated, false, resource_data FROM cur`,
      statement.params,
      { prepare: true },
    );
    if (!this.deps.indexRowsSql) await this.deps.writeIndexRows(tx, valid.resourceType, id, indexes, { isNew: current.deleted });
    await this.onWrite(tx, change);
    this.wroteLocked(valid.resourceType, id, { org_id: current.org_id, version_id: nextVersion, deleted: false, content_hash: hash, resource_data: stored });
    return { resource: stored, json, outcome: current.deleted ? 'created' : 'updated' };
  }

  async conditionalUpdate<T extends Resource>(resource: T, query: SearchQuery): Promise<WriteResult<T>> {
    return this.withTransaction(async (repo) => {
      const self = repo as PostgresFhirRepository;
      await self.lockCriteria(resource.resourceType, query);
      const matches = await self.findIds(resource.resourceType, query);
      if (matches.length > 1) {
        throw preconditionFailed(`The criteria matched ${matches.length} ${resource.resourceType} resources; a conditional update needs at most one`);
      }
      if (matches.length === 1) {
        if (resource.id && resource.id !== matches[0]) {
          throw badRequest(`The body's id '${resource.id}' is not the id of the matched resource`, `${resource.resourceType}.id`);
        }
        return self.update({ ...resource, id: matches[0] });
      }
      if (resource.id) return self.update(resource);
      return self.create(resource);
    });
  }

  // ----------------------------------------------------------------------------------------------- patch

  async patch<T extends Resource = Resource>(
    resourceType: string,
    id: string,
    patch: Operation[],
    opts: UpdateOptions = {},
  ): Promise<WriteResult<T>> {
    if (!Array.isArray(patch) || patch.length === 0) throw badRequest('A JSON Patch body must be a non-empty array of operations');
    return this.withTransaction(async (repo) => {
      const self = repo as PostgresFhirRepository;
      const current = await self.lockCurrent(resourceType, id);
      if (!current || current.org_id !== this.context.orgId) throw notFound(`${resourceType}/${id} not found`);
      if (current.deleted) throw gone(`${resourceType}/${id} was deleted`);
      const patched = applyJsonPatch(current.resource_data, patch);
      if (patched.resourceType !== resourceType || patched.id !== id) {
        throw badRequest('A patch may not change resourceType or id');
      }
      const valid = this.deps.validate(stripServerMeta(patched)) as T;
      return self.updateInTx(valid, opts);
    });
  }

  // ---------------------------------------------------------------------------------------------- delete

  async delete(resourceType: string, id: string): Promise<void> {
    await this.withTransaction(async (repo) => {
      const self = repo as PostgresFhirRepository;
      const tx = self.requireTx();
      const current = await self.lockCurrent(resourceType, id);
      if (!current || current.org_id !== this.context.orgId) throw notFound(`${resourceType}/${id} not found`);
      if (current.deleted) return; // deleting twice is not an error and writes nothing
      const now = fhirInstant();
      const change: ResourceChange = { interaction: 'delete', resourceType, id, versionId: current.version_id + 1 };
      const statement = new WriteStatement([resourceType, id, now]);
      // No index rows to write: with isNew false and nothing extracted, only the old rows' deletion.
      statement.add(this.deps.indexRowsSql?.(EMPTY_INDEXES, { isNew: false, source: 'cur', firstParam: statement.nextParam }));
      statement.add(this.deps.onWriteSql?.(this.context, change, { firstParam: statement.nextParam, gate: 'cur' }));
      await tx.query(
        `WITH cur AS (
           UPDATE fhir_resources SET version_id = version_id + 1, last_updated = $3, deleted = true, tokens = '{}', refs = '{}', texts = '{}',
               token_hashes = '{}', ref_hashes = '{}'
           WHERE resource_type = $1 AND id = $2
           RETURNING resource_type, id, org_id, version_id, last_updated)${statement.ctes}
         INSERT INTO fhir_resource_history (resource_type, id, version_id, org_id, last_updated, deleted, resource_data)
         SELECT resource_type, id, version_id, org_id, last_updated, true, NULL FROM cur`,
        statement.params,
        { prepare: true },
      );
      if (!self.deps.indexRowsSql) await self.deps.deleteIndexRows(tx, resourceType, id);
      await self.onWrite(tx, change);
      self.wroteLocked(resourceType, id, { ...current, version_id: current.version_id + 1, deleted: true });
    });
  }

  async conditionalDelete(resourceType: string, query: SearchQuery): Promise<void> {
    await this.withTransaction(async (repo) => {
      const self = repo as PostgresFhirRepository;
      const matches = await self.findIds(resourceType, query);
      if (matches.length > 1) {
        throw preconditionFailed(`The criteria matched ${matches.length} ${resourceType} resources; a conditional delete deletes at most one`);
      }
      if (matches.length === 1) await self.delete(resourceType, matches[0]);
    });
  }

  // ---------------------------------------------------------------------------------------------- search

  search<T extends Resource = Resource>(resourceType: string, query: SearchQuery, opts: { strict?: boolean } = {}): Promise<Bundle<T>> {
    return this.deps.search(this.q, this.context, resourceType, query, { strict: opts.strict ?? false }) as Promise<Bundle<T>>;
  }

  searchCompartment(compartmentType: string, compartmentId: string, resourceType: string, query: SearchQuery, opts: { strict?: boolean } = {}): Promise<Bundle> {
    return this.deps.searchCompartment(this.q, this.context, { compartmentType, compartmentId, resourceType, query, strict: opts.strict ?? false });
  }

  // ------------------------------------------------------------------------------------------- internals

  private requireTx(): Queryable {
    if (!this.tx) throw new Error('write outside a transaction');
    return this.tx;
  }

  /**
   * The current row, locked until the transaction ends. A row this transaction already locked is not read
   * again: nobody else can have changed it, and this transaction's own writes keep the copy up to date.
   */
  private async lockCurrent(resourceType: string, id: string): Promise<CurrentRow | undefined> {
    await this.lockRows([{ resourceType, id }]);
    return lockedRowsOf(this.requireTx()).get(`${resourceType}/${id}`);
  }

  /**
   * Locks the current rows of these resources that this transaction does not hold yet, in one statement:
   * primary-key matches only (see BY_KEY), in key order, so two transactions that lock the same rows take them
   * in the same order and cannot deadlock.
   */
  private async lockRows(keys: { resourceType: string; id: string }[]): Promise<void> {
    const tx = this.requireTx();
    const held = lockedRowsOf(tx);
    const missing = [...new Map(keys.map((k) => [`${k.resourceType}/${k.id}`, k]))].filter(([key]) => !held.has(key)).map(([, k]) => k);
    if (missing.length === 0) return;
    const matches = missing.map((_, i) => `(resource_type = $${2 * i + 1} AND id = $${2 * i + 2})`).join(' OR ');
    const r = await tx.query<CurrentRow & { resource_type: string; id: string }>(
      `SELECT resource_type, id, org_id, version_id, deleted, content_hash, resource_data FROM fhir_resources
       WHERE ${matches} ORDER BY resource_type, id FOR UPDATE`,
      missing.flatMap((k) => [k.resourceType, k.id]),
      { prepare: true },
    );
    for (const { resource_type, id, ...row } of r.rows) held.set(`${resource_type}/${id}`, row);
  }

  /** Records what this transaction wrote to a row it holds, for the next lockCurrent of that row. */
  private wroteLocked(resourceType: string, id: string, row: CurrentRow): void {
    const rows = lockedRowsOf(this.requireTx());
    if (rows.has(`${resourceType}/${id}`)) rows.set(`${resourceType}/${id}`, row);
  }

  async readForUpdate<T extends Resource = Resource>(resourceType: string, id: string): Promise<T | undefined> {
    return this.visible(await this.lockCurrent(resourceType, id)) as T | undefined;
  }

  async readManyForUpdate(keys: { resourceType: string; id?: string | null }[]): Promise<(Resource | undefined)[]> {
    await this.lockRows(keys.filter((k): k is { resourceType: string; id: string } => !!k.id));
    const held = lockedRowsOf(this.requireTx());
    return keys.map((k) => (k.id ? this.visible(held.get(`${k.resourceType}/${k.id}`)) : undefined));
  }

  /** What readForUpdate gives for a locked row: undefined where read would answer 404 or 410. */
  private visible(current: CurrentRow | undefined): Resource | undefined {
    if (!current || current.deleted || current.org_id !== this.context.orgId) return undefined;
    return current.resource_data;
  }

  /**
   * Conditional create/update must not create twice when two requests with the same criteria race: they
   * serialize on a transaction-scoped advisory lock named after the org, type and criteria.
   */
  private async lockCriteria(resourceType: string, query: SearchQuery): Promise<void> {
    const key = createHash('sha256')
      .update(`${this.context.orgId}\u0000${resourceType}\u0000${JSON.stringify(Object.entries(query).sort())}`)
      .digest();
    await this.requireTx().query('SELECT pg_advisory_xact_lock($1)', [key.readBigInt64BE(0).toString()]);
  }

  private async findIds(resourceType: string, query: SearchQuery): Promise<string[]> {
    if (Object.keys(query).length === 0) throw badRequest('Conditional operations need search criteria');
    const bundle = await this.deps.search(this.q, this.context, resourceType, { ...query, _count: '2', _elements: 'id' }, { strict: true });
    return (bundle.entry ?? []).filter((e) => e.search?.mode !== 'outcome' && e.resource).map((e) => e.resource!.id as string);
  }
}

/**
 * The rows each open transaction holds FOR UPDATE, by "Type/id". Keyed by the transaction handle, so every
 * repository bound to the same transaction shares them, and they go away with it.
 */
const lockedRows = new WeakMap<Queryable, Map<string, CurrentRow>>();

function lockedRowsOf(tx: Queryable): Map<string, CurrentRow> {
  let rows = lockedRows.get(tx);
  if (!rows) {
    rows = new Map();
    lockedRows.set(tx, rows);
  }
  return rows;
}

/**
 * The parts of one write statement: its own bind values, then CTEs added by the index and the write hook,
 * each numbering its bind values from where the previous part stopped.
 */
class WriteStatement {
  readonly params: unknown[];
  private readonly parts: string[] = [];

  constructor(params: unknown[]) {
    this.params = [...params];
  }

  get nextParam(): number {
    return this.params.length + 1;
  }

  add(fragment: { ctes: readonly string[]; params: unknown[] } | undefined): void {
    if (!fragment) return;
    this.parts.push(...fragment.ctes);
    this.params.push(...fragment.params);
  }

  /** The added CTEs, to follow the statement's `cur` CTE. */
  get ctes(): string {
    return this.parts.length > 0 ? `,\n       ${this.parts.join(',\n       ')}` : '';
  }
}

/** The result of a create: the stored resource and its JSON text, for a response that sends it as written. */
function created<T extends Resource>(version: StoredVersion<T>): WriteResult<T> {
  return { resource: version.resource, json: version.json, outcome: 'created' };
}

function stripServerMeta<T extends Resource>(resource: T): T {
  if (!resource.meta) return resource;
  const { versionId: _v, lastUpdated: _l, ...meta } = resource.meta;
  const copy = { ...resource };
  if (Object.keys(meta).length > 0) copy.meta = meta;
  else delete copy.meta;
  return copy;
}

function applyJsonPatch(resource: Resource, patch: Operation[]): Resource {
  const error = fastJsonPatch.validate(patch, resource);
  if (error) {
    const status = error.name === 'TEST_OPERATION_FAILED' ? 422 : 400;
    throw new OperationOutcomeError(status, outcome('error', status === 422 ? 'processing' : 'invalid', `JSON Patch: ${error.message.split('\n')[0]}`));
  }
  return fastJsonPatch.applyPatch(structuredClone(resource), patch, false, false).newDocument;
}

function clampCount(count: number | undefined, fallback: number, max: number): number {
  if (count === undefined || Number.isNaN(count)) return fallback;
  return Math.max(1, Math.min(max, Math.floor(count)));
}

interface HistoryCursor {
  t: string;
  type: string;
  id: string;
  v: number;
}

function encodeHistoryCursor(c: HistoryCursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeHistoryCursor(s: string): HistoryCursor {
  try {
    const c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as HistoryCursor;
    if (typeof c.t === 'string' && typeof c.type === 'string' && typeof c.id === 'string' && Number.isInteger(c.v)) return c;
  } catch {
    // fall through
  }
  throw badRequest('_cursor is not a valid paging cursor', '_cursor');
}
