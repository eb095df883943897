import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { badRequest, OperationOutcomeError, outcome } from '../fhir/outcomes.js';
import { isR4ResourceType } from '../fhir/resource-types.js';
import type { FhirRequest } from '../fhir/rest/types.js';
import { parseSearchRequest } from '../fhir/search/index.js';

/**
 * The kick-off request of a Bulk Data export (Bulk Data Access IG v2.0.0, export.html), read from the query
 * string (GET) or a Parameters body (POST) into one shape that the job stores and the worker runs.
 */
export type ExportLevel = 'system' | 'patient' | 'group';

export interface ExportParameters {
  level: ExportLevel;
  groupId?: string;
  /** _type as asked, in order, without duplicates; undefined = every type the caller may export */
  types?: string[];
  /** _since as an ISO instant */
  since?: string;
  /** _typeFilter: per type, search queries that are alternatives (a resource matching any of them is exported) */
  typeFilters: Record<string, string[]>;
  /** `patient` references of a POST kick-off (Patient and Group level): ids of the patients to export */
  patientIds?: string[];
  /** Parameters this server ignored because the client asked for lenient handling. */
  ignored: string[];
}

export const NDJSON = 'application/fhir+ndjson';
const OUTPUT_FORMATS = new Set([NDJSON, 'application/ndjson', 'ndjson']);
/** Parameters of the IG this server does not implement: an error unless the client asked for lenient handling. */
const UNSUPPORTED = new Set(['_elements', 'includeAssociatedData', 'organizeOutputBy', 'allowPartialManifests']);
/** Parameters of the FHIR REST layer that carry no export meaning. */
const FRAMEWORK = new Set(['_format', '_pretty']);
/** Search result parameters make no sense inside a _typeFilter, which only selects resources. */
const NOT_IN_TYPE_FILTER = /^_(sort|count|include|revinclude|summary|elements|total|contained|containedType|cursor)(:|$)/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const TYPE_FILTER_START = /,(?=[A-Z][A-Za-z]+\?)/;

/** The asynchronous request pattern is the only way this operation runs: both headers are required. */
export function assertKickoffHeaders(req: FhirRequest): void {
  const accept = req.headers.accept ?? '';
  if (!accept.split(',').some((a) => a.split(';')[0].trim().toLowerCase() === 'application/fhir+json')) {
    throw badRequest('Bulk export needs the header Accept: application/fhir+json');
  }
  const prefer = req.headers.prefer ?? '';
  if (!prefer.split(/[,;]/).some((p) => p.trim().toLowerCase() === 'respond-async')) {
    throw badRequest('Bulk export runs asynchronously: send the header Prefer: respond-async');
  }
}

export function isLenient(req: FhirRequest): boolean {
  return /(^|[,;\s])handling\s*=\s*lenient\b/i.test(req.headers.prefer ?? '');
}

/** Reads the kick-off parameters; throws a 400 OperationOutcome naming the parameter that is wrong. */
export function parseExportParameters(req: FhirRequest, level: ExportLevel, groupId?: string): ExportParameters {
  const lenient = isLenient(req);
  const values = req.method === 'POST' ? parametersBody(req.body) : queryValues(req.query);
  const result: ExportParameters = { level, groupId, typeFilters: {}, ignored: [] };
  const refuse = (name: string, message: string) => {
    if (!lenient) throw badRequest(`${message} (send Prefer: handling=lenient to have it ignored)`, name);
    result.ignored.push(name);
  };

  for (const [name, list] of values) {
    if (FRAMEWORK.has(name)) continue;
    switch (name) {
      case '_outputFormat': {
        const format = list[list.length - 1];
        if (!OUTPUT_FORMATS.has(format)) throw badRequest(`_outputFormat '${format}' is not supported: use ${NDJSON}`, '_outputFormat');
        break;
      }
      case '_since': {
        const since = list[list.length - 1];
        if (!INSTANT.test(since) || Number.isNaN(Date.parse(since))) {
          throw badRequest(`_since must be a FHIR instant with a time zone, e.g. 2024-01-31T12:00:00Z; got '${since}'`, '_since');
        }
        result.since = new Date(since).toISOString();
        break;
      }
      case '_type': {
        const types: string[] = [];
        for (const type of list.flatMap((v) => v.split(',')).map((t) => t.trim()).filter(Boolean)) {
          if (!isR4ResourceType(type)) {
            refuse('_type', `_type names an unknown resource type '${type}'`);
            continue;
          }
          if (!types.includes(type)) types.push(type);
        }
        result.types = types;
        break;
      }
      case '_typeFilter':
        for (const filter of list.flatMap((v) => v.split(TYPE_FILTER_START))) addTypeFilter(result, filter);
        break;
      case 'patient':
        if (level === 'system') {
          refuse('patient', 'The patient parameter applies to Patient and Group level exports only');
          break;
        }
        result.patientIds = [...new Set([...(result.patientIds ?? []), ...list.map(patientIdOf)])];
        break;
      default:
        refuse(name, UNSUPPORTED.has(name) ? `${name} is not supported by this server` : `Unknown parameter ${name}`);
    }
  }
  if (result.types) {
    const unknown = Object.keys(result.typeFilters).filter((t) => !result.types?.includes(t));
    if (unknown.length > 0) throw badRequest(`_typeFilter names ${unknown.join(', ')}, which _type does not include`, '_typeFilter');
  }
  return result;
}

