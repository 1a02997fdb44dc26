/**
 * The phone binding check: the caller number (ANI, from the line signalling, never from the
 * terminal's own data) must be the one the terminal is bound to, and the PSAM in the terminal the
 * bound PSAM. Checked in this order, so a wrong line is refused before anything else is revealed.
 */
import { parseAni } from '../domain/ids';
import { canSignOn, canTransact } from './lifecycle';
import type { BindingPurpose, CoreResult, PhoneBinding, Psam, Terminal } from './model';
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
  /** The calling line is actively bound to another terminal (not a free line the phone moved to). */
  readonly aniBoundElsewhere?: boolean;
  /** The reported PSAM is actively bound to this other terminal. */
  readonly psamBoundTo?: string;
  /** `sign-on` also admits an activated terminal (its first key download); `transact` by default. */
  readonly purpose?: BindingPurpose;
}

/**
 * OK with the binding, or: TERMINAL_UNKNOWN, BINDING_ANI_MISSING, BINDING_NOT_FOUND,
 * BINDING_ANI_MISMATCH (the line is another terminal's: refused), BINDING_REBIND_PENDING (the phone
 * calls from a free line: refused until an operator moves it there), BINDING_PSAM_ELSEWHERE (the
 * PSAM is bound to another terminal), BINDING_PSAM_MISMATCH, PSAM_NOT_ACTIVE,
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
    return input.aniBoundElsewhere === false
      ? refuse('BINDING_REBIND_PENDING', `terminal ${terminal.id} called from a new line`)
      : refuse('BINDING_ANI_MISMATCH', `terminal ${terminal.id} called from another line`);
  if (input.psamNo !== undefined && input.psamNo.toUpperCase() !== binding.psamNo)
    return input.psamBoundTo !== undefined && input.psamBoundTo !== terminal.id
      ? refuse('BINDING_PSAM_ELSEWHERE', `terminal ${terminal.id} holds the PSAM of another terminal`)
      : refuse('BINDING_PSAM_MISMATCH', `terminal ${terminal.id} holds another PSAM`);
  if (psam?.status !== 'active') return refuse('PSAM_NOT_ACTIVE', `PSAM of terminal ${terminal.id} is not active`);
  const allowed = input.purpose === 'sign-on' ? canSignOn(terminal.state) : canTransact(terminal.state);
  if (!allowed) return refuse('TERMINAL_NOT_IN_SERVICE', `terminal ${terminal.id} is ${terminal.state}`);
  return { ok: true, value: binding };
}
