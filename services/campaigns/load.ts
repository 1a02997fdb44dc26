/**
 * Campaign files (docs/protocols/push.md, "Campaigns"): the YAML files of a folder (or named
 * files), each checked by `parseCampaign`, ids unique. Shared by `fixpay push validate|schedule`
 * and the central worker, which schedules them at start.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isFixpayError } from '../../domain/errors';
import { parseCampaign, type CampaignSpec } from './campaign';

/** The campaign files of `paths` (folders give their `*.yaml`/`*.yml`, sorted). Throws for a path that does not exist. */
export function campaignFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    if (statSync(abs, { throwIfNoEntry: false }) === undefined) throw new Error(`no such file or folder: ${p}`);
    if (statSync(abs).isDirectory())
      out.push(
        ...readdirSync(abs)
          .filter((f) => /\.ya?ml$/.test(f))
          .sort()
          .map((f) => join(abs, f)),
      );
    else out.push(abs);
  }
  return out;
}

export interface LoadedCampaigns {
  /** The campaigns that checked, with their files. */
  readonly specs: readonly { readonly file: string; readonly spec: CampaignSpec }[];
  /** One line per refused file: its code (FP3700/FP3701/…) and reason, or a duplicate id. */
  readonly refused: readonly string[];
}

/** Reads and checks every campaign file of `paths`; never throws for a bad file (see `refused`). */
export function loadCampaigns(paths: readonly string[]): LoadedCampaigns {
  const specs: { file: string; spec: CampaignSpec }[] = [];
  const refused: string[] = [];
  const ids = new Map<string, string>();
  for (const file of campaignFiles(paths)) {
    try {
      const spec = parseCampaign(readFileSync(file, 'utf8'), file);
      const other = ids.get(spec.id);
      if (other !== undefined) throw new Error(`${file}: campaign id ${spec.id} is also used by ${other}`);
      ids.set(spec.id, file);
      specs.push({ file, spec });
    } catch (e) {
      refused.push(isFixpayError(e) ? `${e.code} ${e.message}` : e instanceof Error ? e.message : String(e));
    }
  }
  return { specs, refused };
}
