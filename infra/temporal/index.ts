export * from './cli';
export * from './dev-server';
export * from './runtime';
