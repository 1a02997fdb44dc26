/**
 * pcap files of RTP packets (Ethernet, IPv4, UDP, RTP) for SIPp's `play_pcap_audio`, which replays
 * a capture's UDP payloads at the pace of its timestamps from the call's media port to the peer
 * the SDP answer names (its addresses and ports replace the ones written here).
 */
import { buildRtp } from '../../channel-engine/lines/rtp';

export interface PcapRtpPacket {
  /** Capture time from the start, µs: SIPp sends the packet this long after the first. */
  readonly atUs: number;
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly marker: boolean;
  readonly payloadType: number;
  readonly ssrc: number;
  readonly payload: Uint8Array;
}

/** A classic pcap (little-endian, v2.4, link type Ethernet) of `packets`, 127.0.0.1:6000 both ends. */
export function rtpPcap(packets: Iterable<PcapRtpPacket>): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  const parts: Buffer[] = [header];
  let ipId = 0;
  for (const p of packets) {
    const rtp = buildRtp(p);
    const frame = Buffer.alloc(16 + 14 + 20 + 8 + rtp.length);
    frame.writeUInt32LE(Math.floor(p.atUs / 1e6), 0);
    frame.writeUInt32LE(p.atUs % 1e6, 4);
    frame.writeUInt32LE(frame.length - 16, 8);
    frame.writeUInt32LE(frame.length - 16, 12);
    // Ethernet: locally administered MACs, IPv4.
    frame.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1], 16);
    frame.writeUInt16BE(0x0800, 28);
    const ip = 30;
    frame[ip] = 0x45;
    frame.writeUInt16BE(20 + 8 + rtp.length, ip + 2);
    frame.writeUInt16BE(ipId++ & 0xffff, ip + 4);
    frame[ip + 8] = 64;
    frame[ip + 9] = 17;
    frame.set([127, 0, 0, 1, 127, 0, 0, 1], ip + 12);
    let sum = 0;
    for (let b = 0; b < 20; b += 2) sum += frame.readUInt16BE(ip + b);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    frame.writeUInt16BE(~sum & 0xffff, ip + 10);
    const udp = ip + 20;
    frame.writeUInt16BE(6000, udp);
    frame.writeUInt16BE(6000, udp + 2);
    frame.writeUInt16BE(8 + rtp.length, udp + 4);
    frame.set(rtp, udp + 8);
    parts.push(frame);
  }
  return Buffer.concat(parts);
}

/**
 * G.711 audio (`ulaw`, looped when `seconds` asks for more) cut into packets of `ptimeMs`, stamped
 * `ptimeMs` apart, sequence numbers and timestamps running on (payload type 0 unless told).
 */
export function* g711Packets(
  ulaw: Uint8Array,
  ptimeMs: number,
  o: { seconds?: number; payloadType?: number; ssrc?: number } = {},
): Generator<PcapRtpPacket> {
  const bytes = ptimeMs * 8;
  const total = o.seconds === undefined ? Math.ceil(ulaw.length / bytes) : Math.ceil((o.seconds * 1000) / ptimeMs);
  for (let i = 0; i < total; i++) {
    const payload = new Uint8Array(bytes);
    for (let b = 0; b < bytes; b++) payload[b] = ulaw[(i * bytes + b) % ulaw.length] ?? 0xff;
    yield {
      atUs: i * ptimeMs * 1000,
      sequenceNumber: i & 0xffff,
      timestamp: (i * bytes) >>> 0,
      marker: i === 0,
      payloadType: o.payloadType ?? 0,
      ssrc: o.ssrc ?? 0x0f1f2f3f,
      payload,
    };
  }
}
