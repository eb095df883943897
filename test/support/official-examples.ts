import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import type { Resource } from '@medplum/fhirtypes';
import type { TestServer } from './app.js';

const examplesDir = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));

/** The official R4 examples (npm package hl7.fhir.r4.examples) of these resource types that have an id. */
export function officialExamples(types: readonly string[]): Resource[] {
  return readdirSync(examplesDir)
    .filter((f) => types.some((t) => f.startsWith(`${t}-`)) && f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(examplesDir, f), 'utf8')) as Resource)
    .filter((r) => types.includes(r.resourceType) && r.id);
}

/** PUT a resource at its own id, as a client storing an example would. */
export function putResource(server: TestServer, resource: Resource): Promise<LightMyRequestResponse> {
  return server.app.inject({
    method: 'PUT',
    url: `/fhir/${resource.resourceType}/${resource.id}`,
    headers: { 'content-type': 'application/fhir+json' },
    payload: resource,
  });
}
