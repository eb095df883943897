import type { Resource } from '@medplum/fhirtypes';
import { forbidden, notFound } from '../fhir/outcomes.js';
import type { AccessPolicy, Interaction } from '../fhir/rest/types.js';
import { isInPatientCompartment, patientCompartmentCriterion, patientCompartmentParams } from './compartment.js';
import type { Principal } from './principal.js';
import { parseResourceScope, type Permission, type ResourceScope } from './scopes.js';

const PERMISSION: Record<Interaction, Permission> = {
  read: 'r',
  vread: 'r',
  history: 'r',
  search: 's',
  create: 'c',
  update: 'u',
  patch: 'u',
  delete: 'd',
  operation: 'r',
};

/** The audit trail is the server's own record: readable by admins and system clients, written by nobody else. */
const AUDIT_TYPES = new Set(['AuditEvent']);

/**
 * Thrown when the caller's scopes do not allow an interaction. Kept apart from 404s so the audit trail can
 * tell a forbidden attempt from a miss.
 */
export const scopeForbidden = (what: string) => forbidden(`The access token's scopes do not allow ${what}`);

type Grant = 'full' | 'compartment' | 'none';

/**
 * The SMART scope policy of one caller. user/ and system/ scopes open the type across the caller's org (the
 * repository already confines every query to it); patient/ scopes open it only inside the compartment of the
 * token's patient: searches get a compartment criterion, reads and writes have their references checked.
 */
export function smartAccessPolicy(principal: Principal): AccessPolicy {
  const patientId = principal.fhirUser?.startsWith('Patient/') ? principal.fhirUser.slice('Patient/'.length) : undefined;
  const scopes = principal.scopes
    .map(parseResourceScope)
    .filter((s): s is ResourceScope => s !== undefined)
    // A scope context the caller cannot have is ignored: users get no system/ access, clients no user/ access,
    // and patient/ needs a patient.
    .filter((s) => (s.context === 'system' ? principal.kind === 'client' : s.context === 'user' ? principal.kind === 'user' : patientId !== undefined));

  const grant = (interaction: Interaction, resourceType: string | undefined): Grant => {
    if (resourceType && AUDIT_TYPES.has(resourceType)) {
      const mayReadAudit = principal.kind === 'client' || principal.role === 'admin';
      if (!mayReadAudit || !['read', 'vread', 'search', 'history'].includes(interaction)) return 'none';
    }
    // Interactions across all types (system history) need a wildcard scope.
    const permission = interaction === 'history' && resourceType === undefined ? 's' : PERMISSION[interaction];
    const matching = scopes.filter(
      (s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.permissions.has(permission),
    );
    if (matching.some((s) => s.context !== 'patient')) return 'full';
    // History and operations cannot be narrowed to a compartment, so patient/ scopes do not open them.
    if (matching.length > 0 && resourceType !== undefined && interaction !== 'history' && interaction !== 'operation') return 'compartment';
    return 'none';
  };

  const compartmentWrite = (interaction: Interaction) => ['create', 'update', 'patch', 'delete'].includes(interaction);

  return {
    assertInteraction(interaction, resourceType) {
      if (grant(interaction, resourceType) === 'none') {
        throw scopeForbidden(`${interaction} on ${resourceType ?? 'all resource types'}`);
      }
    },
    assertResource(interaction, resource: Resource) {
      if (grant(interaction, resource.resourceType) !== 'compartment') return;
      const inCompartment = isInPatientCompartment(resource, patientId as string);
      if (inCompartment) return;
      // Types outside the Patient compartment (Practitioner, Location, Slot…) hold no patient's record: a
      // patient may read them but not write them.
      const shared = resource.resourceType !== 'Patient' && patientCompartmentParams(resource.resourceType).length === 0;
      if (shared && !compartmentWrite(interaction)) return;
      // Reading another patient's record answers like a miss, so ids cannot be probed; writing is refused.
      if (compartmentWrite(interaction) && interaction !== 'delete') throw forbidden('A patient may only write records of their own');
      throw notFound(`${resource.resourceType}/${resource.id} not found`);
    },
    allowsAnyResource(interaction, resourceType) {
      return grant(interaction, resourceType) === 'full';
    },
    searchCriteria(resourceType) {
      if (grant('search', resourceType) !== 'compartment') return undefined;
      return patientCompartmentCriterion(resourceType, patientId as string);
    },
  };
}

/** The patient a caller's access is confined to, when patient/ scopes are all it has; undefined otherwise. */
export function confiningPatient(principal: Principal): string | undefined {
  if (!principal.fhirUser?.startsWith('Patient/')) return undefined;
  const broad = principal.scopes.map(parseResourceScope).some((s) => s !== undefined && s.context !== 'patient');
  return broad ? undefined : principal.fhirUser.slice('Patient/'.length);
}
