#!/usr/bin/env node
/**
 * Prints the figures the reliability scenarios recorded in the last vitest
 * run (test/.tmp/reliability/*.json, written by `npm run test:reliability`) as
 * the Markdown table of docs/reliability.md. Only rows of that run are
 * printed (global-setup clears the directory and tags the run with an id); a
 * scenario whose test failed shows as FAILED, with the figures it measured
 * before failing; a figure it never measured shows as "?".
 *
 *   node scripts/reliability-table.mjs
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(import.meta.dirname, '..', 'test', '.tmp', 'reliability');
const runFile = join(dir, 'run.json');
if (!existsSync(runFile)) {
  console.error(`no records in ${dir}: run npm run test:reliability first`);
  process.exit(2);
}
const { runId } = JSON.parse(readFileSync(runFile, 'utf8'));
const rows = readdirSync(dir)
  .filter((f) => f.endsWith('.json') && f !== 'run.json')
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
  .filter((r) => r.runId === runId)
  .sort((a, b) => a.scenario.localeCompare(b.scenario));
if (rows.length === 0) {
  console.error(`no scenario recorded figures in run ${runId}`);
  process.exit(1);
}
const shown = (v) => (v === undefined || v === null ? '?' : v);
const ms = (v) => (typeof v === 'number' ? `${(v / 1000).toFixed(1)} s` : shown(v));
console.log('| scenario | items | lost | duplicated | recovered | time to recover | faults |');
console.log('|---|--:|--:|--:|---|--:|---|');
for (const r of rows) {
  const name = r.status === 'passed' ? r.scenario : `${r.scenario} (**FAILED**)`;
  console.log(
    `| ${name} | ${shown(r.items)} | ${shown(r.lost)} | ${shown(r.duplicated)} | ${shown(r.recovered)} | ${ms(r.recoverMs)} | ${shown(r.faults)} |`,
  );
}
console.log(`\nrun ${runId}`);
