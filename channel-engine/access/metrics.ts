/**
 * The access node's Prometheus metrics, read from the channel engine's own counters at scrape time
 * (nothing on the audio path changes) plus the host latency of every answered request. Labels are
 * bounded sets: service ids, result code names, call outcome names, driver counter names.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { EngineCounters, EngineMetrics } from '../engine';
import type { AnsweredRequest } from './handler';

/** Host latency buckets, seconds: the goal is p99 ≤ 0.25 s; the terminal gives up after seconds. */
export const HOST_LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.4, 0.6, 1, 1.5, 2.5, 5, 10];

/** Engine counters exported as `fixpay_calls_total{event}`. */
const CALL_EVENTS: readonly (readonly [event: string, counter: keyof EngineCounters])[] = [
  ['offered', 'callsOffered'],
  ['answered', 'callsAnswered'],
  ['refused', 'callsRefused'],
  ['refused_reserved', 'callsRefusedReserved'],
  ['ended', 'callsEnded'],
  ['faulted', 'callFaults'],
];

/**
 * A counter whose value is copied from a monotonic source at scrape time. The engine's counters
 * only grow; if a source ever goes backwards (an engine replaced), the counter keeps its value.
 */
class MirroredCounter {
  private readonly seen = new Map<string, number>();
  constructor(private readonly counter: Counter) {}

  set(labels: Record<string, string>, value: number): void {
    const key = JSON.stringify(labels);
    const before = this.seen.get(key) ?? 0;
    if (value > before) this.counter.inc(labels, value - before);
    else if (!this.seen.has(key)) this.counter.inc(labels, 0);
    this.seen.set(key, Math.max(before, value));
  }
}

export interface AccessNodeMetrics {
  /** Call from the handler's onAnswered: observes the host latency of one answered request. */
  answered(answered: AnsweredRequest): void;
}

/** Registers the access node's metrics on `registry`, reading the engine through `source`. */
export function registerAccessNodeMetrics(
  registry: Registry,
  /** The engine's metrics now; undefined while the node is starting (nothing is exported then). */
  source: () => EngineMetrics | undefined,
): AccessNodeMetrics {
  let snapshot: EngineMetrics | undefined;
  const take = (): EngineMetrics | undefined => (snapshot = source());

  new Gauge({
    name: 'fixpay_lines',
    help: 'Lines by state: busy (a call is up), free (an untrusted caller could take it), reserved (kept for trusted trunks)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const m = take();
      if (m === undefined) return;
      const reservedFree = Math.max(0, m.linesMax - m.linesActive - m.linesFreeUnreserved);
      this.set({ state: 'busy' }, m.linesActive);
      this.set({ state: 'free' }, m.linesFreeUnreserved);
      this.set({ state: 'reserved' }, reservedFree);
      // Registered first, so this runs first in a scrape: the counters below are serialised after
      // it has copied this snapshot into them.
      for (const [event, counter] of CALL_EVENTS) calls.set({ event }, m[counter]);
      frames.set({ direction: 'received' }, m.framesReceived);
      frames.set({ direction: 'sent' }, m.framesSent);
      retransmissions.set({}, m.retransmissions);
      for (const [code, n] of Object.entries(m.badFramesByCode)) badFrames.set({ code }, n);
      for (const [outcome, n] of Object.entries(m.outcomes)) outcomes.set({ outcome }, n);
      for (const [name, n] of Object.entries(m.drivers)) {
        const dot = name.indexOf('.');
        drivers.set({ driver: name.slice(0, dot), counter: name.slice(dot + 1) }, n);
      }
    },
  });
  const calls = new MirroredCounter(
    new Counter({
      name: 'fixpay_calls_total',
      help: 'Calls by event: offered, answered, refused (line limit), refused_reserved, ended, faulted',
      labelNames: ['event'],
      registers: [registry],
    }),
  );
  const frames = new MirroredCounter(
    new Counter({
      name: 'fixpay_frames_total',
      help: 'Link-layer frames by direction',
      labelNames: ['direction'],
      registers: [registry],
    }),
  );
  const badFrames = new MirroredCounter(
    new Counter({
      name: 'fixpay_frames_bad_total',
      help: 'Frames refused by the link layer, by result code name',
      labelNames: ['code'],
      registers: [registry],
    }),
  );
  const retransmissions = new MirroredCounter(
    new Counter({
      name: 'fixpay_retransmissions_total',
      help: 'Frames the node sent again because no ACK came',
      registers: [registry],
    }),
  );
  const outcomes = new MirroredCounter(
    new Counter({
      name: 'fixpay_calls_ended_by_outcome_total',
      help: 'Ended calls by outcome name',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  );
  const drivers = new MirroredCounter(
    new Counter({
      name: 'fixpay_line_driver_events_total',
      help: 'Line driver counters (SIP malformed messages, RTP packets lost, …) by driver and counter',
      labelNames: ['driver', 'counter'],
      registers: [registry],
    }),
  );

  new Gauge({
    name: 'fixpay_lines_max',
    help: "The node's line limit",
    registers: [registry],
    collect() {
      const m = snapshot;
      if (m !== undefined) this.set(m.linesMax);
    },
  });
  new Gauge({
    name: 'fixpay_node_draining',
    help: '1 while the node takes no new calls (drain), else 0',
    registers: [registry],
    collect() {
      const m = snapshot;
      if (m !== undefined) this.set(m.draining ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fixpay_line_snr_db',
    help: 'Signal-to-noise estimate of received FSK bursts, dB: the last burst and the mean since start (falling SNR means a rising bit error rate)',
    labelNames: ['window'],
    registers: [registry],
    collect() {
      const m = snapshot;
      if (m === undefined) return;
      if (Number.isFinite(m.lastSnrDb)) this.set({ window: 'last' }, m.lastSnrDb);
      if (Number.isFinite(m.meanSnrDb)) this.set({ window: 'mean' }, m.meanSnrDb);
    },
  });

  const latency = new Histogram({
    name: 'fixpay_host_latency_seconds',
    help: 'From the demodulated request to the answer ready for the modem, by service',
    labelNames: ['service'],
    buckets: HOST_LATENCY_BUCKETS,
    registers: [registry],
  });
  return {
    answered(a) {
      latency.observe({ service: a.serviceId }, a.latencyMs / 1000);
    },
  };
}
