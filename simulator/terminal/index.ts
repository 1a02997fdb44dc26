/** The terminal simulator (issue 7): a POS phone with PSAM, card reader, PIN pad, display and FSK line. */
export * from './config';
export * from './line';
export * from './messages';
export * from './script';
export * from './terminal';
export * from './interactive';
export * from './push-receiver';
