export * from './check';
export * from './spec';
export * from './frame';
export * from './arq';
