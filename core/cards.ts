/**
 * The prepaid card programme's pure rules (ADR 0026, docs/cards.md): card numbers from a BIN range
 * with a Luhn check digit, expiry and service code, the card lifecycle, and the on-us decision for
 * one authorisation. No I/O; the HSM computes CVVs and PINs, `cards/` stores and authorises.
 */
import type { BinRoute, CoreResult } from './model';
import { refuse } from './model';

/** The network name a BIN route carries when the range is our own programme's: authorised on-us. */
export const ON_US_NETWORK = 'onus';

/** Service code of a programme card unless it says otherwise: international, issuer online, PIN required. */
export const SERVICE_CODE_DEFAULT = '120';
export const CARD_VALIDITY_MONTHS_DEFAULT = 36;
export const CARD_PAN_LENGTH_DEFAULT = 16;
/** Largest batch one issuance may ask for. */
export const CARD_BATCH_SIZE_MAX = 10_000;

export const CARD_STATES = ['issued', 'active', 'blocked', 'replaced'] as const;
export type CardState = (typeof CARD_STATES)[number];
export const CARD_EVENTS = ['activate', 'block', 'unblock', 'replace'] as const;
export type CardEvent = (typeof CARD_EVENTS)[number];

/** issued → active on activation; active ⇄ blocked; active or blocked → replaced (a new card takes over). */
const TRANSITIONS: Readonly<Record<CardState, Partial<Record<CardEvent, CardState>>>> = {
  issued: { activate: 'active', block: 'blocked' },
  active: { block: 'blocked', replace: 'replaced' },
  blocked: { unblock: 'active', replace: 'replaced' },
  replaced: {},
};

export function nextCardState(state: CardState, event: CardEvent): CoreResult<CardState> {
  const to = TRANSITIONS[state][event];
  return to === undefined ? refuse('CARD_TRANSITION_INVALID', `${event} from ${state}`) : { ok: true, value: to };
}

/** The Luhn (mod 10) check digit for `digits`. */
export function luhnCheckDigit(digits: string): string {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

export function isLuhnValid(pan: string): boolean {
  return /^\d{12,19}$/.test(pan) && luhnCheckDigit(pan.slice(0, -1)) === pan.slice(-1);
}

/**
 * The card number for sequence `sequence` of a BIN: BIN, the sequence zero-padded to fill, and the
 * check digit. Refuses a BIN that is not 6–11 digits, a length outside 13–19 and a sequence that
 * does not fit.
 */
export function panFor(bin: string, sequence: number, length = CARD_PAN_LENGTH_DEFAULT): CoreResult<string> {
  if (!/^\d{6,11}$/.test(bin)) return refuse('CARD_ISSUANCE_INVALID', 'the BIN is 6 to 11 digits');
  if (!Number.isInteger(length) || length < 13 || length > 19)
    return refuse('CARD_ISSUANCE_INVALID', 'a card number is 13 to 19 digits');
  const width = length - bin.length - 1;
  if (width < 1 || !Number.isSafeInteger(sequence) || sequence < 0 || String(sequence).length > width)
    return refuse('CARD_ISSUANCE_INVALID', `sequence out of range for a ${length}-digit card of BIN ${bin}`);
  const body = `${bin}${String(sequence).padStart(width, '0')}`;
  return { ok: true, value: `${body}${luhnCheckDigit(body)}` };
}

/** Expiry (YYMM) `months` after `issuedAt`: valid to the end of that month. */
export function expiryFor(issuedAt: Date, months = CARD_VALIDITY_MONTHS_DEFAULT): string {
  const total = issuedAt.getUTCFullYear() * 12 + issuedAt.getUTCMonth() + months;
  const year = Math.floor(total / 12) % 100;
  const month = (total % 12) + 1;
  return `${String(year).padStart(2, '0')}${String(month).padStart(2, '0')}`;
}

/** Past the end of the expiry month (YYMM, years 20YY)? */
export function isExpired(expiry: string, now: Date): boolean {
  if (!/^\d{2}(0[1-9]|1[0-2])$/.test(expiry)) return true;
  const year = 2000 + Number(expiry.slice(0, 2));
  const month = Number(expiry.slice(2));
  return now.getTime() >= Date.UTC(year, month, 1);
}

/** A service code: 3 digits, the first an interchange digit ISO/IEC 7813 defines (1, 2, 5, 6, 7, 9). */
export function validateServiceCode(code: string): CoreResult<string> {
  return /^[125679]\d\d$/.test(code) ? { ok: true, value: code } : refuse('CARD_ISSUANCE_INVALID', 'service code');
}

/** Does the route send this card to our own programme? */
export function isOnUs(route: BinRoute): boolean {
  return route.network === ON_US_NETWORK;
}

/** What the on-us authoriser knows of a card before it asks the HSM and the ledger. */
export interface CardStanding {
  readonly state: CardState;
  readonly expiry: string;
}

/**
 * Field 39 for a card's standing, before PIN and funds: 14 unknown card, 78 not activated yet,
 * 62 blocked or replaced, 54 expired; undefined when the card may transact.
 */
export function standingDecline(card: CardStanding | undefined, now: Date): string | undefined {
  if (card === undefined) return '14';
  if (card.state === 'issued') return '78';
  if (card.state !== 'active') return '62';
  if (isExpired(card.expiry, now)) return '54';
  return undefined;
}
