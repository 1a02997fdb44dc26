/**
 * SDP offer/answer (RFC 3264, RFC 4566) for one audio stream of G.711: PCMU (payload type 0) or
 * PCMA (8), also when offered under a dynamic payload type with an rtpmap.
 */
import type { ResultCodeName } from '../../../domain/errors';
import type { Result } from '../../../domain/result';

export type G711Codec = 'PCMU' | 'PCMA';
export const STATIC_PAYLOAD_TYPES: Record<G711Codec, number> = { PCMU: 0, PCMA: 8 };
export const MAX_SDP_BYTES = 4096;
/**
 * Lowest media port accepted. Ports below are the system's well-known services (echo on 7,
 * chargen on 19, DNS on 53…): an offer naming one would make the node stream audio at a service,
 * a reflection an attacker can aim; no RTP stack offers them.
 */
export const MEDIA_PORT_MIN = 1024;

export interface SdpAudioOffer {
  readonly address: string;
  readonly port: number;
  /** Payload types in the offer's order of preference with their codec names when known. */
  readonly formats: readonly { readonly payloadType: number; readonly codec: string | undefined }[];
  readonly ptimeMs: number | undefined;
}

export interface NegotiatedAudio {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly codec: G711Codec;
  readonly payloadType: number;
}

/** Why an SDP body was refused: a catalogue code (the SIP answer and the metric) and a detail for logs. */
export interface SdpRefusal {
  readonly codeName: Extract<ResultCodeName, 'SDP_MALFORMED' | 'SDP_MEDIA_ADDRESS_REFUSED' | 'SDP_MEDIA_PORT_REFUSED'>;
  readonly detail: string;
}

export interface SdpParseOptions {
  /** Refuse an odd media port (RFC 3550 §11 says RTP SHOULD use an even port). */
  readonly requireEvenPort: boolean;
}

export const DEFAULT_SDP_PARSE_OPTIONS: SdpParseOptions = { requireEvenPort: false };

const IPV4_LITERAL = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Checks a connection address: a dotted-quad IPv4 literal (no host names, so sending media never
 * costs a DNS lookup), unicast, and not the unspecified network. Returns the refusal reason, or
 * undefined when the address is usable.
 */
export function mediaAddressProblem(address: string): string | undefined {
  const m = IPV4_LITERAL.exec(address);
  if (m === null) return 'not an IPv4 literal';
  const octets = m.slice(1, 5).map((o) => (o.length > 1 && o.startsWith('0') ? Number.NaN : Number(o)));
  if (octets.some((o) => !(o >= 0 && o <= 255))) return 'not an IPv4 literal';
  const first = octets[0] ?? 0;
  if (first === 0) return 'unspecified address (0.0.0.0/8)';
  if (first >= 224 && first <= 239) return 'multicast address';
  if (first >= 240) return 'reserved or broadcast address';
  return undefined;
}

/** Checks a media port: MEDIA_PORT_MIN..65535, and even when asked. Undefined when usable. */
export function mediaPortProblem(
  port: number,
  options: SdpParseOptions = DEFAULT_SDP_PARSE_OPTIONS,
): string | undefined {
  if (!Number.isInteger(port) || port < MEDIA_PORT_MIN || port > 65535)
    return `port ${port} outside ${MEDIA_PORT_MIN}..65535`;
  if (options.requireEvenPort && port % 2 !== 0) return `odd port ${port}`;
  return undefined;
}

const refuse = (codeName: SdpRefusal['codeName'], detail: string): { ok: false; error: SdpRefusal } => ({
  ok: false,
  error: { codeName, detail },
});

/**
 * Parses and validates the first audio stream of an SDP body: its connection address must be a
 * unicast IPv4 literal and its port within MEDIA_PORT_MIN..65535 (see `mediaAddressProblem`, `mediaPortProblem`).
 * Never throws; a refusal carries its catalogue code.
 */
