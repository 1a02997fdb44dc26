/**
 * Push campaigns as YAML definitions (docs/protocols/push.md, ADR 0021): parsed, checked against
 * schema/campaign.schema.json, the text checked (printable ASCII, no card data), and normalised to
 * the plain `CampaignSpec` the campaign workflow takes as input.
 */
import Ajv from 'ajv';
import { parse } from 'yaml';
import schema from '../../schema/campaign.schema.json';
import { FixpayError } from '../../domain/errors';
import type { PushRetry, QuietHours } from '../../domain/push';
import { DEFAULT_PUSH_RETRY, pushTextProblem } from '../../domain/push';

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);

/** A campaign file larger than this is refused before it is parsed. */
export const CAMPAIGN_FILE_BYTES_MAX = 64 * 1024;
/** The catch-up window when the file names none: a schedule missed by longer is skipped, not replayed. */
export const DEFAULT_CATCHUP_WINDOW_MINUTES = 10;
export const DEFAULT_LINE_BUDGET = 8;

export type OverlapName = 'skip' | 'buffer-one' | 'cancel-other' | 'terminate-other' | 'allow-all';

export interface CampaignAudience {
  readonly regions?: readonly string[];
  readonly merchantTypes?: readonly string[];
  readonly entitlements?: readonly string[];
  readonly terminals?: readonly string[];
}

export interface CampaignSchedule {
  readonly cron?: readonly string[];
  readonly everyMinutes?: number;
  readonly timezone?: string;
  readonly overlap: OverlapName;
  readonly catchupWindowMinutes: number;
  readonly paused: boolean;
}

/** A checked campaign; plain data (the campaign workflow's input). */
export interface CampaignSpec {
  readonly id: string;
  readonly description: string;
  readonly audience: CampaignAudience;
  readonly text: string;
  readonly sender?: string;
  readonly schedule: CampaignSchedule;
  readonly quietHours?: QuietHours;
  readonly retry: PushRetry;
  readonly lineBudget: number;
}

interface RawCampaign {
  id: string;
  description: string;
  audience: CampaignAudience;
  text: string;
  sender?: string;
  schedule: {
    cron?: string[];
    everyMinutes?: number;
    timezone?: string;
    overlap?: OverlapName;
    catchupWindowMinutes?: number;
    paused?: boolean;
  };
  quietHours?: QuietHours;
  retry?: { maxAttempts?: number; initialSeconds?: number; backoffCoefficient?: number; maximumSeconds?: number };
  lineBudget?: number;
}

/** Checks an already parsed campaign. Throws PUSH_CAMPAIGN_INVALID / PUSH_TEXT_UNSAFE with where and why. */
export function checkCampaign(value: unknown, source = 'campaign'): CampaignSpec {
  const candidate: unknown = value;
  if (!validate(candidate)) {
    const why = (validate.errors ?? [])
      .slice(0, 5)
      .map((e) => `${e.instancePath === '' ? '/' : e.instancePath} ${e.message ?? 'is invalid'}`)
      .join('; ');
    throw new FixpayError('PUSH_CAMPAIGN_INVALID', `${source}: ${why}`);
  }
  const raw = value as RawCampaign;
  const problem = pushTextProblem(raw.text);
  if (problem !== undefined) throw new FixpayError('PUSH_TEXT_UNSAFE', `${source}: text: ${problem}`);
  const r = raw.retry ?? {};
  const retry: PushRetry = {
    maxAttempts: r.maxAttempts ?? DEFAULT_PUSH_RETRY.maxAttempts,
    initialIntervalMs: Math.round((r.initialSeconds ?? DEFAULT_PUSH_RETRY.initialIntervalMs / 1000) * 1000),
    backoffCoefficient: r.backoffCoefficient ?? DEFAULT_PUSH_RETRY.backoffCoefficient,
    maximumIntervalMs: Math.round((r.maximumSeconds ?? DEFAULT_PUSH_RETRY.maximumIntervalMs / 1000) * 1000),
  };
  if (retry.maximumIntervalMs < retry.initialIntervalMs)
    throw new FixpayError('PUSH_CAMPAIGN_INVALID', `${source}: retry.maximumSeconds is below retry.initialSeconds`);
  const s = raw.schedule;
  const schedule: CampaignSchedule = {
    ...(s.cron === undefined ? {} : { cron: [...s.cron] }),
    ...(s.everyMinutes === undefined ? {} : { everyMinutes: s.everyMinutes }),
    ...(s.timezone === undefined ? {} : { timezone: s.timezone }),
    overlap: s.overlap ?? 'skip',
    catchupWindowMinutes: s.catchupWindowMinutes ?? DEFAULT_CATCHUP_WINDOW_MINUTES,
    paused: s.paused ?? false,
  };
  return {
    id: raw.id,
    description: raw.description,
    audience: raw.audience,
    text: raw.text,
    ...(raw.sender === undefined ? {} : { sender: raw.sender }),
    schedule,
    ...(raw.quietHours === undefined ? {} : { quietHours: raw.quietHours }),
    retry,
    lineBudget: raw.lineBudget ?? DEFAULT_LINE_BUDGET,
  };
}

/** Parses and checks a campaign file's text. Throws PUSH_CAMPAIGN_INVALID / PUSH_TEXT_UNSAFE. */
export function parseCampaign(text: string, source = 'campaign'): CampaignSpec {
  if (new TextEncoder().encode(text).length > CAMPAIGN_FILE_BYTES_MAX)
    throw new FixpayError('PUSH_CAMPAIGN_INVALID', `${source}: larger than ${CAMPAIGN_FILE_BYTES_MAX} bytes`);
  let value: unknown;
  try {
    // No aliases: a campaign has no use for them, and alias expansion is how a small file grows huge.
    value = parse(text, { maxAliasCount: 0, uniqueKeys: true, prettyErrors: false });
  } catch (e) {
    throw new FixpayError(
      'PUSH_CAMPAIGN_INVALID',
      `${source}: not valid YAML (${e instanceof Error ? e.message.split('\n')[0] : 'parse error'})`,
    );
  }
  return checkCampaign(value, source);
}
