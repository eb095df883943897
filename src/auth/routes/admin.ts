import { IANAZone } from 'luxon';
import type { FastifyInstance } from 'fastify';
import type { Patient, Practitioner } from '@medplum/fhirtypes';
import { z } from 'zod';
import { badRequest, notFound } from '../../fhir/outcomes.js';
import { requireUserRole } from '../../http/principal.js';
import { accounts } from '../accounts.js';
import type { Principal } from '../principal.js';
import { parseResourceScope } from '../scopes.js';
import type { AuthService } from '../service.js';

const name = z.object({ given: z.array(z.string().min(1)).optional(), family: z.string().min(1).optional() });

const newUser = z.object({
  email: z.string().email(),
  password: z.string().min(8).max(1024),
  role: z.enum(['admin', 'practitioner', 'patient']),
  /** an existing Practitioner/… or Patient/… of the org; created from name (and birthDate) when absent */
  fhirUser: z.string().regex(/^(Practitioner|Patient)\/[A-Za-z0-9\-.]{1,64}$/).optional(),
  displayName: z.string().max(200).optional(),
  name: name.optional(),
  birthDate: z.string().regex(/^\d{4}(-\d\d(-\d\d)?)?$/).optional(),
});

const jwk = z.object({ kty: z.string() }).passthrough();
const newClient = z
  .object({
    name: z.string().min(1).max(200),
    clientId: z.string().regex(/^[A-Za-z0-9\-._~]{1,128}$/).optional(),
    /** client_secret_basic */
    secret: z.string().min(16).max(1024).optional(),
    /** private_key_jwt: the client's public keys */
    jwks: z.object({ keys: z.array(jwk).min(1) }).optional(),
    scopes: z.array(z.string()).min(1),
  })
  .refine((c) => c.secret !== undefined || c.jwks !== undefined, { message: 'A client needs a secret or a jwks' })
  .refine((c) => c.scopes.every((s) => parseResourceScope(s)?.context === 'system'), { message: 'Client scopes are system/ scopes' });

const newOrganization = z.object({
  name: z.string().min(1).max(200),
  timeZone: z
    .string()
    .refine((zone) => IANAZone.isValidZone(zone), 'must be an IANA time zone such as Europe/Berlin')
    .optional(),
  admin: z.object({ email: z.string().email(), password: z.string().min(8).max(1024), displayName: z.string().max(200).optional() }),
});

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw badRequest(issue?.message ?? 'Invalid request', issue?.path.join('.'));
  }
  return r.data;
}

/**
 * Account administration for an org's admins. Users and clients are always created in the admin's own org;
 * a new organization comes with its first admin, who then manages it.
 */
export function adminRoutes(app: FastifyInstance, auth: AuthService): void {
  const admin = (request: Parameters<typeof requireUserRole>[0]) => requireUserRole(request, 'admin');

  app.get('/api/admin/organizations', async (request) => {
    const p = admin(request);
    const org = await accounts.getOrganization(auth.db, p.orgId);
    return org ? [org] : [];
  });

  app.post('/api/admin/organizations', async (request, reply) => {
    admin(request);
    const body = parse(newOrganization, request.body);
    const org = await accounts.createOrganization(auth.db, { name: body.name, timeZone: body.timeZone ?? auth.defaultTimeZone });
    await auth.store
      .repository({ orgId: org.id, baseUrl: auth.fhirBaseUrl })
      .update({ resourceType: 'Organization', id: org.id, active: true, name: body.name });
    const user = await accounts.createUser(auth.db, { orgId: org.id, email: body.admin.email, password: body.admin.password, role: 'admin', displayName: body.admin.displayName });
    return reply.status(201).send({ ...org, admin: { id: user.id, email: user.email } });
  });

  app.get('/api/admin/users', async (request) => {
    const p = admin(request);
    return (await accounts.listUsers(auth.db, p.orgId)).map(({ id, email, role, fhirUser, displayName, disabled }) => ({ id, email, role, fhirUser, displayName, disabled }));
  });

  app.post('/api/admin/users', async (request, reply) => {
    const p = admin(request);
    const body = parse(newUser, request.body);
    const fhirUser = body.role === 'admin' ? body.fhirUser : await linkedResource(auth, p, body);
    const user = await accounts.createUser(auth.db, { orgId: p.orgId, email: body.email, password: body.password, role: body.role, fhirUser, displayName: body.displayName });
    return reply.status(201).send({ id: user.id, email: user.email, role: user.role, fhirUser: user.fhirUser, displayName: user.displayName });
  });

  app.get('/api/admin/clients', async (request) => {
    const p = admin(request);
    return (await accounts.listClients(auth.db, p.orgId)).map(({ jwks: _j, ...c }) => c);
  });

  app.post('/api/admin/clients', async (request, reply) => {
    const p = admin(request);
    const body = parse(newClient, request.body);
    const client = await accounts.createClient(auth.db, { orgId: p.orgId, ...body, jwks: body.jwks as { keys: { kty: string }[] } | undefined });
    const { jwks: _j, ...shown } = client;
    return reply.status(201).send(shown);
  });
}

/** The Practitioner or Patient a new user is: an existing one of the org, or one made from the given name. */
async function linkedResource(auth: AuthService, principal: Principal, body: z.infer<typeof newUser>): Promise<string> {
  const repo = auth.store.repository({ orgId: principal.orgId, baseUrl: auth.fhirBaseUrl, principal });
  const expectedType = body.role === 'patient' ? 'Patient' : 'Practitioner';
  if (body.fhirUser) {
    const [type, id] = body.fhirUser.split('/');
    if (type !== expectedType) throw badRequest(`A ${body.role} user is linked to a ${expectedType}`, 'fhirUser');
    if (!(await repo.readIfExists(type, id))) throw notFound(`${body.fhirUser} not found`);
    return body.fhirUser;
  }
  const humanName = body.name ? [{ ...body.name }] : undefined;
  const resource: Patient | Practitioner =
    expectedType === 'Patient'
      ? { resourceType: 'Patient', active: true, ...(humanName ? { name: humanName } : {}), ...(body.birthDate ? { birthDate: body.birthDate } : {}) }
      : { resourceType: 'Practitioner', active: true, ...(humanName ? { name: humanName } : {}) };
  const created = await repo.create(resource);
  return `${expectedType}/${created.resource.id}`;
}
