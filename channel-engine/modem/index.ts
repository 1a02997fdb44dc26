/** FSK modem (V.23, Bell 202) for the channel engine: see docs/protocols/modem.md. */
export * from './types';
export { createModulator, type BufferedModulator } from './modulator';
export { createDemodulator, type MeteredDemodulator } from './demodulator';
export { ModemBank, type ModemBankOptions, type BankEventSink } from './bank';
export { TONES, parseModulation, sineAmplitude, meanSquareAt, dbm0OfMeanSquare } from './params';
