// Lint: strict TypeScript rules plus the dependency rules of docs/architecture.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

/** Every Node built-in, with and without `node:`, and their subpaths (`fs/promises`); bare names only, so `../domain` is not Node's `domain`. */
const nodeBuiltins = (message) => ({
  regex: `^(node:.*|(${builtinModules.map((m) => m.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})(/.*)?)$`,
  message,
});
const io = ['pg', '@prisma/*', '@electric-sql/*', 'express', 'pino', '**/generated/**'];
const wiring = ['**/worker/**', '**/cli/**', '**/simulator/**', '**/api/**', '**/demo/**'];
/** Adapters: each may use domain/, schema/, config/, infra/, never another adapter. */
const adapters = ['gateways', 'hsm', 'ledger', 'channel-engine', 'core', 'partners'];
const otherAdapters = (self) =>
  adapters
    .filter((a) => a !== self)
    .flatMap((a) => [1, 2, 3].flatMap((d) => ['../'.repeat(d) + a, `${'../'.repeat(d)}${a}/**`]));
const topFolders = [
  'workflows',
  'activities',
  'channel-engine',
  'schema',
  'prisma',
  'gateways',
  'hsm',
  'ledger',
  'api',
  'worker',
  'config',
  'simulator',
  'cli',
  'test',
  'definitions',
  'generated',
  'core',
  'services',
  'codec',
  'infra',
  'bench',
  'scripts',
  'demo',
  'terminal-protocol',
  'partners',
];
const outsideDomain = topFolders.flatMap((f) => [`../${f}`, `../${f}/**`, `../../${f}`, `../../${f}/**`]);

/** @param {string[]} group @param {string} message */
const forbid = (group, message) => ({ group, message });

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.fixpay/**', 'generated/**', 'coverage/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'read settings through config/ (loadConfig, processEnv)' },
      ],
      'no-restricted-imports': [
        'error',
        { patterns: [forbid(wiring, 'only worker/, cli/, simulator/ and test/ wire the app together')] },
      ],
    },
  },
  {
    files: ['domain/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^[^.]', message: 'domain/ is pure: no packages, no Node built-ins' },
            forbid(outsideDomain, 'domain/ imports nothing outside itself'),
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            nodeBuiltins('workflow code runs in the Temporal sandbox: no Node built-ins'),
            forbid(io, 'workflow code is deterministic: no database, sockets or loggers'),
            forbid(
              ['**/channel-engine/**', '**/gateways/**', '**/hsm/**', '**/ledger/**', '**/config/**', ...wiring],
              'workflows import domain/ and activity types only',
            ),
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports' }],
    },
  },
  ...adapters.map((self) => ({
    files: [`${self}/**/*.ts`],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            forbid(
              [...wiring, '**/activities/**', '**/workflows/**'],
              'adapters depend inward (domain, schema, config), never on the wiring',
            ),
            forbid(otherAdapters(self), 'adapters never import each other: compose them in worker/ or cli/'),
          ],
        },
      ],
    },
  })),
  {
    files: ['codec/**/*.ts', 'infra/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            forbid(
              [...wiring, '**/activities/**', '**/workflows/**'],
              'adapters depend inward (domain, schema, config), never on the wiring',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['cli/**/*.ts', 'worker/**/*.ts', 'simulator/**/*.ts', 'test/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['demo/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Production roles: what `fixpay worker`, `fixpay access-node` and `fixpay api` load.
    files: [
      'worker/**/*.ts',
      'cli/roles.ts',
      'cli/role-process.ts',
      'cli/commands/worker.ts',
      'cli/commands/access-node.ts',
      'cli/commands/api.ts',
    ],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            forbid(
              ['**/simulator/**', '**/demo/**', '**/test/**', '**/__fixtures__/**'],
              'production roles import no simulator, demo data or test support (the demo room is demo/)',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['config/**/*.ts', '**/*.test.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/explicit-module-boundary-types': 'off',
    },
  },
);
