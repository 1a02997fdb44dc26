/**
 * Operator view of a message: one line per field, masked with `domain/masking.ts`. PANs show as
 * BIN + last four; secret fields (track data, PIN block, keys, ICC data) show only their size
 * (and TLV tags), never their value.
 */
import { HIDDEN, maskPan, scrubText } from '../../domain/masking';
import { toHex } from './encoding';
import type { FieldValue } from './field';
import { isSubfields, isTlvList } from './field';
import type { IsoMessage } from './message';
import type { FieldSpec, MessageSpec, Sensitivity } from './spec';

function maskText(value: string, sensitive: Sensitivity | undefined): string {
  if (sensitive === 'secret') return `${HIDDEN} (${value.length} chars)`;
  if (sensitive === 'pan') return maskPan(value);
  return scrubText(value);
}

function show(spec: FieldSpec | undefined, value: FieldValue): string {
  const sensitive = spec?.sensitive;
  if (typeof value === 'string') return maskText(value, sensitive);
  if (value instanceof Uint8Array) return sensitive === 'secret' ? `${HIDDEN} (${value.length} bytes)` : toHex(value);
  if (isTlvList(value)) {
    const tags = value.map((t) => `${t.tag}(${t.value.length})`).join(' ');
    return sensitive === 'secret'
      ? `TLV ${tags} [values hidden]`
      : `TLV ${value.map((t) => `${t.tag}=${toHex(t.value)}`).join(' ')}`;
  }
  if (isSubfields(value)) {
    return Object.entries(value)
      .map(([id, v]) => {
        const sub = spec?.subfields?.find((s) => s.id === id);
        const s = sub?.sensitive ?? (sensitive === 'secret' ? 'secret' : undefined);
        return `${spec?.id ?? '?'}.${id} ${sub?.name ?? ''}=${maskText(v, s)}`;
      })
      .join(', ');
  }
  return HIDDEN;
}

/** Masked multi-line description of `msg` under `spec`; safe to log. */
export function describeMessage(msg: IsoMessage, spec: MessageSpec): string {
  const byId = new Map(spec.fields.map((f) => [f.id, f]));
  const lines = [`MTI ${msg.mti} (spec ${spec.name} v${spec.version})`];
  const ids = [...msg.fields.keys()].sort((a, b) => a - b);
  lines.push(`bitmap fields: ${ids.join(', ')}`);
  for (const id of ids) {
    const value = msg.fields.get(id);
    if (value === undefined) continue;
    const f = byId.get(id);
    lines.push(`${String(id).padStart(3)} ${(f?.name ?? 'unknown').padEnd(26)} ${show(f, value)}`);
  }
  return lines.join('\n');
}

/** Masked one-line summary for log lines: MTI, STAN, terminal, response code. */
export function summarizeMessage(msg: IsoMessage): Record<string, string> {
  const out: Record<string, string> = { mti: msg.mti };
  const pick = (id: number, name: string): void => {
    const v = msg.fields.get(id);
    if (typeof v === 'string') out[name] = scrubText(v);
  };
  pick(3, 'processingCode');
  pick(11, 'stan');
  pick(39, 'responseCode');
  pick(41, 'terminalId');
  return out;
}
