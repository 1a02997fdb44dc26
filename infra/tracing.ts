/**
 * OpenTelemetry tracing of a fixpay process: one tracer provider per process, registered as the
 * global one with an async-hooks context manager and W3C trace-context propagation, so a span
 * opened on the line (the access node's request) is the parent of the workflow start, the run and
 * its activities — one trace per transaction, across processes through Temporal's headers.
 *
 * Exporters: `none` (no provider at all: the API's no-op tracer), `otlp` (OTLP/HTTP protobuf-JSON
 * to FIXPAY_OTLP_ENDPOINT, batched), or one passed in (tests: the in-memory exporter). Spans carry
 * ids, service ids and result codes; never card data (docs/operations/tracing.md).
 */
import { context, propagation, trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface TracingSettings {
  readonly exporter: 'none' | 'otlp';
  /** OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces. */
  readonly otlpEndpoint: string;
}

export interface Tracing {
  readonly tracer: Tracer;
  readonly resource: Resource;
  readonly spanProcessor: SpanProcessor;
  /** Flushes what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

/** The tracer name of every span fixpay opens itself. */
export const TRACER_NAME = 'fixpay';

let installed: Tracing | undefined;

/**
 * Installs tracing for this process once (later calls return the first); undefined when the
 * exporter is `none` and no exporter is given.
 */
export function installTracing(
  settings: TracingSettings,
  labels: { readonly process: string; readonly node?: string },
  exporter?: SpanExporter,
): Tracing | undefined {
  if (installed !== undefined) return installed;
  if (exporter === undefined && settings.exporter === 'none') return undefined;
  const resource = new Resource({
    'service.name': `fixpay-${labels.process}`,
    ...(labels.node === undefined ? {} : { 'service.instance.id': labels.node }),
  });
  const spanProcessor =
    exporter !== undefined
      ? new SimpleSpanProcessor(exporter)
      : new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.otlpEndpoint }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  installed = {
    tracer: provider.getTracer(TRACER_NAME),
    resource,
    spanProcessor,
    shutdown: async () => {
      await provider.shutdown();
    },
  };
  return installed;
}
