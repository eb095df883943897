/**
 * Run by `npm run build:server` after tsc: writes the compact R4 definitions the server loads at start
 * (dist/src/fhir/validation/r4-definitions.json), so that it never parses the full ones.
 */
import { statSync } from 'node:fs';
import { COMPACT_DEFINITIONS_FILE, writeCompactDefinitions } from '../fhir/validation/compact-definitions.js';

writeCompactDefinitions();
process.stdout.write(`R4 definitions: ${COMPACT_DEFINITIONS_FILE} (${(statSync(COMPACT_DEFINITIONS_FILE).size / 1e6).toFixed(1)} MB)\n`);
