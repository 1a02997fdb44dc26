import type { ResultCodeEntry } from './types';

/** FP3000–FP3499: FSK modem, audio files and codecs, on-hook (caller-ID style) messages. */
export const modemCodes = [
  {
    code: 'FP3000',
    name: 'MODEM_BAD_OPTIONS',
    message: 'The modem options are invalid',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP3001',
    name: 'AUDIO_BAD_WAV',
    message: 'The WAV file is malformed or truncated',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP3002',
    name: 'AUDIO_UNSUPPORTED_FORMAT',
    message: 'The audio format is not supported (8 kHz mono PCM16, mu-law or A-law only)',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP3003',
    name: 'AUDIO_BAD_INPUT',
    message: 'The audio input is invalid',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP3004',
    name: 'CALLERID_BAD_MESSAGE',
    message: 'The on-hook data message is malformed',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP3005',
    name: 'CALLERID_CHECKSUM',
    message: 'The on-hook data message checksum does not match',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP3006',
    name: 'CALLERID_TOO_LONG',
    message: 'The on-hook data message exceeds its length limit',
    httpStatus: 400,
    retryable: false,
  },
] as const satisfies readonly ResultCodeEntry[];
