/**
 * The HTTP baseline of the search benchmark: bare Fastify + pg answering the benchmark's three searches with
 * the hand-written SQL of bench/support/search-queries.ts, returning the resources as a JSON array — no FHIR
 * parsing, no Bundle, no authentication.
 */
import Fastify from 'fastify';
import pg from 'pg';
import { appointmentsOfPractitionerOnDay, encountersOfPatient, patientsByName, type SearchCase } from './search-queries.js';

const orgId = process.env.BENCH_ORG_ID as string;
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const app = Fastify({ logger: false });

const answer = async (c: SearchCase) => (await pool.query<{ resource_data: unknown }>(c.sql, c.params)).rows.map((r) => r.resource_data);

app.get('/healthz', async () => ({ status: 'ok' }));
app.get('/appointments', async (req) => {
  const { practitioner, day } = req.query as { practitioner: string; day: string };
  return answer(appointmentsOfPractitionerOnDay(orgId, practitioner, day));
});
app.get('/patients', async (req) => answer(patientsByName(orgId, (req.query as { name: string }).name)));
app.get('/encounters', async (req) => answer(encountersOfPatient(orgId, (req.query as { patient: string }).patient)));

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
