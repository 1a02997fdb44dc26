/**
 * Where webhook deliveries may go (server-side request forgery). A partner names its endpoint; the
 * platform POSTs to it from inside our network, so an endpoint on a loopback, private, link-local
 * (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast or reserved address would let a
 * partner reach our own services. Two checks, both with the same address table:
 *
 * - when the URL is registered, an address literal or `localhost` outside the allowed networks is
 *   refused (WEBHOOK_URL_FORBIDDEN) — a clear answer at once;
 * - when a delivery connects, the host name is resolved and the connection goes to an address that
 *   was checked: every address the name resolves to must be public (or allowed), otherwise the
 *   attempt fails without connecting. The check is the socket's own `lookup`, so a name that
 *   resolves differently on a second query (DNS rebinding) cannot slip past it.
 *
 * Operators who deliver to partners on a private network list those networks (CIDRs) in
 * `api.webhookAllowedNetworks` (FIXPAY_WEBHOOK_ALLOWED_NETWORKS); tests allow loopback.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { FixpayError } from '../domain/errors';

/** Networks no delivery may reach unless allowed: IANA special-purpose ranges, both families. */
const FORBIDDEN: readonly (readonly [string, number, 'ipv4' | 'ipv6'])[] = [
  ['0.0.0.0', 8, 'ipv4'], // "this network"
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'], // carrier-grade NAT
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'], // link-local, cloud metadata
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'], // IETF protocol assignments
  ['192.0.2.0', 24, 'ipv4'], // documentation
  ['192.88.99.0', 24, 'ipv4'], // 6to4 relay anycast
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'], // benchmarking
  ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'], // multicast
  ['240.0.0.0', 4, 'ipv4'], // reserved, broadcast
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['64:ff9b:1::', 48, 'ipv6'], // local-use NAT64
  ['100::', 64, 'ipv6'], // discard-only
  ['2001::', 23, 'ipv6'], // IETF protocol assignments
  ['2001:db8::', 32, 'ipv6'], // documentation
  ['fc00::', 7, 'ipv6'], // unique local
  ['fe80::', 10, 'ipv6'], // link-local
  ['fec0::', 10, 'ipv6'], // site-local (deprecated)
  ['ff00::', 8, 'ipv6'], // multicast
];

/** IPv6 forms that carry an IPv4 address: judged by the IPv4 address inside. */
const EMBEDDED_V4: readonly (readonly [RegExp, (m: RegExpExecArray) => string])[] = [
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), 64:ff9b::a.b.c.d (NAT64) in dotted form.
  [/^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i, (m) => m[1] ?? ''],
];

function hexPairToV4(hi: string, lo: string): string {
  const a = parseInt(hi, 16);
  const b = parseInt(lo, 16);
  return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
}

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any. */
export function embeddedIpv4(address: string): string | undefined {
  for (const [re, pick] of EMBEDDED_V4) {
    const m = re.exec(address);
    if (m !== null) return pick(m);
  }
  // Hex forms after normalisation by the URL parser: ::ffff:7f00:1, 64:ff9b::7f00:1, 2002:7f00:1::.
  const mapped = /^(?:::ffff:|::|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (mapped !== null) return hexPairToV4(mapped[1] ?? '0', mapped[2] ?? '0');
  const sixToFour = /^2002:([0-9a-f]{1,4}):([0-9a-f]{1,4})(?::|$)/i.exec(address);
  if (sixToFour !== null) return hexPairToV4(sixToFour[1] ?? '0', sixToFour[2] ?? '0');
  return undefined;
}

function blockListOf(entries: readonly (readonly [string, number, 'ipv4' | 'ipv6'])[]): BlockList {
  const list = new BlockList();
  for (const [net, prefix, family] of entries) list.addSubnet(net, prefix, family);
  return list;
}

/** Parses `a.b.c.d/n` / `x::y/n` CIDRs (comma-separated); throws CONFIG_INVALID on a bad one. */
export function parseNetworks(csv: string): [string, number, 'ipv4' | 'ipv6'][] {
  const out: [string, number, 'ipv4' | 'ipv6'][] = [];
  for (const raw of csv.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const [net = '', bits] = item.split('/');
    const family = isIP(net);
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
    if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32))
      throw new FixpayError('CONFIG_INVALID', `webhook allowed network "${item}" is not an address or CIDR`);
    out.push([net, prefix, family === 6 ? 'ipv6' : 'ipv4']);
  }
  return out;
}

export class WebhookEgressPolicy {
  private readonly forbidden = blockListOf(FORBIDDEN);
  private readonly allowed: BlockList;

  /** `allowedNetworks`: CIDRs (comma-separated) deliveries may reach although they are not public. */
  constructor(allowedNetworks = '') {
    this.allowed = blockListOf(parseNetworks(allowedNetworks));
  }

  /** Whether a delivery may connect to this address (an IP literal). */
  permits(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return false;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (this.allowed.check(address, type)) return true;
    const v4 = family === 6 ? embeddedIpv4(address) : undefined;
    if (v4 !== undefined && isIP(v4) === 4) return this.permits(v4);
    return !this.forbidden.check(address, type);
  }

  /**
   * The registration check of a URL's host: an address literal must be permitted and `localhost`
   * (any `*.localhost`) names loopback. Names are judged again at every delivery.
   */
  checkHost(hostname: string): void {
    const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
    const lower = host.toLowerCase().replace(/\.$/, '');
    const literal = isIP(host) !== 0;
    const loopbackName = lower === 'localhost' || lower.endsWith('.localhost');
    if ((literal && !this.permits(host)) || (loopbackName && !this.permits('127.0.0.1')))
      throw new FixpayError(
        'WEBHOOK_URL_FORBIDDEN',
        'webhookUrl points at a loopback, private, link-local or reserved address; give a public endpoint',
      );
  }

  /**
   * A socket `lookup` that resolves every address of the name and hands the connection one of
   * them only when all are permitted; otherwise the connection fails with WEBHOOK_URL_FORBIDDEN.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const literal = isIP(hostname);
    const finish = (addresses: LookupAddress[]): void => {
      const refused = addresses.find((a) => !this.permits(a.address));
      if (addresses.length === 0 || refused !== undefined) {
        const e = new FixpayError(
          'WEBHOOK_URL_FORBIDDEN',
          `webhook endpoint ${hostname} resolves to an address deliveries may not reach`,
        );
        callback(e, '', 0);
        return;
      }
      if (options.all === true) callback(null, addresses);
      else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4);
    };
    if (literal !== 0) {
      finish([{ address: hostname, family: literal }]);
      return;
    }
    const family = options.family === 'IPv6' ? 6 : options.family === 'IPv4' ? 4 : (options.family ?? 0);
    dnsLookup(hostname, { all: true, family }, (err, addresses) => {
      if (err !== null) callback(err, '', 0);
      else finish(addresses);
    });
  };
}
