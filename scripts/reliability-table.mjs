#!/usr/bin/env node
/**
 * Prints the figures the reliability scenarios recorded (test/.tmp/reliability/*.json,
 * written by `npm run test:reliability`) as the Markdown table of docs/reliability.md.
 *
 *   node scripts/reliability-table.mjs
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(import.meta.dirname, '..', 'test', '.tmp', 'reliability');
if (!existsSync(dir)) {
  console.error(`no records in ${dir}: run npm run test:reliability first`);
  process.exit(2);
}
const rows = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
const ms = (v) => (typeof v === 'number' ? `${(v / 1000).toFixed(1)} s` : v);
console.log('| scenario | items | lost | duplicated | recovered | time to recover | faults |');
console.log('|---|--:|--:|--:|---|--:|---|');
for (const r of rows) console.log(`| ${r.scenario} | ${r.items} | ${r.lost} | ${r.duplicated} | ${r.recovered} | ${ms(r.recoverMs)} | ${r.faults} |`);
