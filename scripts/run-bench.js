#!/usr/bin/env node
// Runs every benchmark under dist/bench/ in turn (or those whose name contains an argument).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const dir = path.resolve(__dirname, '../dist/bench');
const filter = process.argv.slice(2);
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.js')).sort()) {
  if (filter.length && !filter.some((x) => f.includes(x))) continue;
  console.log(`\n## ${f}`);
  const r = spawnSync(process.execPath, [path.join(dir, f)], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}
