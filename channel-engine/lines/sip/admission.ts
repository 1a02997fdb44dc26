/**
 * Who may place calls on the SIP driver, and how fast: IPv4 CIDR source lists (allowed sources,
 * trusted trunks) and a per-source token bucket for new INVITEs. Pure: the clock is passed in.
 * See docs/protocols/sip.md, "Admission".
 */
import { FixpayError } from '../../../domain/errors';

/** One IPv4 network: address and mask as unsigned 32-bit integers. */
export interface Ipv4Network {
  readonly base: number;
  readonly mask: number;
}

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** An IPv4 dotted quad as an unsigned integer; undefined for anything else (IPv6, names). */
export function ipv4ToInt(address: string): number | undefined {
  const m = DOTTED.exec(address);
  if (m === null) return undefined;
  let n = 0;
  for (const part of m.slice(1, 5)) {
    const o = Number(part);
    if (o > 255) return undefined;
    n = n * 256 + o;
  }
  return n >>> 0;
}

/**
 * Parses `a.b.c.d/len` (or a bare address, /32).
 * @throws FixpayError CONFIG_INVALID for anything else.
 */
export function parseCidr(text: string): Ipv4Network {
  const [address = '', len = '32', ...rest] = text.trim().split('/');
  const base = ipv4ToInt(address);
  const bits = /^\d{1,2}$/.test(len) ? Number(len) : Number.NaN;
  if (base === undefined || rest.length > 0 || !(bits >= 0 && bits <= 32))
    throw new FixpayError('CONFIG_INVALID', `not an IPv4 CIDR: ${JSON.stringify(text)}`);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (base & mask) >>> 0, mask };
}

/** A list of networks; `matches` is false for non-IPv4 addresses. */
export class SourceList {
  private readonly networks: readonly Ipv4Network[];

  /** @throws FixpayError CONFIG_INVALID for an entry that is not an IPv4 CIDR. */
  constructor(cidrs: readonly string[]) {
    this.networks = cidrs.map(parseCidr);
  }

  get empty(): boolean {
    return this.networks.length === 0;
  }

  matches(address: string): boolean {
    const ip = ipv4ToInt(address);
    if (ip === undefined) return false;
    return this.networks.some((n) => (ip & n.mask) >>> 0 === n.base);
  }
}

/** Splits a comma-separated CIDR list (config form) into entries; blanks are dropped. */
export function splitCidrList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export interface RateLimitOptions {
  /** Tokens added per second (sustained new calls per second per source). */
  readonly ratePerSecond: number;
  /** Bucket size (calls a source may place at once). */
  readonly burst: number;
  /** Most sources tracked; beyond it the least recently used bucket is forgotten (it restarts full). */
  readonly maxSources: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/** Token buckets keyed by source address, bounded in memory. */
export class SourceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly options: RateLimitOptions) {}

  get trackedSources(): number {
    return this.buckets.size;
  }

  /** Takes one token for `source`; false when its bucket is empty. */
  take(source: string, nowMs: number): boolean {
    let bucket = this.buckets.get(source);
    if (bucket === undefined) {
      // Least recently used first (Map keeps insertion order; a used bucket is re-inserted).
      if (this.buckets.size >= this.options.maxSources) {
        const oldest = this.buckets.keys().next();
        if (oldest.done !== true) this.buckets.delete(oldest.value);
      }
      bucket = { tokens: this.options.burst, atMs: nowMs };
    } else {
      this.buckets.delete(source);
      const elapsed = Math.max(0, nowMs - bucket.atMs);
      bucket.tokens = Math.min(this.options.burst, bucket.tokens + (elapsed * this.options.ratePerSecond) / 1000);
      bucket.atMs = nowMs;
    }
    this.buckets.set(source, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
