import type { ResultCodeEntry } from './types';

/** FP7800–FP7899: the terminal simulator (`fixpay sim terminal`, `simulator/terminal/`). */
export const terminalSimCodes = [
  {
    code: 'FP7800',
    name: 'TERMINAL_SIM_CONFIG_INVALID',
    message: 'The terminal simulator configuration or state file is invalid',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP7801',
    name: 'TERMINAL_SIM_SCRIPT_INVALID',
    message: 'The terminal simulator script is invalid',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP7802',
    name: 'TERMINAL_SIM_DIAL_FAILED',
    message: 'The terminal could not establish the call',
    httpStatus: 502,
    retryable: true,
  },
  {
    code: 'FP7803',
    name: 'TERMINAL_SIM_NO_HOST',
    message: 'The host did not start the link (no EST) in time',
    httpStatus: 504,
    retryable: true,
  },
  {
    code: 'FP7804',
    name: 'TERMINAL_SIM_LINK_FAILED',
    message: 'The request could not be delivered over the link',
    httpStatus: 502,
    retryable: true,
  },
  {
    code: 'FP7805',
    name: 'TERMINAL_SIM_NO_RESPONSE',
    message: 'No response from the host in time',
    httpStatus: 504,
    retryable: true,
  },
  {
    code: 'FP7806',
    name: 'TERMINAL_SIM_CALL_DROPPED',
    message: 'The call ended before the response arrived',
    httpStatus: 502,
    retryable: true,
  },
  {
    code: 'FP7807',
    name: 'TERMINAL_SIM_RESPONSE_INVALID',
    message: 'The response is malformed or does not match the request',
    httpStatus: 502,
    retryable: false,
  },
  {
    code: 'FP7808',
    name: 'TERMINAL_SIM_RESPONSE_MAC_INVALID',
    message: 'The response MAC does not verify',
    httpStatus: 502,
    retryable: false,
  },
  {
    code: 'FP7809',
    name: 'TERMINAL_SIM_NOT_SIGNED_ON',
    message: 'The terminal has no working keys: sign on first',
    httpStatus: 409,
    retryable: false,
  },
  {
    code: 'FP7810',
    name: 'TERMINAL_SIM_KEY_LOAD_FAILED',
    message: 'The working keys of the sign-on response do not match their check values',
    httpStatus: 502,
    retryable: false,
  },
  {
    code: 'FP7811',
    name: 'TERMINAL_SIM_NOTHING_TO_REPEAT',
    message: 'There is no earlier request to repeat',
    httpStatus: 409,
    retryable: false,
  },
] as const satisfies readonly ResultCodeEntry[];
