import type { Group } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';
import type { Database } from '../db/database.js';
import { badRequest, forbidden, outcome, tooManyRequests, unauthorized } from '../fhir/outcomes.js';
import type { FhirOperation } from '../fhir/rest/router.js';
import type { FhirContext, FhirRequest, FhirResponse } from '../fhir/rest/types.js';
import { exportableTypePredicate, ownerOf } from './access.js';
import type { ExportAudit } from './audit.js';
import { createJob, typesInOrg, type ExportJobRequest } from './job-store.js';
import { assertKickoffHeaders, isLenient, parseExportParameters, requestUrl, type ExportLevel } from './request.js';
import { isPatientCompartmentType } from './snapshot-reader.js';

export interface KickoffDeps {
  db: Database;
  maxConcurrentPerClient: number;
  /** the FHIR base URL as clients see it, for the manifest's `request` */
  fhirBaseUrl: string;
  statusUrl(jobId: string): string;
  /** the authenticated caller of the current request */
  currentPrincipal(): Principal | undefined;
  /** the client address of the current request, for the audit trail */
  currentAddress?(): string | undefined;
  audit?: ExportAudit;
  /** told when a job was queued, so a worker in this server starts it without waiting for its next poll */
  onQueued?(): void;
}

const DEFINITIONS = {
  system: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export',
  patient: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export',
  group: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export',
};
/** Seconds a client refused for having too many exports running should wait. */
const BUSY_RETRY_AFTER_SECONDS = 30;

/** The three kick-off endpoints (GET or POST): `$export`, `Patient/$export`, `Group/{id}/$export`. */
export function exportOperations(deps: KickoffDeps): FhirOperation[] {
  const handler = (level: ExportLevel) => (req: FhirRequest, ctx: FhirContext, target: { resourceType?: string; id?: string }) =>
    kickOff(deps, req, ctx, level, target.id);
  return [
    { key: '$export', definition: DEFINITIONS.system, handler: handler('system') },
    { key: 'Patient/$export', definition: DEFINITIONS.patient, handler: handler('patient') },
    { key: 'Group/$export', definition: DEFINITIONS.group, handler: handler('group') },
  ];
}

async function kickOff(deps: KickoffDeps, req: FhirRequest, ctx: FhirContext, level: ExportLevel, targetId: string | undefined): Promise<FhirResponse> {
  if (req.method !== 'GET' && req.method !== 'POST') throw badRequest(`$export is started with GET or POST, not ${req.method}`);
  if (level === 'patient' && targetId !== undefined) throw badRequest('A patient export is started at Patient/$export; for some patients use a Group or the patient parameter');
  if (level === 'group' && targetId === undefined) throw badRequest('A group export names its Group: Group/{id}/$export');
  assertKickoffHeaders(req);
  const principal = deps.currentPrincipal();
  if (!principal) throw unauthorized('A valid Bearer access token is required');

  const params = parseExportParameters(req, level, targetId);
  const lenient = isLenient(req);
  const mayExport = exportableTypePredicate(principal, ctx.access);
  const inScope = (type: string) => level === 'system' || isPatientCompartmentType(type);

  let types: string[];
  if (params.types) {
    types = [];
    for (const type of params.types) {
      if (!inScope(type)) {
        if (!lenient) throw badRequest(`${type} is not in the Patient compartment, so a ${level} export has none`, '_type');
        continue;
      }
      if (!mayExport(type)) throw forbidden(`The access token's scopes do not allow exporting ${type}: it needs a ${principal.kind === 'client' ? 'system' : 'user'}/${type}.rs scope`);
      types.push(type);
    }
  } else {
    for (const type of Object.keys(params.typeFilters)) {
      if (!mayExport(type)) throw forbidden(`The access token's scopes do not allow exporting ${type}`);
    }
    const present = (await typesInOrg(deps.db, ctx.repo.context.orgId)).filter(inScope);
    types = present.filter(mayExport);
    if (present.length > 0 && types.length === 0) {
      throw forbidden(`The access token's scopes allow exporting none of the resource types held: it needs ${principal.kind === 'client' ? 'system' : 'user'}/<type>.rs scopes`);
    }
  }

  const request: ExportJobRequest = { level, types, since: params.since, typeFilters: params.typeFilters };
  if (level === 'group') {
    ctx.access.assertInteraction('read', 'Group');
    const group = await ctx.repo.read<Group>('Group', targetId as string);
    ctx.access.assertResource('read', group);
    request.groupId = group.id;
    const members = groupPatients(group);
    request.patientIds = params.patientIds ? params.patientIds.filter((id) => members.includes(id)) : members;
  } else if (level === 'patient' && params.patientIds) {
    request.patientIds = params.patientIds;
  }

  const job = await createJob(deps.db, {
    owner: ownerOf(principal),
    requestUrl: requestUrl(deps.fhirBaseUrl, req, params),
    request,
    transactionTime: new Date().toISOString(),
    maxActive: deps.maxConcurrentPerClient,
  });
  if (!job) {
    throw tooManyRequests(
      `This client already has ${deps.maxConcurrentPerClient} exports queued or running; wait for one to finish or cancel one`,
      BUSY_RETRY_AFTER_SECONDS,
    );
  }
  deps.audit?.kickedOff(job, principal, deps.currentAddress?.());
  deps.onQueued?.();
  const notes = params.ignored.length > 0 ? ` Ignored: ${params.ignored.join(', ')}.` : '';
  return {
    status: 202,
    headers: { 'content-location': deps.statusUrl(job.id) },
    body: outcome('information', 'informational', `Export ${job.id} accepted; poll the Content-Location for its status.${notes}`),
  };
}

/** Active Patient members of a Group, by id (relative or absolute references). */
function groupPatients(group: Group): string[] {
  const ids = new Set<string>();
  for (const member of group.member ?? []) {
    if (member.inactive) continue;
    const m = /(?:^|\/)Patient\/([^/]+)$/.exec(member.entity?.reference ?? '');
    if (m) ids.add(m[1]);
  }
  return [...ids];
}
