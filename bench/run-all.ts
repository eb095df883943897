/**
 * npm run bench — every benchmark, one after another (they would disturb each other in parallel on a small
 * machine). Each prints its own table, the product beside its baseline measured in the same run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const benches = ['crud', 'search', 'meetings', 'signaling', 'scheduling', 'export'];
const only = process.argv.slice(2);
let failed = 0;
for (const name of only.length ? only : benches) {
  const file = `bench/${name}.ts`;
  if (!existsSync(file)) continue;
  process.stdout.write(`\n## bench:${name}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], { stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    failed++;
    process.stdout.write(`bench:${name} exited with ${r.status}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
