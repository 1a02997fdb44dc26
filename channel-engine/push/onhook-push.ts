/**
 * The audio of one on-hook push (docs/protocols/push.md): an MDMF call set-up message (0x80) with
 * date and time, the sender's number and the push text in the name parameter — what every
 * caller-ID display shows and every caller-ID decoder reads — sent with the full channel seizure
 * and mark signal, on the terminal's modulation (V.23 for ETSI phones, Bell 202 for Bellcore ones).
 */
import { FixpayError } from '../../domain/errors';
import { checkPushText, type PushDisplay } from '../../domain/push';
import {
  asciiBytes,
  MESSAGE_TYPE,
  PARAM_TYPE,
  modulateMessage,
  type CallerIdMessage,
  type MdmfParameter,
} from '../callerid';
import type { Modulation } from '../modem';
import type { DeviceProfile } from '../profiles';

export interface OnHookPush {
  readonly text: string;
  /** The number shown as the caller; absent: the parameter is left out. */
  readonly sender?: string;
  /** When the push is sent, for the date-time parameter (UTC epoch ms; the caller passes the clock). */
  readonly atMs: number;
  /** The audience's offset from UTC, minutes: the date-time parameter is local time. */
  readonly utcOffsetMinutes?: number;
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** MMDDHHMM of `atMs` shifted by the offset. */
export function pushDateTime(atMs: number, utcOffsetMinutes = 0): string {
  const d = new Date(atMs + utcOffsetMinutes * 60_000);
  return `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}`;
}

/** The message of a push. Throws PUSH_TEXT_UNSAFE / PUSH_TEXT_TOO_LONG, CALLERID_BAD_MESSAGE (sender). */
export function buildPushMessage(p: OnHookPush, display?: PushDisplay): CallerIdMessage {
  checkPushText(p.text, display);
  const params: MdmfParameter[] = [
    { type: PARAM_TYPE.dateTime, value: asciiBytes(pushDateTime(p.atMs, p.utcOffsetMinutes)) },
  ];
  if (p.sender !== undefined && !/^[0-9]{1,20}$/.test(p.sender))
    throw new FixpayError('CALLERID_BAD_MESSAGE', 'the sender must be 1-20 digits');
  if (p.sender !== undefined) params.push({ type: PARAM_TYPE.callingNumber, value: asciiBytes(p.sender) });
  params.push({ type: PARAM_TYPE.name, value: asciiBytes(p.text) });
  return { format: 'mdmf', type: MESSAGE_TYPE.callSetup, params };
}

/** Leading silence before the seizure, ms (the line settles after the exchange seizes it). */
export const PUSH_LEAD_SILENCE_MS = 100;
/** Silence after the message, ms, so a receiver sees the carrier drop. */
export const PUSH_TRAIL_SILENCE_MS = 100;

/** The audio for a push, silence around it. */
export function pushAudio(
  p: OnHookPush,
  o: { modulation: Modulation; levelDbm0?: number; display?: PushDisplay },
): Int16Array {
  const burst = modulateMessage(buildPushMessage(p, o.display), {
    modulation: o.modulation,
    ...(o.levelDbm0 === undefined ? {} : { levelDbm0: o.levelDbm0 }),
  });
  const lead = (PUSH_LEAD_SILENCE_MS * 8000) / 1000;
  const out = new Int16Array(lead + burst.length + (PUSH_TRAIL_SILENCE_MS * 8000) / 1000);
  out.set(burst, lead);
  return out;
}

/** The text a received push message carries (its name parameter), or undefined. */
export function pushTextOf(m: CallerIdMessage): string | undefined {
  if (m.format !== 'mdmf' || m.type !== MESSAGE_TYPE.callSetup) return undefined;
  const p = m.params.find((x) => x.type === PARAM_TYPE.name);
  return p === undefined ? undefined : new TextDecoder('latin1').decode(p.value);
}

/** A stored push as the access node dials it. */
export interface PushForLine {
  readonly text: string;
  readonly sender?: string;
  readonly utcOffsetMinutes?: number;
}

/**
 * The audio of a stored push for a terminal of this profile: its modulation and level, its display
 * size. Throws PUSH_TEXT_UNSAFE / PUSH_TEXT_TOO_LONG (the push can never be delivered to it).
 */
export function pushAudioFor(push: PushForLine, profile: DeviceProfile, atMs: number): Int16Array {
  return pushAudio(
    {
      text: push.text,
      ...(push.sender === undefined ? {} : { sender: push.sender }),
      atMs,
      ...(push.utcOffsetMinutes === undefined ? {} : { utcOffsetMinutes: push.utcOffsetMinutes }),
    },
    {
      modulation: profile.modem.modulation,
      levelDbm0: profile.modem.levelDbm0,
      ...(profile.terminal === undefined ? {} : { display: profile.terminal.display }),
    },
  );
}
