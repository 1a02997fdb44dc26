export * from './session';
export * from './terminal';
