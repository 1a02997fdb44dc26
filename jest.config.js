// Three projects: pure unit tests, workflow tests (real Temporal dev server), integration tests
// (real database, sockets, processes). See docs/testing.md.
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
const common = {
  transform,
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.fixpay/'],
};
module.exports = {
  // Default per test when a test names none: jest's 5 s is less than one run, fetch or replay on a
  // busy CI machine. Tests that need more set their own.
  testTimeout: 30_000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/**/*.test.ts'],
      testPathIgnorePatterns: [...common.testPathIgnorePatterns, '\\.wf\\.test\\.ts$', '\\.int\\.test\\.ts$'],
    },
    { ...common, displayName: 'workflow', testMatch: ['<rootDir>/**/*.wf.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/**/*.int.test.ts'] },
  ],
};
