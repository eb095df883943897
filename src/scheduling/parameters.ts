import type { Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { badRequest } from '../fhir/outcomes.js';
import type { FhirRequest } from '../fhir/rest/types.js';

/**
 * Operation inputs as one lookup, whether they came as a Parameters body (POST) or as URL parameters (GET):
 * FHIR allows both for operations that change nothing, and $find is one.
 */
export class OperationInput {
  private constructor(private readonly params: ParametersParameter[]) {}

  static from(req: FhirRequest): OperationInput {
    const params: ParametersParameter[] = [];
    for (const [name, value] of Object.entries(req.query)) {
      for (const v of Array.isArray(value) ? value : [value]) params.push({ name, valueString: v });
    }
    const body = req.body as Parameters | Resource | undefined;
    if (body && typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length > 0) {
      if (body.resourceType !== 'Parameters') throw badRequest(`The body of this operation must be Parameters, not ${String(body.resourceType)}`, 'resourceType');
      params.push(...((body as Parameters).parameter ?? []));
    }
    return new OperationInput(params);
  }

  all(name: string): ParametersParameter[] {
    return this.params.filter((p) => p.name === name);
  }

  one(name: string): ParametersParameter | undefined {
    const found = this.all(name);
    if (found.length > 1) throw badRequest(`The parameter '${name}' may be given once`, path(name));
    return found[0];
  }

  /** A string-like value: valueString, valueCode, valueUri, valueDateTime, valueDate, valueInstant, valueInteger… */
  text(name: string): string | undefined {
    const p = this.one(name);
    return p ? textOf(p) : undefined;
  }

  texts(name: string): string[] {
    return this.all(name).map((p) => textOf(p)).filter((v): v is string => v !== undefined);
  }

  /** An instant or date, for start/end. */
  time(name: string): Date | undefined {
    const v = this.text(name);
    if (v === undefined) return undefined;
    const t = Date.parse(v);
    if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(t)) throw badRequest(`'${name}' must be a date or instant, got '${v}'`, path(name));
    return new Date(t);
  }

  integer(name: string): number | undefined {
    const v = this.text(name);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw badRequest(`'${name}' must be a whole number, got '${v}'`, path(name));
    return Number(v);
  }

  resource<T extends Resource>(name: string): T | undefined {
    return this.one(name)?.resource as T | undefined;
  }
}

export function path(name: string): string {
  return `Parameters.parameter.where(name='${name}')`;
}

function textOf(p: ParametersParameter): string | undefined {
  if (p.valueReference?.reference) return p.valueReference.reference;
  if (p.valueCoding?.code) return p.valueCoding.system ? `${p.valueCoding.system}|${p.valueCoding.code}` : p.valueCoding.code;
  const cc = p.valueCodeableConcept?.coding?.[0];
  if (cc?.code) return cc.system ? `${cc.system}|${cc.code}` : cc.code;
  if (p.valueDuration?.value !== undefined) return String(Math.round(p.valueDuration.value * (p.valueDuration.code === 'h' ? 60 : 1)));
  const v =
    p.valueString ?? p.valueCode ?? p.valueUri ?? p.valueId ?? p.valueDateTime ?? p.valueDate ?? p.valueInstant ??
    (p.valueInteger !== undefined ? String(p.valueInteger) : undefined) ??
    (p.valuePositiveInt !== undefined ? String(p.valuePositiveInt) : undefined) ??
    (p.valueBoolean !== undefined ? String(p.valueBoolean) : undefined);
  return v;
}
