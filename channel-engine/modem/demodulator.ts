import { ModemBank } from './bank';
import { checkCommonOptions } from './modulator';
import type { Demodulator, ModemEvent, ModemMetrics, ModemOptions } from './types';

/** What `push` returns when it has no event (frozen: it is shared by every receiver). */
const NO_EVENTS = Object.freeze([]) as unknown as ModemEvent[];

/** One receiver: a bank of one line, so single lines and banks share the same kernel. */
class FskDemodulator implements Demodulator {
  private readonly bank: ModemBank;
  private events: ModemEvent[] = [];

  constructor(o: ModemOptions) {
    checkCommonOptions(o);
    this.bank = new ModemBank(
      { lines: 1, modulation: o.modulation, ...(o.steadyGate === undefined ? {} : { steadyGate: o.steadyGate }) },
      (_line, ev) => {
        this.events.push(ev);
      },
    );
  }

  push(pcm: Int16Array): ModemEvent[] {
    this.bank.push(0, pcm);
    // Nearly every push of an idle line has no event: no new array for it.
    if (this.events.length === 0) return NO_EVENTS;
    const out = this.events;
    this.events = [];
    return out;
  }

  reset(): void {
    this.bank.reset(0);
    this.events = [];
  }

  metrics(): ModemMetrics {
    return this.bank.metrics(0);
  }
}

/** A demodulator that also exposes its metrics. */
export interface MeteredDemodulator extends Demodulator {
  metrics(): ModemMetrics;
}

/** Creates a receiver. Throws FixpayError MODEM_BAD_OPTIONS on invalid options. */
export function createDemodulator(o: ModemOptions): MeteredDemodulator {
  return new FskDemodulator(o);
}
