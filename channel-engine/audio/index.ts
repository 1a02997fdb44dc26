/** Audio utilities for the channel engine: G.711, WAV, seeded noise, dBm0 levels. */
export * from './g711';
export * from './wav';
export * from './noise';
export * from './level';
export * from './dtmf';
