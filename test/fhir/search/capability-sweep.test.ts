import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, CapabilityStatement } from '@medplum/fhirtypes';
import { getSearchParam, type ComponentParamType } from '../../../src/fhir/search/parameters.js';
import { createTestServer, type TestServer } from '../../support/app.js';
import { testDatabaseKinds } from '../../support/db.js';
import { officialExamples, putResource } from '../../support/official-examples.js';

/*
 * Every search parameter the CapabilityStatement lists is searched, on every resource type: under strict
 * handling each is accepted and answered (no 400 for a listed parameter, no 500), and on types with stored
 * official examples, `:missing=true` and `:missing=false` split them into two parts that together are all of them.
 */

/** The official examples of a few types, stored before the sweep so the searches meet real rows. */
const EXAMPLE_TYPES = ['Patient', 'Encounter', 'Observation', 'Condition', 'Appointment', 'MedicationRequest', 'Procedure', 'Practitioner'];
const examples = officialExamples(EXAMPLE_TYPES);

/** A well-formed search value of each type, as a client would write one. */
const VALUE: Record<ComponentParamType, string> = {
  token: 'urn:test:sweep|x',
  string: 'x',
  date: 'ge2020-01-01',
  number: 'gt1',
  quantity: 'gt1',
  reference: 'x',
  uri: 'http://example.org/sweep',
};

function valueOf(resourceType: string, name: string, type: string): string {
  if (type !== 'composite') return VALUE[type as ComponentParamType];
  const components = getSearchParam(resourceType, name)!.components!;
  return components.map((c) => VALUE[c.type].replace(/^(ge|gt)/, '')).join('$');
}

/** Whether the CapabilityStatement's documentation of a parameter lists a modifier. */
const lists = (param: { documentation?: string }, modifier: string) => /Modifiers: [^.]*/.exec(param.documentation ?? '')?.[0].split(', ').some((m) => m.endsWith(modifier)) ?? false;

describe.each(testDatabaseKinds())('every search parameter of the CapabilityStatement on %s', (kind) => {
  let server: TestServer;
  let statement: CapabilityStatement;
  const stored = new Map<string, Set<string>>();

  beforeAll(async () => {
    server = await createTestServer(kind);
    for (const example of examples) {
      const put = await putResource(server, example);
      if (put.statusCode === 201) (stored.get(example.resourceType) ?? stored.set(example.resourceType, new Set()).get(example.resourceType)!).add(example.id!);
    }
    statement = (await server.app.inject({ method: 'GET', url: '/fhir/metadata' })).json();
  }, 300_000);
  afterAll(async () => server?.close());

  const search = async (type: string, query: string) =>
    server.app.inject({ method: 'GET', url: `/fhir/${type}?${query}&_count=1000&_elements=id`, headers: { prefer: 'handling=strict' } });

  it('stores most of the official examples of the example types', () => {
    const count = [...stored.values()].reduce((n, ids) => n + ids.size, 0);
    expect(count).toBeGreaterThan(examples.length * 0.9);
  });

  it('accepts and answers each listed parameter with a value of its type, and with :missing', async () => {
    const failures: string[] = [];
    let searched = 0;
    for (const resource of statement.rest![0].resource!) {
      for (const param of resource.searchParam ?? []) {
        // :missing where the parameter's documentation lists it; where it does not, strict handling refuses it.
        const checks: [query: string, status: number][] = [
          [`${param.name}=${encodeURIComponent(valueOf(resource.type, param.name, param.type))}`, 200],
          [`${param.name}:missing=true`, lists(param, ':missing') ? 200 : 400],
        ];
        for (const [query, status] of checks) {
          const res = await search(resource.type, query);
          searched++;
          if (res.statusCode !== status) failures.push(`${resource.type}?${query}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(searched).toBeGreaterThan(2000);
  }, 600_000);

  it(':missing=true and :missing=false split the stored examples of a type in two, for every parameter', async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const resource of statement.rest![0].resource!.filter((r) => stored.has(r.type))) {
      const all = [...stored.get(resource.type)!].sort();
      for (const param of (resource.searchParam ?? []).filter((p) => lists(p, ':missing'))) {
        const ids = async (missing: boolean) => {
          const bundle = (await search(resource.type, `${param.name}:missing=${missing}`)).json() as Bundle;
          return (bundle.entry ?? []).map((e) => e.resource!.id!);
        };
        const [absent, present] = [await ids(true), await ids(false)];
        checked++;
        const both = [...absent, ...present].sort();
        if (JSON.stringify(both) !== JSON.stringify(all)) failures.push(`${resource.type} ${param.name}: ${absent.length} missing + ${present.length} present of ${all.length}`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(200);
  }, 300_000);
});
