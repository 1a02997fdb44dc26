import { Registry } from 'prom-client';
import type { EngineMetrics } from '../engine';
import { registerAccessNodeMetrics } from './metrics';

function engineMetrics(over: Partial<EngineMetrics> = {}): EngineMetrics {
  return {
    callsOffered: 10,
    callsAnswered: 8,
    callsRefused: 2,
    callsEnded: 7,
    framesReceived: 40,
    framesSent: 38,
    retransmissions: 3,
    badFrames: 1,
    junkBytes: 0,
    framingErrors: 0,
    duplicates: 0,
    naksReceived: 0,
    requests: 12,
    responses: 12,
    prompts: 0,
    handlerFailures: 0,
    bursts: 50,
    callsRefusedReserved: 1,
    callFaults: 0,
    profilesResolved: 8,
    profilesUnresolved: 0,
    linesActive: 5,
    linesMax: 100,
    linesReserved: 10,
    linesFreeUnreserved: 85,
    draining: false,
    badFramesByCode: { CRC_MISMATCH: 1 },
    outcomes: { NORMAL: 6, NO_ACK: 1 },
    lastSnrDb: 31.5,
    meanSnrDb: 29.25,
    drivers: { 'sip.malformed': 4, 'rtp.lost': 2 },
    ...over,
  } as EngineMetrics;
}

const value = (text: string, series: string): number | undefined => {
  const escaped = series.replace(/[{}"=,.]/g, (c) => `\\${c}`);
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
};

describe('access node metrics', () => {
  it('exports the engine counters, lines by state and SNR as read at scrape time', async () => {
    const registry = new Registry();
    let current = engineMetrics();
    registerAccessNodeMetrics(registry, () => current);
    let text = await registry.metrics();
    expect(value(text, 'fixpay_lines{state="busy"}')).toBe(5);
    expect(value(text, 'fixpay_lines{state="free"}')).toBe(85);
    expect(value(text, 'fixpay_lines{state="reserved"}')).toBe(10);
    expect(value(text, 'fixpay_calls_total{event="answered"}')).toBe(8);
    expect(value(text, 'fixpay_calls_total{event="refused_reserved"}')).toBe(1);
    expect(value(text, 'fixpay_frames_bad_total{code="CRC_MISMATCH"}')).toBe(1);
    expect(value(text, 'fixpay_calls_ended_by_outcome_total{outcome="NO_ACK"}')).toBe(1);
    expect(value(text, 'fixpay_line_driver_events_total{driver="sip",counter="malformed"}')).toBe(4);
    expect(value(text, 'fixpay_line_snr_db{window="mean"}')).toBe(29.25);
    expect(value(text, 'fixpay_retransmissions_total')).toBe(3);

    // The next scrape sees the engine's new figures; a counter never goes back.
    current = engineMetrics({ callsAnswered: 11, retransmissions: 2, linesActive: 7, linesFreeUnreserved: 83 });
    text = await registry.metrics();
    expect(value(text, 'fixpay_calls_total{event="answered"}')).toBe(11);
    expect(value(text, 'fixpay_retransmissions_total')).toBe(3);
    expect(value(text, 'fixpay_lines{state="busy"}')).toBe(7);
  });

  it('exports nothing from the engine while the node starts, and observes host latency by service', async () => {
    const registry = new Registry();
    const metrics = registerAccessNodeMetrics(registry, () => undefined);
    metrics.answered({ workflowId: 'w', serviceId: 'purchase', terminalId: 'T0000001', latencyMs: 120 });
    metrics.answered({ workflowId: 'w2', serviceId: 'purchase', terminalId: 'T0000001', latencyMs: 700 });
    const text = await registry.metrics();
    expect(text).not.toMatch(/^fixpay_lines\{/m);
    expect(value(text, 'fixpay_host_latency_seconds_count{service="purchase"}')).toBe(2);
    expect(value(text, 'fixpay_host_latency_seconds_bucket{le="0.15",service="purchase"}')).toBe(1);
    // No terminal id is a label: it would grow with the terminal estate.
    expect(text).not.toContain('T0000001');
  });
});
