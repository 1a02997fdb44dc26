/**
 * The terminal protocol as data (docs/protocols/terminal-messages.md): the envelope around the ISO
 * 8583 message, the MAC size, the request size limit, and which MTI and processing code ask for
 * which service. The only place these are written: the access node, the HSM and card activities and
 * the terminal simulator read them from here. Field layouts are the terminal ISO 8583 spec
 * (gateways/iso8583: `terminalSpec`, 63.2 and 62 layouts).
 */
import type { EnvelopeOptions } from '../gateways/iso8583';

/** TPDU (5 bytes) + application header (6 bytes) before the ISO 8583 message; no LRI (the NAC adds it). */
export const TERMINAL_ENVELOPE: EnvelopeOptions = { tpduBytes: 5, applicationHeaderBytes: 6, lri: 'never' };
/** Field 64: the UnionPay MAC, 8 bytes, over MTI..field 63. */
export const MAC_BYTES = 8;
/** Largest terminal request accepted (a 0200 is about 200 bytes). */
export const TERMINAL_REQUEST_BYTES_MAX = 1024;
/** Application header the host answers with when the request carried none. */
export const DEFAULT_APPLICATION_HEADER = '603100000000';

export type TransactionKind =
  'sign-on' | 'purchase' | 'balance' | 'reversal' | 'menu' | 'service' | 'reply' | 'notices';

/** MTI, processing code (F3) and type code (60.1) per transaction, and the service it asks for. */
export const TRANSACTION_CODES = {
  purchase: { mti: '0200', processingCode: '000000', typeCode: '22', serviceId: 'purchase' },
  balance: { mti: '0200', processingCode: '310000', typeCode: '01', serviceId: 'balance-inquiry' },
  'sign-on': { mti: '0800', processingCode: undefined, typeCode: '00', serviceId: 'sign-on' },
  // The phone's reversal of a purchase it did not complete (ADR 0012): `0401` when repeated.
  reversal: { mti: '0400', processingCode: '000000', typeCode: '22', serviceId: 'reversal' },
  // Conversations (ADR 0018): the menu request, the generic service request (its service is the
  // menu item code in field 59, not this route name) and the reply to a prompt.
  menu: { mti: '0800', processingCode: '930000', typeCode: '00', serviceId: 'terminal-menu' },
  service: { mti: '0200', processingCode: '950000', typeCode: '95', serviceId: 'menu-service' },
  reply: { mti: '0200', processingCode: '960000', typeCode: '96', serviceId: 'prompt-reply' },
  // In-call notices (ADR 0021): before it releases, a phone asks for the pushes waiting for it.
  notices: { mti: '0800', processingCode: '940000', typeCode: '00', serviceId: 'terminal-notices' },
} as const satisfies Record<
  TransactionKind,
  { mti: string; processingCode: string | undefined; typeCode: string; serviceId: string }
>;

/** The service a terminal request asks for. */
export type TerminalServiceId = (typeof TRANSACTION_CODES)[TransactionKind]['serviceId'];

/** The MTI of a repeated reversal: routed, opened and answered like its first copy (`0410`). */
export const REVERSAL_REPEAT_MTI = '0401';
/** The MTI of the host's answer to a reversal (and to its repeat). */
export const REVERSAL_ANSWER_MTI = '0410';

/**
 * The phone's reversal message (ADR 0012, docs/protocols/terminal-messages.md): the fields it
 * copies from the original purchase, and the fields of the host's `0410`. 39 carries the reason,
 * 60 the original's type code and batch, 61 the original batch, STAN and date (MMDD), 63 a new
 * PSAM block and 64 the MAC under that new session. No PIN block, no track 2.
 */
export const REVERSAL_FIELDS = {
  copied: [2, 3, 4, 11, 14, 22, 25, 41, 42, 49],
  own: [39, 60, 61, 63, 64],
  answer: [11, 39, 41, 42, 64],
} as const;
/** Field 39 of a reversal: why the phone reverses. */
export const REVERSAL_REASONS = { noAnswer: '98', answerMacInvalid: 'A0' } as const;
/** Field 39 of the `0410`: reversed (or nothing to undo any more), or no such sale. */
export const REVERSAL_ANSWER_CODES = { reversed: '00', originalNotFound: '25' } as const;
/** Field 39 of the MACed answer to a repeat of a sale the phone reversed. */
export const REVERSED_SALE_RESPONSE_CODE = '12';
/** Field 39 for a request that reuses a terminal id and STAN with different bytes. */
export const DUPLICATE_STAN_RESPONSE_CODE = '94';

