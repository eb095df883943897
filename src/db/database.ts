import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { mkdirSync } from 'node:fs';

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface QueryOptions {
  /**
   * For statements run constantly with the same text (the write path, reads by id): on PostgreSQL they become
   * named prepared statements, parsed and planned once per connection instead of on every call.
   */
  prepare?: boolean;
}

/** Something SQL can be sent to: the database itself or an open transaction. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], opts?: QueryOptions): Promise<QueryResult<T>>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs fn in one transaction. Serialization failures and deadlocks (40001, 40P01) are retried a few times,
   * so fn must not have side effects outside the database.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A text[] bind value. node-postgres sends an array as a `{"…","…"}` literal, quoting and escaping every element,
 * and PostgreSQL parses that literal character by character (array_in). A write sends dozens of long search keys
 * that way. On PostgreSQL this value goes out in the binary array format instead (what array_recv reads: the
 * length and bytes of each element), which neither side has to escape or scan; PGlite gets the plain array.
 * Use it only where the parameter's type is text[] (a text[] column, or a `$n::text[]` cast).
 */
export class TextArray {
  constructor(readonly values: readonly (string | null)[]) {}
}

const TEXT_OID = 25;

/** The binary (array_send) form of a one-dimensional text[]; an empty array has no dimensions. */
export function encodeTextArray(values: readonly (string | null)[]): Buffer {
  if (values.length === 0) {
    const empty = Buffer.alloc(12);
    empty.writeInt32BE(TEXT_OID, 8);
    return empty;
  }
  let size = 20;
  let hasNull = 0;
  const lengths = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null) hasNull = 1;
    lengths[i] = v === null ? -1 : Buffer.byteLength(v);
    size += 4 + Math.max(lengths[i], 0);
  }
  const buf = Buffer.allocUnsafe(size);
  buf.writeInt32BE(1, 0); // dimensions
  buf.writeInt32BE(hasNull, 4);
  buf.writeInt32BE(TEXT_OID, 8);
  buf.writeInt32BE(values.length, 12);
  buf.writeInt32BE(1, 16); // lower bound
  let offset = 20;
  for (let i = 0; i < values.length; i++) {
    buf.writeInt32BE(lengths[i], offset);
    offset += 4;
    if (lengths[i] > 0) offset += buf.write(values[i]!, offset, 'utf8');
  }
  return buf;
}

/**
 * A bigint[] bind value given as 64-bit words, 8 big-endian bytes each (how the key hashes of
 * src/fhir/search/tokens.ts are computed). On PostgreSQL it goes out in the binary array format, like TextArray;
 * PGlite gets the numbers as decimal strings. Use it only where the parameter's type is bigint[].
 */
export class BigIntArray {
  constructor(readonly words: Buffer) {}

  get length(): number {
    return this.words.length / 8;
  }

  toStrings(): string[] {
    return Array.from({ length: this.length }, (_, i) => this.words.readBigInt64BE(i * 8).toString());
  }
}

const INT8_OID = 20;

/** The binary (array_send) form of a one-dimensional bigint[]. */
export function encodeBigIntArray(a: BigIntArray): Buffer {
  const n = a.length;
  if (n === 0) {
    const empty = Buffer.alloc(12);
    empty.writeInt32BE(INT8_OID, 8);
    return empty;
  }
  const buf = Buffer.allocUnsafe(20 + 12 * n);
  buf.writeInt32BE(1, 0); // dimensions
  buf.writeInt32BE(0, 4); // no nulls
  buf.writeInt32BE(INT8_OID, 8);
  buf.writeInt32BE(n, 12);
  buf.writeInt32BE(1, 16); // lower bound
  for (let i = 0; i < n; i++) {
    buf.writeInt32BE(8, 20 + 12 * i);
    a.words.copy(buf, 24 + 12 * i, 8 * i, 8 * i + 8);
  }
  return buf;
}

type ArrayParam = TextArray | BigIntArray;

