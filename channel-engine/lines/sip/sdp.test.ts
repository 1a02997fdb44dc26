/**
 * SDP validation (issue 10): the media port and connection address of an offer are checked when
 * the SDP is parsed, so nothing downstream (RTP sockets, timers) ever sees port 0 or a host name.
 */
import fc from 'fast-check';
import { isIPv4 } from 'node:net';
import { mediaAddressProblem, mediaPortProblem, parseSdp } from './sdp';

const offer = (address: string, port: string | number, extra = ''): string =>
  `v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 ${address}\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\n${extra}`;

describe('SDP validation', () => {
  it.each([
    ['port 0', offer('10.0.0.1', 0), 'SDP_MEDIA_PORT_REFUSED'],
    ['port 65536', offer('10.0.0.1', 65536), 'SDP_MEDIA_PORT_REFUSED'],
    ['port 99999', offer('10.0.0.1', 99999), 'SDP_MEDIA_PORT_REFUSED'],
    ['out-of-range octet', offer('999.1.1.1', 4000), 'SDP_MEDIA_ADDRESS_REFUSED'],
    ['unspecified', offer('0.0.0.0', 4000), 'SDP_MEDIA_ADDRESS_REFUSED'],
    ['this network', offer('0.1.2.3', 4000), 'SDP_MEDIA_ADDRESS_REFUSED'],
    ['multicast', offer('224.0.0.1', 4000), 'SDP_MEDIA_ADDRESS_REFUSED'],
    ['multicast with TTL', offer('239.1.1.1/127', 4000), 'SDP_MEDIA_ADDRESS_REFUSED'],
    ['broadcast', offer('255.255.255.255', 4000), 'SDP_MEDIA_ADDRESS_REFUSED'],
    ['reserved', offer('240.0.0.1', 4000), 'SDP_MEDIA_ADDRESS_REFUSED'],
    ['host name', offer('pbx.example.com', 4000), 'SDP_MEDIA_ADDRESS_REFUSED'],
    ['localhost', offer('localhost', 4000), 'SDP_MEDIA_ADDRESS_REFUSED'],
    ['leading zeros (octal to some stacks)', offer('010.0.0.1', 4000), 'SDP_MEDIA_ADDRESS_REFUSED'],
    ['IPv6', offer('10.0.0.1', 4000).replace('c=IN IP4 10.0.0.1', 'c=IN IP6 ::1'), 'SDP_MEDIA_ADDRESS_REFUSED'],
    [
      'bad media address under a good session one',
      offer('10.0.0.1', 4000, 'c=IN IP4 999.1.1.1\r\n'),
      'SDP_MEDIA_ADDRESS_REFUSED',
    ],
    ['no connection address', 'v=0\r\nm=audio 4000 RTP/AVP 0\r\n', 'SDP_MALFORMED'],
    ['no audio', 'v=0\r\nc=IN IP4 10.0.0.1\r\n', 'SDP_MALFORMED'],
  ])('refuses %s with its catalogue code', (_name, body, codeName) => {
    const r = parseSdp(body);
    expect(r.ok ? undefined : r.error.codeName).toBe(codeName);
  });

  it('accepts unicast literals (private, public, loopback) and ports 1024..65535', () => {
    for (const [address, port] of [
      ['10.0.0.1', 4000],
      ['192.0.2.10', 1024],
      ['127.0.0.1', 65535],
      ['100.64.0.1', 30001],
    ] as const) {
      const r = parseSdp(offer(address, port));
      expect(r.ok && r.value).toMatchObject({ address, port });
    }
  });

  it('refuses well-known service ports (below 1024): the node would stream audio at echo, DNS…', () => {
    for (const port of [1, 7, 19, 53, 1023]) {
      const r = parseSdp(offer('10.0.0.1', port));
      expect(r.ok ? undefined : r.error.codeName).toBe('SDP_MEDIA_PORT_REFUSED');
    }
  });

  it('refuses odd ports only when asked (RTP SHOULD use even ports)', () => {
    expect(parseSdp(offer('10.0.0.1', 4001)).ok).toBe(true);
    const r = parseSdp(offer('10.0.0.1', 4001), { requireEvenPort: true });
    expect(r.ok ? undefined : r.error.codeName).toBe('SDP_MEDIA_PORT_REFUSED');
  });

  it('fuzz: any accepted offer has a usable port and a unicast IPv4 literal; nothing throws', () => {
    const octet = fc.oneof(fc.integer({ min: 0, max: 999 }).map(String), fc.constantFrom('00', '01', '256', '-1', 'a'));
    const address = fc.oneof(
      fc.tuple(octet, octet, octet, octet).map((o) => o.join('.')),
      fc.string({ maxLength: 20 }).filter((s) => !/[\r\n]/.test(s)),
      fc.constantFrom('0.0.0.0', '224.0.0.1', '255.255.255.255', 'localhost'),
    );
    const port = fc.oneof(fc.integer({ min: -5, max: 100_000 }).map(String), fc.string({ maxLength: 6 }));
    fc.assert(
      fc.property(address, port, (a, p) => {
        const r = parseSdp(offer(a, p));
        if (!r.ok) return;
        expect(isIPv4(r.value.address)).toBe(true);
        expect(mediaAddressProblem(r.value.address)).toBeUndefined();
        expect(mediaPortProblem(r.value.port)).toBeUndefined();
        expect(r.value.port).toBeGreaterThanOrEqual(1);
        expect(r.value.port).toBeLessThanOrEqual(65535);
        const first = Number(r.value.address.split('.')[0]);
        expect(first > 0 && first < 224).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: arbitrary bodies give a result, never an exception', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (body) => {
        const r = parseSdp(body);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });
});
