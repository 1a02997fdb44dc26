#!/usr/bin/env node
'use strict';
// The test command (`npm test`): type-check, lint, then every jest project (unit, workflow on a
// real Temporal dev server, integration on a real database and real sockets). Ends with one
// summary line `tests: N passed, N failed, N skipped`.
//
//   npm test                 everything
//   npm test -- --quick      skip type-check and lint
//   npm test -- <jest args>  e.g. --selectProjects unit
const { spawnSync } = require('node:child_process');
const { existsSync, readFileSync, mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jestArgs = args.filter((a) => a !== '--quick');

function run(label, cmd, cmdArgs, options = {}) {
  const started = Date.now();
  process.stderr.write(`\n▶ ${label}\n`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', ...options });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  process.stderr.write(`${r.status === 0 ? '✔' : '✖'} ${label} (${secs} s)\n`);
  return r.status === 0;
}

let ok = true;
if (!existsSync(path.join(root, 'generated', 'prisma', 'client.ts'))) {
  ok = run('generate Prisma client', process.execPath, [path.join(__dirname, 'prisma-generate.js')]) && ok;
}
// Workflow tests need a Temporal CLI binary; build it once if Go is here (about 4 minutes).
const fixpay = path.join(root, 'bin', 'fixpay.js');
const found = spawnSync(process.execPath, [fixpay, 'temporal', 'path'], { cwd: root, stdio: 'pipe' });
if (found.status !== 0)
  run('build the Temporal CLI (first run only)', process.execPath, [fixpay, 'temporal', 'install']);

if (!quick) {
  ok = run('type-check', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']) && ok;
  ok = run('lint', bin('eslint'), ['.', '--max-warnings', '0']) && ok;
}

const out = mkdtempSync(path.join(tmpdir(), 'fixpay-jest-'));
const report = path.join(out, 'report.json');
const jestOk = run('jest (unit, workflow, integration)', bin('jest'), [
  '--json',
  '--outputFile',
  report,
  '--maxWorkers',
  '2',
  ...jestArgs,
]);
ok = jestOk && ok;

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests + (r.numRuntimeErrorTestSuites > 0 ? r.numRuntimeErrorTestSuites : 0);
  skipped = r.numPendingTests + r.numTodoTests;
} else if (!jestOk) {
  failed = 1;
}
rmSync(out, { recursive: true, force: true });
if (!ok && failed === 0) failed = 1; // type-check or lint failed
process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(ok ? 0 : 1);
