/**
 * The baseline the FHIR server is measured against: bare Fastify + pg doing the same SQL for the same requests
 * (insert current row + history row in one transaction; select by primary key; update + history) with no FHIR
 * logic at all — no validation, no indexing, no versioning rules.
 */
import Fastify from 'fastify';
import pg from 'pg';
// The same ids as the product (time-ordered), so the comparison leaves out FHIR logic and nothing else.
import { newResourceId } from '../../src/fhir/repository/ids.js';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const app = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 });
app.addContentTypeParser(/^application\/(fhir\+)?json/, { parseAs: 'string' }, (_r, body, done) => {
  try {
    done(null, JSON.parse(body as string));
  } catch (err) {
    done(err as Error);
  }
});

await pool.query(`
  CREATE TABLE IF NOT EXISTS baseline_resources (resource_type text, id text, version_id int, last_updated timestamptz,
    resource_data jsonb, PRIMARY KEY (resource_type, id));
  CREATE TABLE IF NOT EXISTS baseline_history (resource_type text, id text, version_id int, last_updated timestamptz,
    resource_data jsonb, PRIMARY KEY (resource_type, id, version_id));`);

app.get('/healthz', async () => ({ status: 'ok' }));

app.post('/fhir/:type', async (req, reply) => {
  const { type } = req.params as { type: string };
  const id = newResourceId();
  const resource = { ...(req.body as object), id };
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('INSERT INTO baseline_resources VALUES ($1, $2, 1, now(), $3)', [type, id, resource]);
    await client.query('INSERT INTO baseline_history VALUES ($1, $2, 1, now(), $3)', [type, id, resource]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  return reply.status(201).send(resource);
});

app.get('/fhir/:type/:id', async (req, reply) => {
  const { type, id } = req.params as { type: string; id: string };
  const r = await pool.query('SELECT resource_data FROM baseline_resources WHERE resource_type = $1 AND id = $2', [type, id]);
  if (!r.rows[0]) return reply.status(404).send({});
  return reply.send(r.rows[0].resource_data);
});

app.put('/fhir/:type/:id', async (req, reply) => {
  const { type, id } = req.params as { type: string; id: string };
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const r = await client.query(
      `UPDATE baseline_resources SET version_id = version_id + 1, last_updated = now(), resource_data = $3
       WHERE resource_type = $1 AND id = $2 RETURNING version_id`,
      [type, id, req.body],
    );
    await client.query('INSERT INTO baseline_history VALUES ($1, $2, $3, now(), $4)', [type, id, r.rows[0].version_id, req.body]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  return reply.send(req.body);
});

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
