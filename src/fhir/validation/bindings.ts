import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { requiredBindingCodes } from './definitions.js';
import type { ValueSetCodes } from './terminology.js';

/**
 * Required-binding checks. Medplum's structural validator skips terminology, so without them
 * `Appointment.status = "in-progress"` (not an R4 code) would be stored.
 */

export const BINDABLE_TYPES: ReadonlySet<string> = new Set(['code', 'Coding', 'CodeableConcept']);
/** How many allowed codes a message may list before it only names the value set. */
const MAX_LISTED_CODES = 20;

interface CodingLike {
  system?: unknown;
  code?: unknown;
}

/** Checks one value of a code, Coding or CodeableConcept element bound (required) to `valueSet`. */
export function checkRequiredBinding(
  value: unknown,
  type: string,
  valueSet: string,
  path: () => string,
  issues: OperationOutcomeIssue[],
): void {
  const codes = requiredBindingCodes(valueSet);
  if (!codes) return;
  if (type === 'code') {
    // A value of the wrong JSON type is already reported by the structural pass.
    if (typeof value === 'string' && !codes.codes.has(value)) {
      issues.push(codeIssue(`Code "${value}" is not in ${describe(codes)}`, path()));
    }
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (type === 'Coding') {
    const coding = value as CodingLike;
    if (typeof coding.code === 'string' && !codingMatches(coding, codes)) {
      issues.push(codeIssue(`Coding ${formatCoding(coding)} is not in ${describe(codes)}`, path()));
    }
    return;
  }
  const codings = (value as { coding?: unknown }).coding;
  const list: unknown[] = Array.isArray(codings) ? codings : [];
  if (!list.some((c) => isCoding(c) && typeof c.code === 'string' && codingMatches(c, codes))) {
    const given =
      list.length > 0 ? `None of the codings ${list.map(formatCoding).join(', ')} is` : 'No coding is given; one is required and must be';
    issues.push(codeIssue(`${given} in ${describe(codes)}`, path()));
  }
}

function isCoding(value: unknown): value is CodingLike {
  return typeof value === 'object' && value !== null;
}

function codingMatches(coding: CodingLike, codes: ValueSetCodes): boolean {
  const code = coding.code as string;
  if (typeof coding.system !== 'string') return codes.codes.has(code);
  return codes.bySystem.get(coding.system)?.has(code) ?? false;
}

function formatCoding(coding: unknown): string {
  if (!isCoding(coding)) return '(not a Coding)';
  return typeof coding.system === 'string' ? `${coding.system}#${String(coding.code)}` : `"${String(coding.code)}"`;
}

function describe(codes: ValueSetCodes): string {
  const name = codes.name ? `${codes.name} (${codes.url})` : codes.url;
  if (codes.codes.size > MAX_LISTED_CODES) return `the required value set ${name}`;
  return `the required value set ${name}; allowed: ${[...codes.codes].join(', ')}`;
}

function codeIssue(diagnostics: string, expression: string): OperationOutcomeIssue {
  return { severity: 'error', code: 'code-invalid', diagnostics, expression: [expression] };
}
