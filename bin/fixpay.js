#!/usr/bin/env node
'use strict';
// The one fixpay CLI. Runs the TypeScript sources directly through tsx, so a fresh clone needs no
// build step; `npm run build` type-checks and emits dist/ for production images.
const path = require('node:path');
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(
    `fixpay needs Node 22 or later (this is ${process.version}). Run it through npm (\`npm start\`, \`npm run fixpay -- …\`) or \`npx fixpay\`, which use the Node 24 that npm ci installed.`,
  );
  process.exit(1);
}
require('tsx/cjs/api').register();
require(path.join(__dirname, '..', 'cli', 'main.ts'))
  .main(process.argv)
  .catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
