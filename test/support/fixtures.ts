import { resolve } from 'node:path';

/**
 * The Synthea R4 fixtures (10 patients, NDJSON) kept beside the repository in ../shared, where the
 * development machines and CI place them.
 */
export const SYNTHEA_DIR = resolve(import.meta.dirname, '../../../shared/fixtures/synthea-10-patients');
