/**
 * Structured logging (pino). Every record passes through `domain/masking.ts`: secret fields are
 * hidden, PANs masked, and free text scrubbed, so card data never reaches a log sink.
 */
import { trace } from '@opentelemetry/api';
import pino from 'pino';
import type { LogLevel } from '../config';
import { maskDeep, scrubText } from '../domain/masking';

export type Logger = pino.Logger;

export interface LoggerOptions {
  readonly level?: LogLevel;
  /** Where records go; defaults to stdout. Tests pass a stream to inspect what was written. */
  readonly destination?: pino.DestinationStream;
}

/** The ids of the active span, `{ trace_id, span_id }`, or `{}` outside a span or without tracing. */
export function activeTraceIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getActiveSpan();
  if (span === undefined) return {};
  const c = span.spanContext();
  return { trace_id: c.traceId, span_id: c.spanId };
}

/** Creates a logger for one component. */
export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  return pino(
    {
      name,
      level: options.level ?? 'info',
      base: { pid: process.pid },
      // Inside a traced transaction every record carries its trace and span ids (infra/tracing.ts).
      mixin: activeTraceIds,
      formatters: {
        log: (obj: Record<string, unknown>) => maskDeep(obj) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          // Scrub string arguments (the message and format args) as well as objects.
          const scrubbed = args.map((a: unknown) => (typeof a === 'string' ? scrubText(a) : a));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
      serializers: { err: (e: unknown) => maskDeep(pino.stdSerializers.err(e as Error)) },
    },
    options.destination,
  );
}
