/**
 * The phone binding check: the caller number (ANI, from the line signalling, never from the
 * terminal's own data) must be the one the terminal is bound to, and the PSAM in the terminal the
 * bound PSAM. Checked in this order, so a wrong line is refused before anything else is revealed.
 */
import { parseAni } from '../domain/ids';
import { canTransact } from './lifecycle';
import type { CoreResult, PhoneBinding, Psam, Terminal } from './model';
import { refuse } from './model';

export interface BindingCheckInput {
  readonly terminal: Terminal | undefined;
  /** The terminal's active binding, if any. */
  readonly binding: PhoneBinding | undefined;
  /** The bound PSAM's record (status), if any. */
  readonly psam: Psam | undefined;
  /** Caller number as delivered by the line; undefined when withheld or absent. */
  readonly ani: string | undefined;
  /** PSAM number the terminal reported, when the message carries one. */
  readonly psamNo: string | undefined;
}

/**
 * OK with the binding, or: TERMINAL_UNKNOWN, BINDING_ANI_MISSING, BINDING_NOT_FOUND,
 * BINDING_ANI_MISMATCH (wrong caller number: refused), BINDING_PSAM_MISMATCH, PSAM_NOT_ACTIVE,
 * TERMINAL_NOT_IN_SERVICE.
 */
export function checkBinding(input: BindingCheckInput): CoreResult<PhoneBinding> {
  const { terminal, binding, psam } = input;
  if (terminal === undefined) return refuse('TERMINAL_UNKNOWN', 'terminal is not registered');
  const ani = input.ani === undefined ? undefined : parseAni(input.ani);
  if (ani === undefined || !ani.ok)
    return refuse('BINDING_ANI_MISSING', `terminal ${terminal.id}: no usable caller number`);
  if (binding === undefined) return refuse('BINDING_NOT_FOUND', `terminal ${terminal.id} has no active binding`);
  if (binding.ani !== ani.value)
    return refuse('BINDING_ANI_MISMATCH', `terminal ${terminal.id} called from another line`);
  if (input.psamNo !== undefined && input.psamNo.toUpperCase() !== binding.psamNo)
    return refuse('BINDING_PSAM_MISMATCH', `terminal ${terminal.id} holds another PSAM`);
  if (psam?.status !== 'active') return refuse('PSAM_NOT_ACTIVE', `PSAM of terminal ${terminal.id} is not active`);
  if (!canTransact(terminal.state))
    return refuse('TERMINAL_NOT_IN_SERVICE', `terminal ${terminal.id} is ${terminal.state}`);
  return { ok: true, value: binding };
}
