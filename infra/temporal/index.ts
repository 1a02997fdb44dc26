export * from './cli';
export * from './dev-server';
