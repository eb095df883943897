import { createReadStream, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { normalizeError } from '../outcomes.js';
import { processBundle } from '../rest/bundle.js';
import { routeFhirRequest, type RouterOptions } from '../rest/router.js';
import { allowAll, type FhirContext } from '../rest/types.js';
import type { FhirRepository } from '../repository/repository.js';

export interface ImportProgress {
  file: string;
  linesRead: number;
  loaded: number;
  rejected: number;
}

export interface ImportSummary {
  loaded: number;
  rejected: { file: string; line: number; reason: string }[];
  byType: Record<string, number>;
}

/**
 * Referenced resources first, so that conditional references (Practitioner?identifier=…) and plain ones find
 * their targets; everything else after, in name order.
 */
const TYPE_ORDER = ['Organization', 'Location', 'Practitioner', 'PractitionerRole', 'Patient', 'Encounter'];

/**
 * Loads a folder of FHIR NDJSON files through the normal write path (validation, versioning, indexing), in
 * transaction Bundles of batchSize resources. Resources keep their ids (PUT), so references between files
 * stay valid. A batch that fails is retried entry by entry so one bad resource rejects only itself.
 */
export async function importNdjsonFolder(opts: {
  repo: FhirRepository;
  folder: string;
  batchSize?: number;
  onProgress?: (p: ImportProgress) => void;
}): Promise<ImportSummary> {
  const batchSize = opts.batchSize ?? 200;
  const files = readdirSync(opts.folder)
    .filter((f) => f.endsWith('.ndjson'))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const summary: ImportSummary = { loaded: 0, rejected: [], byType: {} };
  const ctx: FhirContext = { repo: opts.repo, access: allowAll };
  const router: RouterOptions = { operations: new Map(), capabilityStatement: () => ({ resourceType: 'CapabilityStatement' }) as Resource };
  const route = (req: Parameters<typeof routeFhirRequest>[0], c: FhirContext) => routeFhirRequest(req, c, router);

  for (const file of files) {
    const progress: ImportProgress = { file, linesRead: 0, loaded: 0, rejected: 0 };
    let batch: { line: number; resource: Resource }[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const result = await loadBatch(batch, ctx, route);
      for (const r of result) {
        if (r.ok) {
          summary.loaded++;
          progress.loaded++;
          summary.byType[r.type] = (summary.byType[r.type] ?? 0) + 1;
        } else {
          summary.rejected.push({ file, line: r.line, reason: r.reason });
          progress.rejected++;
        }
      }
      batch = [];
      opts.onProgress?.({ ...progress });
    };
    const lines = createInterface({ input: createReadStream(join(opts.folder, file), 'utf8'), crlfDelay: Infinity });
    for await (const text of lines) {
      progress.linesRead++;
      if (text.trim() === '') continue;
      try {
        batch.push({ line: progress.linesRead, resource: JSON.parse(text) as Resource });
      } catch (err) {
        summary.rejected.push({ file, line: progress.linesRead, reason: `not JSON: ${(err as Error).message}` });
        progress.rejected++;
      }
      if (batch.length >= batchSize) await flush();
    }
    await flush();
  }
  return summary;
}

function rank(file: string): number {
  const type = file.split('.')[0];
  const i = TYPE_ORDER.indexOf(type);
  return i === -1 ? TYPE_ORDER.length : i;
}

type EntryResult = { ok: true; type: string; line: number } | { ok: false; line: number; reason: string };

async function loadBatch(
  batch: { line: number; resource: Resource }[],
  ctx: FhirContext,
  route: (req: Parameters<typeof routeFhirRequest>[0], c: FhirContext) => ReturnType<typeof routeFhirRequest>,
): Promise<EntryResult[]> {
  const entry = (r: Resource): BundleEntry =>
    r.id ? { resource: r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } } : { resource: r, request: { method: 'POST', url: r.resourceType } };
  try {
    await processBundle(
      { method: 'POST', path: '', query: {}, headers: { prefer: 'return=minimal' }, body: { resourceType: 'Bundle', type: 'transaction', entry: batch.map((b) => entry(b.resource)) } },
      ctx,
      route,
    );
    return batch.map((b) => ({ ok: true, type: b.resource.resourceType, line: b.line }));
  } catch {
    // Find the bad ones: each resource on its own, in its own transaction (so conditional references resolve).
    const results: EntryResult[] = [];
    for (const b of batch) {
      try {
        await processBundle(
          { method: 'POST', path: '', query: {}, headers: { prefer: 'return=minimal' }, body: { resourceType: 'Bundle', type: 'transaction', entry: [entry(b.resource)] } as Bundle },
          ctx,
          route,
        );
        results.push({ ok: true, type: b.resource.resourceType, line: b.line });
      } catch (err) {
        const e = normalizeError(err);
        const reason = e.outcome.issue.map((i) => i.diagnostics ?? i.code).join('; ');
        results.push({ ok: false, line: b.line, reason: `${b.resource.resourceType}/${b.resource.id ?? '(no id)'}: ${reason}` });
      }
    }
    return results;
  }
}
