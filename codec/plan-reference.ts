/**
 * The plan by reference (ADR 0013): an interpreter input `{ plan, planHash, input }` whose plan is
 * a stored registry version travels to Temporal as `{ planRef: { serviceId, version, planHash },
 * planHash, input }`, and the worker puts the stored plan back when it decodes the payload. The
 * history keeps the hash (the run stays pinned to the content it started with: versions are
 * immutable and the hash is checked on the way back) but not the ~11 KB plan.
 *
 * A payload is referenced only when the plan in it is exactly the stored version's (same JSON
 * text); anything else (a subplan of a child run, a plan the registry does not hold, a store that
 * cannot be read) travels inline as before. Runs every payload through a cheap prefix test first.
 * Runs before the encryption codec on the way out and after it on the way in, so the reference is
 * encrypted like every other payload.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { FixpayError } from '../domain/errors';

/** Metadata key marking a payload whose plan was replaced by its reference. */
export const METADATA_PLAN_REF = 'fixpay-plan-ref';
/** Plan texts kept per codec (by hash): a worker runs a handful of live versions. */
export const PLAN_TEXTS_CACHED_MAX = 64;

/** Where stored plans come from: the registry (services/registry), read through its cache. */
export interface PlanSource {
  /** The stored version, or undefined when there is none. Throws when the store cannot be read. */
  storedVersion(serviceId: string, version: string): Promise<{ planHash: string; plan: unknown } | undefined>;
}

/**
 * A source bound once the database is open (the data converter is made before): until then it
 * holds no plan, so encoding keeps plans inline and decoding a reference fails (retryable).
 */
export class DeferredPlanSource implements PlanSource {
  private source: PlanSource | undefined;

  bind(source: PlanSource): void {
    this.source = source;
  }

  storedVersion(serviceId: string, version: string): Promise<{ planHash: string; plan: unknown } | undefined> {
    return this.source?.storedVersion(serviceId, version) ?? Promise.resolve(undefined);
  }
}

const JSON_PLAIN = Buffer.from('json/plain');
const PLAN_PREFIX = Buffer.from('{"plan":{');
const ENCODER = new TextEncoder();

interface Reference {
  serviceId: string;
  version: string;
  planHash: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sameBytes(a: Uint8Array | undefined | null, b: Uint8Array): boolean {
  return a !== undefined && a !== null && Buffer.compare(Buffer.from(a), b) === 0;
}

export class PlanReferenceCodec implements PayloadCodec {
  private readonly texts = new Map<string, string>();

  constructor(private readonly source: PlanSource) {}

  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(payloads.map((p) => this.encodeOne(p)));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(payloads.map((p) => this.decodeOne(p)));
  }

  /** The stored plan's JSON text when it is stored under `planHash`; undefined otherwise. */
  private async storedText(ref: Reference): Promise<string | undefined> {
    const known = this.texts.get(ref.planHash);
    if (known !== undefined) return known;
    const rec = await this.source.storedVersion(ref.serviceId, ref.version);
    if (rec === undefined || rec.planHash !== ref.planHash) return undefined;
    const text = JSON.stringify(rec.plan);
    if (this.texts.size >= PLAN_TEXTS_CACHED_MAX) {
      const oldest = this.texts.keys().next().value;
      if (oldest !== undefined) this.texts.delete(oldest);
    }
    this.texts.set(ref.planHash, text);
    return text;
  }

  private async encodeOne(p: Payload): Promise<Payload> {
    const data = p.data;
    if (data == null || !sameBytes(p.metadata?.[METADATA_ENCODING_KEY], JSON_PLAIN)) return p;
    if (data.length < PLAN_PREFIX.length || !sameBytes(data.subarray(0, PLAN_PREFIX.length), PLAN_PREFIX)) return p;
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(data).toString('utf8'));
    } catch {
      return p;
    }
    if (!isRecord(value)) return p;
    const { plan, ...rest } = value;
    const planHash = rest['planHash'];
    if (!isRecord(plan) || typeof planHash !== 'string') return p;
    const { serviceId, version } = plan;
    if (typeof serviceId !== 'string' || typeof version !== 'string') return p;
    const ref: Reference = { serviceId, version, planHash };
    let text: string | undefined;
    try {
      text = await this.storedText(ref);
    } catch {
      return p; // the store is unreachable: the plan travels inline, nothing is lost
    }
    if (text === undefined || JSON.stringify(plan) !== text) return p;
    return {
      metadata: { ...p.metadata, [METADATA_PLAN_REF]: ENCODER.encode(planHash) },
      data: ENCODER.encode(JSON.stringify({ planRef: ref, ...rest })),
    };
  }

  /**
   * Throws CODEC_PAYLOAD_INVALID for a malformed reference and SVC_PLAN_NOT_REGISTERED when the
   * registry does not hold that hash under that version; store failures propagate (the worker
   * retries the workflow task).
   */
  private async decodeOne(p: Payload): Promise<Payload> {
    const marker = p.metadata?.[METADATA_PLAN_REF];
    if (marker === undefined) return p;
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(p.data ?? new Uint8Array(0)).toString('utf8'));
    } catch {
      throw new FixpayError('CODEC_PAYLOAD_INVALID', 'plan reference is not JSON');
    }
    if (!isRecord(value)) throw new FixpayError('CODEC_PAYLOAD_INVALID', 'plan reference is not an object');
    const { planRef, ...rest } = value;
    if (
      !isRecord(planRef) ||
      typeof planRef['serviceId'] !== 'string' ||
      typeof planRef['version'] !== 'string' ||
      typeof planRef['planHash'] !== 'string'
    )
      throw new FixpayError('CODEC_PAYLOAD_INVALID', 'malformed plan reference');
    const ref: Reference = {
      serviceId: planRef['serviceId'],
      version: planRef['version'],
      planHash: planRef['planHash'],
    };
    const text = await this.storedText(ref);
    if (text === undefined)
      throw new FixpayError(
        'SVC_PLAN_NOT_REGISTERED',
        `${ref.serviceId.slice(0, 64)}@${ref.version.slice(0, 32)}: the registry holds no plan with the referenced hash`,
      );
    const tail = JSON.stringify(rest);
    const metadata = Object.fromEntries(Object.entries(p.metadata ?? {}).filter(([k]) => k !== METADATA_PLAN_REF));
    return {
      metadata,
      data: ENCODER.encode(tail === '{}' ? `{"plan":${text}}` : `{"plan":${text},${tail.slice(1)}`),
    };
  }
}
