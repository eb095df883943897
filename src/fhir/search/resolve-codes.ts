import type { Queryable } from '../../db/database.js';
import { OperationOutcomeError, outcome } from '../outcomes.js';
import { isHasFilter, splitPipe, TERMINOLOGY_MODIFIERS, unescapeValue, type HasFilter, type SearchFilter, type SearchRequest } from './parse.js';
import { expandValueSet, subsumption, TerminologyNotSupported, TerminologySource, type CodeMatch } from './terminology.js';

/*
 * Token `:in`, `:not-in`, `:below` and `:above` need value sets and code systems, some of them stored in the
 * database, so their codes are looked up here, before the (synchronous) query builder runs, and attached to
 * the filter. What the server cannot evaluate (an unknown code system, an unsupported value set filter) is a
 * 400 under `Prefer: handling=strict`; under lenient handling the parameter is ignored and reported, like an
 * unknown parameter. An unknown value set is always a 400: the client named something that does not exist.
 */

function notSupported(key: string, message: string): OperationOutcomeError {
  return new OperationOutcomeError(400, outcome('error', 'not-supported', message, key));
}

async function codesOf(source: TerminologySource, f: SearchFilter): Promise<CodeMatch[]> {
  const codes: CodeMatch[] = [];
  for (const raw of f.values) {
    if (f.modifier === 'in' || f.modifier === 'not-in') {
      codes.push(...(await expandValueSet(source, unescapeValue(raw))));
      continue;
    }
    const parts = splitPipe(raw);
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new TerminologyNotSupported(`:${f.modifier} takes system|code, got ${raw}: without the system the hierarchy is unknown`);
    }
    codes.push(...(await subsumption(source, parts[0], parts[1], f.modifier as 'below' | 'above')));
  }
  return codes;
}

async function resolveFilter(source: TerminologySource, f: SearchFilter | HasFilter): Promise<void> {
  if (isHasFilter(f)) return resolveFilter(source, f.filter);
  for (const link of f.chain ?? []) await resolveFilter(source, link.filter);
  if (f.param.type !== 'token' || !f.modifier || !TERMINOLOGY_MODIFIERS.has(f.modifier)) return;
  f.codes = await codesOf(source, f);
}

/** Fills in the codes of every terminology-based token filter of a request (also inside chains and _has). */
export async function resolveCodes(db: Queryable, orgId: string, request: SearchRequest): Promise<void> {
  if (!needsTerminology(request.filters)) return;
  const source = new TerminologySource(db, orgId);
  const kept: (SearchFilter | HasFilter)[] = [];
  const dropped = new Set<string>();
  for (const f of request.filters) {
    try {
      await resolveFilter(source, f);
      kept.push(f);
    } catch (err) {
      if (!(err instanceof TerminologyNotSupported)) throw err;
      const key = f.key ?? '';
      if (request.strict) throw notSupported(key, err.message);
      dropped.add(key);
    }
  }
  if (dropped.size === 0) return;
  request.filters = kept;
  request.ignored.push(...dropped);
  request.query = request.query.filter(([k]) => !dropped.has(k));
}

function needsTerminology(filters: (SearchFilter | HasFilter)[]): boolean {
  return filters.some((f) =>
    isHasFilter(f)
      ? needsTerminology([f.filter])
      : (f.param.type === 'token' && f.modifier !== undefined && TERMINOLOGY_MODIFIERS.has(f.modifier)) || needsTerminology((f.chain ?? []).map((c) => c.filter)),
  );
}
