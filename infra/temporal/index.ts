export * from './cli';
export * from './dev-server';
export * from './runtime';
export * from './search-attributes';
export * from './health';
export * from './tls';
