/** Card network gateway: framing, channel, mux, reversals (store-and-forward), settlement. */
export * from './channel';
export * from './framing';
export * from './gateway';
export * from './journal';
export * from './logger';
export * from './mac';
export * from './mux';
export * from './reversal-forwarder';
export * from './reversal-queue';
export * from './settlement';
export * from './transactions';