/** The service for an MTI and processing code; undefined when none is routed. */
export function serviceFor(mti: string, processingCode: string | null): TerminalServiceId | undefined {
  const routed = mti === REVERSAL_REPEAT_MTI ? TRANSACTION_CODES.reversal.mti : mti;
  const codes = Object.values(TRANSACTION_CODES).filter((c) => c.mti === routed);
  // An exact processing code first; a message without one (0800) then routes on its MTI alone.
  const exact = codes.find((c) => c.processingCode !== undefined && c.processingCode === processingCode);
  if (exact !== undefined) return exact.serviceId;
  if (processingCode !== null) return undefined;
  return codes.find((c) => c.processingCode === undefined)?.serviceId;
}

/** The route name of the generic service request: the service is the menu item code in field 59. */
export const MENU_SERVICE_ROUTE = TRANSACTION_CODES.service.serviceId;
/** The route name of a reply to a prompt: it goes to the run waiting on the call. */
export const PROMPT_REPLY_ROUTE = TRANSACTION_CODES.reply.serviceId;
/** The definition that answers menu requests. */
export const MENU_SERVICE_ID = TRANSACTION_CODES.menu.serviceId;

/** Field of the conversation TLV list (BER-TLV, private tags; docs/protocols/terminal-messages.md). */
export const SERVICE_DATA_FIELD = 59;
/** Largest field 59 (its BCD.LLL length prefix). */
export const SERVICE_DATA_BYTES_MAX = 999;
/** Most blocks one menu is downloaded in (a menu larger than one field 59; ADR 0018). */
export const MENU_BLOCKS_MAX = 8;

/**
 * Field 59 tags. Values are ASCII unless said otherwise; `entry`, `input` and `choice` nest a TLV list.
 */
export const SERVICE_TAGS = {
  /** Menu item code: the service id of a definition with a `terminal` block. */
  itemCode: 'DF01',
  /** Menu version (16 hex digits): what the phone holds (request) or the host's (answer). */
  menuVersion: 'DF02',
  /** Menu block (decimal): the block asked for (request, absent = 1) or carried (answer of a multi-block menu). */
  menuBlock: 'DF03',
  /** Blocks of the menu (decimal; answer of a multi-block menu). */
  menuBlocks: 'DF04',
  /** One collected input, `name=value` (service request). */
  inputValue: 'DF10',
  /** Prompt id (screen, reply). */
  promptId: 'DF20',
  /** The keyed value (reply). */
  replyValue: 'DF21',
  /** `A` answered, `C` cancelled by the user (reply). */
  replyStatus: 'DF22',
  /** One line of text on the display (screen), in order. */
  screenLine: 'DF30',
  /** Seconds the host waits for the reply (screen). */
  promptTimeout: 'DF32',
  /** One menu entry (menu answer), nesting code, path, title and inputs. */
  entry: 'DF40',
  /** Menu path, elements joined by `/` (entry). */
  entryPath: 'DF42',
  /** Title shown for the entry and above its inputs (entry). */
  entryTitle: 'DF43',
  /** `1`: the phone reads a card and its PIN before the request (fields 2, 14, 35, 52, 53; entry). */
  entryCard: 'DF44',
  /** One input spec (entry, screen), nesting the tags below. */
  input: 'DF45',
  inputName: 'DF46',
  /** `digits`, `amount` or `choice`. */
  inputKind: 'DF47',
  /** Digits: least and most digits; amount: least and most minor units. */
  inputMin: 'DF48',
  inputMax: 'DF49',
  /** `1`: echo `*` for each key. */
  inputMasked: 'DF4A',
  inputLabel: 'DF4B',
  /** `L`: the digits end in a Luhn check digit (a card number); the phone and the host check it. */
  inputCheck: 'DF4D',
  /** One allowed choice, `key=label` (choice inputs). */
  inputChoice: 'DF4C',
  /** One receipt line for the printer (final answer), in order. */
  receiptLine: 'DF50',
  /** One pushed notice (notice answer), nesting the tags below, oldest first. */
  notice: 'DF60',
  /** The notice's sender number (notice). */
  noticeSender: 'DF61',
  /** The notice's text, printable ASCII that fits the display (notice). */
  noticeText: 'DF62',
} as const;

/** The definition that answers notice requests (ADR 0021, in-call push). */
export const NOTICES_SERVICE_ID = TRANSACTION_CODES.notices.serviceId;

/** Reply status values (SERVICE_TAGS.replyStatus). */
export const REPLY_STATUS = { answered: 'A', cancelled: 'C' } as const;

/** Field 39 of a screen: the request is in progress, a prompt follows (ADR 0018). */
export const PROMPT_RESPONSE_CODE = '09';
/** Field 39 (unsigned) for a reply no prompt waits for: it came too late, or twice after the end. */
export const PROMPT_EXPIRED_RESPONSE_CODE = '68';
/** Field 39 (unsigned) for a service request whose item is not on this terminal's menu. */
export const NOT_ON_MENU_RESPONSE_CODE = '57';
/** Field 39 (unsigned) for a service request or reply whose field 59 is malformed or whose inputs do not fit. */
export const BAD_SERVICE_DATA_RESPONSE_CODE = '30';
