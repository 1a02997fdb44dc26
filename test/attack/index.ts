/**
 * Every attack of the suite, grouped per target, destructive ones last (they kill processes; the
 * runner restarts them), and the list of attacks known to succeed today.
 */
import { apiAttacks } from './attacks/api';
import { bankLinkAttacks } from './attacks/bank-link';
import { hsmAttacks } from './attacks/hsm';
import { platformAttacks } from './attacks/platform';
import { sipAttacks } from './attacks/sip';
import { tcpPcmAttacks } from './attacks/tcp-pcm';
import { terminalAttacks } from './attacks/terminal';
import { stillServing } from './runner';
import type { Attack } from './types';

const all = [
  ...tcpPcmAttacks,
  ...terminalAttacks,
  ...bankLinkAttacks,
  ...hsmAttacks,
  ...apiAttacks,
  ...platformAttacks,
  ...sipAttacks,
];

/** Crashers and process killers run after the rest, then the check that everything still serves. */
export const ATTACKS: readonly Attack[] = [
  ...all.filter((a) => a.destructive !== true),
  ...all.filter((a) => a.destructive === true),
  stillServing,
];

/**
 * Attacks that still succeed (open defects). The quick slice in `npm test` skips them; `npm run
 * attack` runs them all. Empty: every defect of the attack on the platform is fixed, so the quick
 * slice guards all of them. Add an id here only with an open issue that names it.
 */
export const KNOWN_OPEN: readonly string[] = [];