/** Bind values as a driver takes them: TextArray and BigIntArray through `encode`, everything else as it is. */
function bindValues(values: unknown[] | undefined, encode: (a: ArrayParam) => unknown): unknown[] | undefined {
  if (!values?.some((v) => v instanceof TextArray || v instanceof BigIntArray)) return values;
  return values.map((v) => (v instanceof TextArray || v instanceof BigIntArray ? encode(v) : v));
}

const toBinary = (a: ArrayParam): Buffer => (a instanceof TextArray ? encodeTextArray(a.values) : encodeBigIntArray(a));
const toPlainArray = (a: ArrayParam): unknown[] => (a instanceof TextArray ? [...a.values] : a.toStrings());

const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;

async function withRetries<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (!code || !RETRYABLE.has(code) || attempt >= MAX_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 10));
    }
  }
}

/**
 * Names of prepared statements by their text, shared by all connections (each prepares a name on first use).
 * Bounded: the statements asked to be prepared are a fixed set of texts, and past the bound a statement simply
 * runs unnamed.
 */
const MAX_PREPARED_STATEMENTS = 500;

export class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  private readonly statementNames = new Map<string, string>();

  constructor(connectionString: string, poolSize = 10) {
    this.pool = new pg.Pool({ connectionString, max: poolSize });
    // An idle client that loses its connection must not crash the process.
    this.pool.on('error', () => undefined);
  }

  async query<T>(sql: string, params?: unknown[], opts?: QueryOptions): Promise<QueryResult<T>> {
    const r = await this.pool.query(this.queryConfig(sql, params, opts));
    return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
  }

  private queryConfig(text: string, params: unknown[] | undefined, opts: QueryOptions | undefined): pg.QueryConfig {
    const values = bindValues(params, toBinary);
    if (!opts?.prepare) return { text, values };
    let name = this.statementNames.get(text);
    if (!name && this.statementNames.size < MAX_PREPARED_STATEMENTS) {
      name = `p${this.statementNames.size + 1}`;
      this.statementNames.set(text, name);
    }
    return name ? { name, text, values } : { text, values };
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return withRetries(async () => {
      const client = await this.pool.connect();
      // A connection that dies mid-transaction reports through this event as well as the failed query.
      const onError = () => undefined;
      client.on('error', onError);
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const tx: Queryable = {
          query: async <R>(sql: string, params?: unknown[], opts?: QueryOptions) => {
            const r = await client.query(this.queryConfig(sql, params, opts));
            return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
          },
        };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw err;
      } finally {
        client.off('error', onError);
        // A client whose rollback failed is not reused.
        client.release(broken);
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * Embedded PostgreSQL compiled to WebAssembly. It has one connection, so PGlite itself queues statements and
 * transactions; the SQL is the same as on a PostgreSQL server.
 */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;

  private constructor(readonly pglite: PGlite) {}

  /** dataDir undefined = in memory. */
  static async open(dataDir?: string): Promise<PgliteDatabase> {
    if (dataDir) mkdirSync(dataDir, { recursive: true });
    const pglite = await PGlite.create(dataDir);
    return new PgliteDatabase(pglite);
  }

  async query<T>(sql: string, params?: unknown[]): Promise<QueryResult<T>> {
    const r = await this.pglite.query<T>(sql, bindValues(params, toPlainArray));
    return { rows: r.rows, rowCount: Math.max(r.rows.length, r.affectedRows ?? 0) };
  }

  async exec(sql: string): Promise<void> {
    await this.pglite.exec(sql);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return withRetries(() =>
      this.pglite.transaction(async (t) => {
        const tx: Queryable = {
          query: async <R>(sql: string, params?: unknown[]) => {
            const r = await t.query<R>(sql, bindValues(params, toPlainArray));
            return { rows: r.rows, rowCount: Math.max(r.rows.length, r.affectedRows ?? 0) };
          },
        };
        return fn(tx);
      }),
    );
  }

  async close(): Promise<void> {
    await this.pglite.close();
  }
}

export async function openDatabase(opts: { databaseUrl?: string; dataDir?: string; poolSize?: number }): Promise<Database> {
  if (opts.databaseUrl) return new PostgresDatabase(opts.databaseUrl, opts.poolSize);
  return PgliteDatabase.open(opts.dataDir);
}