function addTypeFilter(result: ExportParameters, filter: string): void {
  const q = filter.indexOf('?');
  const type = q < 0 ? filter : filter.slice(0, q);
  if (q < 0 || !isR4ResourceType(type)) {
    throw badRequest(`_typeFilter must be a resource type and a search query, e.g. Observation?status=final; got '${filter}'`, '_typeFilter');
  }
  const query: Record<string, string[]> = {};
  for (const [name, value] of new URLSearchParams(filter.slice(q + 1))) {
    if (NOT_IN_TYPE_FILTER.test(name)) throw badRequest(`_typeFilter cannot use ${name}: it only selects resources`, '_typeFilter');
    (query[name] ??= []).push(value);
  }
  if (Object.keys(query).length === 0) throw badRequest(`_typeFilter '${filter}' has no search criteria`, '_typeFilter');
  // Parsed now, strictly, so a wrong filter is refused at kick-off rather than failing the job later.
  try {
    parseSearchRequest(type, query, { strict: true });
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      const diagnostics = err.outcome.issue?.[0]?.diagnostics ?? 'invalid search';
      throw new OperationOutcomeError(400, outcome('error', 'invalid', `_typeFilter '${filter}': ${diagnostics}`, '_typeFilter'));
    }
    throw err;
  }
  (result.typeFilters[type] ??= []).push(filter.slice(q + 1));
}

/** Query parameters with repeated names kept apart. */
function queryValues(query: Record<string, string | string[]>): [string, string[]][] {
  return Object.entries(query).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]);
}

function parametersBody(body: unknown): [string, string[]][] {
  const p = body as Parameters | undefined;
  if (!p || p.resourceType !== 'Parameters') throw badRequest('A POST kick-off needs a Parameters resource as its body');
  const byName = new Map<string, string[]>();
  for (const param of p.parameter ?? []) {
    if (!param.name) throw badRequest('Every parameter needs a name', 'Parameters.parameter.name');
    const value = parameterValue(param);
    if (value === undefined) throw badRequest(`Parameter ${param.name} has no value of a supported type`, `Parameters.parameter.where(name='${param.name}')`);
    byName.set(param.name, [...(byName.get(param.name) ?? []), value]);
  }
  return [...byName];
}

function parameterValue(p: ParametersParameter): string | undefined {
  return p.valueString ?? p.valueInstant ?? p.valueDateTime ?? p.valueCode ?? p.valueReference?.reference ?? p.valueUri;
}

function patientIdOf(reference: string): string {
  const m = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(reference);
  if (!m) throw badRequest(`patient must reference a Patient, e.g. Patient/123; got '${reference}'`, 'patient');
  return m[1];
}

/** The request as the status manifest repeats it: the kick-off URL with POST parameters folded in. */
export function requestUrl(baseUrl: string, req: FhirRequest, params: ExportParameters): string {
  const path = `${baseUrl}/${req.path.replace(/^\//, '')}`;
  const q = new URLSearchParams();
  if (req.method === 'POST') {
    if (params.types) q.set('_type', params.types.join(','));
    if (params.since) q.set('_since', params.since);
    for (const [type, filters] of Object.entries(params.typeFilters)) for (const f of filters) q.append('_typeFilter', `${type}?${f}`);
    if (params.patientIds) for (const id of params.patientIds) q.append('patient', `Patient/${id}`);
  } else {
    for (const [k, vs] of queryValues(req.query)) for (const v of vs) q.append(k, v);
  }
  const text = q.toString();
  return text ? `${path}?${text}` : path;
}
