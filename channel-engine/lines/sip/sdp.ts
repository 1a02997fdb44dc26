/**
 * SDP offer/answer (RFC 3264, RFC 4566) for one audio stream of G.711: PCMU (payload type 0) or
 * PCMA (8), also when offered under a dynamic payload type with an rtpmap.
 */
import type { Result } from '../../../domain/result';

export type G711Codec = 'PCMU' | 'PCMA';
export const STATIC_PAYLOAD_TYPES: Record<G711Codec, number> = { PCMU: 0, PCMA: 8 };
export const MAX_SDP_BYTES = 4096;

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

/** Parses the first audio stream of an SDP body. */
export function parseSdp(body: string): Result<SdpAudioOffer, string> {
  if (body.length > MAX_SDP_BYTES) return { ok: false, error: 'SDP too large' };
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
    if (!/^[a-z]=/.test(line)) return { ok: false, error: 'bad SDP line' };
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
      const c = /^IN IP4 ([0-9.]+)(?:\/\d+)?$/.exec(value);
      if (c?.[1] === undefined) return { ok: false, error: 'unsupported c= line (IN IP4 only)' };
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
  if (!seenAudio) return { ok: false, error: 'no audio stream' };
  if (address === undefined) return { ok: false, error: 'no connection address' };
  if (port < 0 || port > 65535) return { ok: false, error: 'bad port' };
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
