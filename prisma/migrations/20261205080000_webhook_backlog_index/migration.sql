-- The webhook backlog gauges (worker/metrics.ts) read the deliveries not yet delivered at every
-- scrape: a partial index keeps that read proportional to the backlog, not to every delivery ever
-- made. Prisma cannot express a partial index, so it lives here only.
CREATE INDEX "webhook_delivery_undelivered" ON "webhook_delivery"("created_at") WHERE "status" = 'pending';
