import fc from 'fast-check';
import { callerNumberOf, parseNameAddr, parseSipMessage, serializeSipMessage, SipHeaders } from './message';
import { buildSdp, chooseCodec, parseSdp } from './sdp';

// An INVITE in the shape sipp's built-in uac scenario sends (SIPp 3.6 `-sn uac`).
const SDP = [
  'v=0',
  'o=user1 53655765 2353687637 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 6000 RTP/AVP 8 0',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');
const INVITE = [
  'INVITE sip:service@127.0.0.1:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-1-0',
  'From: "POS" <sip:057112345678@127.0.0.1:5061>;tag=1',
  'To: <sip:service@127.0.0.1:5060>',
  'Call-ID: 1-1@127.0.0.1',
  'CSeq: 1 INVITE',
  'Contact: sip:sipp@127.0.0.1:5061',
  'Max-Forwards: 70',
  'Content-Type: application/sdp',
  `Content-Length: ${SDP.length}`,
  '',
  SDP,
].join('\r\n');

describe('SIP message parser', () => {
  it('parses an INVITE with its SDP body', () => {
    const r = parseSipMessage(INVITE);
    if (!r.ok) throw new Error(r.error);
    const msg = r.value;
    expect(msg.kind).toBe('request');
    if (msg.kind !== 'request') return;
    expect(msg.method).toBe('INVITE');
    expect(msg.headers.get('call-id')).toBe('1-1@127.0.0.1');
    expect(msg.body).toBe(SDP);
    expect(callerNumberOf(msg.headers)).toBe('057112345678');
  });

  it('prefers P-Asserted-Identity over From, and understands compact forms and folding', () => {
    const text = [
      'INVITE sip:x@h SIP/2.0',
      'v: SIP/2.0/UDP h;branch=z9hG4bKx',
      'f: <sip:anonymous@anonymous.invalid>;tag=9',
      't: <sip:x@h>',
      'i: abc',
      'CSeq: 7',
      '  INVITE',
      'P-Asserted-Identity: "Shop" <tel:+86-571-8888-0000>, <sip:+8657188880000@net>',
      'l: 0',
      '',
      '',
    ].join('\r\n');
    const r = parseSipMessage(text);
    if (!r.ok) throw new Error(r.error);
    expect(r.value.headers.get('call-id')).toBe('abc');
    expect(callerNumberOf(r.value.headers)).toBe('+8657188880000');
  });

  it('round-trips through serialisation', () => {
    const r = parseSipMessage(INVITE);
    if (!r.ok) throw new Error(r.error);
    const again = parseSipMessage(serializeSipMessage(r.value));
    if (!again.ok) throw new Error(again.error);
    expect(again.value.headers.entries()).toEqual(r.value.headers.entries());
    expect(again.value.body).toBe(r.value.body);
  });

  it.each([
    ['no blank line', 'INVITE sip:x SIP/2.0\r\nVia: a'],
    ['missing Call-ID', INVITE.replace(/Call-ID:.*\r\n/, '')],
    ['CSeq method mismatch', INVITE.replace('CSeq: 1 INVITE', 'CSeq: 1 BYE')],
    ['short body', INVITE.replace(/Content-Length: \d+/, 'Content-Length: 999')],
    ['bad start line', INVITE.replace('SIP/2.0\r\n', 'HTTP/1.1\r\n')],
    ['header without colon', INVITE.replace('Max-Forwards: 70', 'Max-Forwards 70')],
    ['too many headers', INVITE.replace('Max-Forwards: 70', Array(70).fill('X-A: 1').join('\r\n'))],
  ])('rejects %s', (_name, text) => {
    expect(parseSipMessage(text).ok).toBe(false);
  });

  it('never throws on arbitrary bytes or mutated INVITEs (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        parseSipMessage(bytes);
      }),
    );
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.string({ maxLength: 8 }), (at, len, insert) => {
        const i = at % INVITE.length;
        const mutated = INVITE.slice(0, i) + insert + INVITE.slice(i + (len % 20));
        const r = parseSipMessage(mutated);
        if (r.ok) {
          callerNumberOf(r.value.headers);
          parseSdp(r.value.body);
        }
      }),
    );
  });

  it('parses name-addr forms', () => {
    expect(parseNameAddr('<sip:1@h>;tag=a')?.params.get('tag')).toBe('a');
    expect(parseNameAddr('sip:1@h;tag=b')?.params.get('tag')).toBe('b');
    expect(parseNameAddr('garbage')).toBeUndefined();
    const h = new SipHeaders().add('From', '<sip:%ZZ@h>');
    expect(callerNumberOf(h)).toBeUndefined();
  });
});

describe('SDP offer/answer', () => {
  it('takes the offerer’s first G.711 codec and its address', () => {
    const offer = parseSdp(SDP);
    if (!offer.ok) throw new Error(offer.error.detail);
    expect(chooseCodec(offer.value, ['PCMU', 'PCMA'])).toEqual({
      remoteAddress: '127.0.0.1',
      remotePort: 6000,
      codec: 'PCMA',
      payloadType: 8,
    });
    expect(chooseCodec(offer.value, ['PCMU'])?.codec).toBe('PCMU');
  });

  it('finds G.711 under a dynamic payload type and refuses offers without it', () => {
    const dyn = parseSdp('v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\n');
    expect(dyn.ok && chooseCodec(dyn.value, ['PCMU'])?.payloadType).toBe(96);
    const g729 = parseSdp('v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 18\r\n');
    expect(g729.ok && chooseCodec(g729.value, ['PCMU', 'PCMA'])).toBeUndefined();
    expect(parseSdp('v=0\r\nm=audio 4000 RTP/AVP 0\r\n').ok).toBe(false);
  });

  it('builds an answer that parses back', () => {
    const sdp = buildSdp({
      address: '127.0.0.1',
      port: 7000,
      sessionId: 1,
      formats: [{ payloadType: 0, codec: 'PCMU' }],
      ptimeMs: 20,
    });
    const back = parseSdp(sdp);
    expect(back.ok && back.value.port).toBe(7000);
  });
});