export function parseSdp(
  body: string,
  options: SdpParseOptions = DEFAULT_SDP_PARSE_OPTIONS,
): Result<SdpAudioOffer, SdpRefusal> {
  if (body.length > MAX_SDP_BYTES) return refuse('SDP_MALFORMED', 'SDP too large');
  let sessionAddress: string | undefined;
  let mediaAddress: string | undefined;
  let inAudio = false;
  let seenAudio = false;
  let port = -1;
  let pts: number[] = [];
  const names = new Map<number, string>();
  let ptime: number | undefined;
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.length === 0) continue;
    if (!/^[a-z]=/.test(line)) return refuse('SDP_MALFORMED', 'bad SDP line');
    const type = line[0];
    const value = line.slice(2);
    if (type === 'm') {
      if (seenAudio) {
        inAudio = false;
        continue;
      }
      const m = /^audio (\d{1,5})(?:\/\d+)? RTP\/AVP((?: \d{1,3})+)$/.exec(value);
      inAudio = m !== null;
      if (m?.[1] !== undefined && m[2] !== undefined) {
        seenAudio = true;
        port = Number(m[1]);
        pts = m[2].trim().split(' ').map(Number);
      }
    } else if (type === 'c') {
      const c = /^IN IP4 (\S+)$/.exec(value);
      if (c?.[1] === undefined) return refuse('SDP_MEDIA_ADDRESS_REFUSED', 'unsupported c= line (IN IP4 only)');
      if (seenAudio && inAudio) mediaAddress = c[1];
      else if (!seenAudio) sessionAddress = c[1];
    } else if (type === 'a' && inAudio) {
      const rtpmap = /^rtpmap:(\d{1,3}) ([A-Za-z0-9-]+)\/(\d+)/.exec(value);
      if (rtpmap?.[1] !== undefined && rtpmap[2] !== undefined && rtpmap[3] === '8000')
        names.set(Number(rtpmap[1]), rtpmap[2].toUpperCase());
      const p = /^ptime:(\d{1,4})$/.exec(value);
      if (p?.[1] !== undefined) ptime = Number(p[1]);
    }
  }
  const address = mediaAddress ?? sessionAddress;
  if (!seenAudio) return refuse('SDP_MALFORMED', 'no audio stream');
  if (address === undefined) return refuse('SDP_MALFORMED', 'no connection address');
  const addressProblem = mediaAddressProblem(address);
  if (addressProblem !== undefined) return refuse('SDP_MEDIA_ADDRESS_REFUSED', addressProblem);
  const portProblem = mediaPortProblem(port, options);
  if (portProblem !== undefined) return refuse('SDP_MEDIA_PORT_REFUSED', portProblem);
  const formats = pts.map((pt) => ({
    payloadType: pt,
    codec: names.get(pt) ?? (pt === 0 ? 'PCMU' : pt === 8 ? 'PCMA' : undefined),
  }));
  return { ok: true, value: { address, port, formats, ptimeMs: ptime } };
}

/** Picks the first G.711 codec of the offer (the offerer's preference), or undefined. */
export function chooseCodec(offer: SdpAudioOffer, accept: readonly G711Codec[]): NegotiatedAudio | undefined {
  for (const f of offer.formats)
    if (f.codec === 'PCMU' || f.codec === 'PCMA')
      if (accept.includes(f.codec))
        return { remoteAddress: offer.address, remotePort: offer.port, codec: f.codec, payloadType: f.payloadType };
  return undefined;
}

/** Builds our SDP (an answer with one codec, or an offer listing several). */
export function buildSdp(o: {
  address: string;
  port: number;
  sessionId: number;
  formats: readonly { payloadType: number; codec: G711Codec }[];
  ptimeMs: number;
}): string {
  const lines = [
    'v=0',
    `o=fixpay ${o.sessionId} ${o.sessionId} IN IP4 ${o.address}`,
    's=fixpay',
    `c=IN IP4 ${o.address}`,
    't=0 0',
    `m=audio ${o.port} RTP/AVP ${o.formats.map((f) => f.payloadType).join(' ')}`,
    ...o.formats.map((f) => `a=rtpmap:${f.payloadType} ${f.codec}/8000`),
    `a=ptime:${o.ptimeMs}`,
    'a=sendrecv',
  ];
  return lines.join('\r\n') + '\r\n';
}
