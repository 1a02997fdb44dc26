-- Information push (docs/protocols/push.md, ADR 0021). Push text is checked before it is stored
-- (printable ASCII, no card data); nothing secret lives here.
CREATE TYPE "push_status" AS ENUM ('pending', 'delivered', 'failed');

CREATE TABLE "terminal_push_attributes" (
    "terminal_id" CHAR(8) NOT NULL,
    "region" VARCHAR(48) NOT NULL,
    "merchant_type" VARCHAR(48),
    "entitlements" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "utc_offset_minutes" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "terminal_push_attributes_pkey" PRIMARY KEY ("terminal_id")
);
CREATE INDEX "terminal_push_attributes_region_idx" ON "terminal_push_attributes"("region");

CREATE TABLE "push_message" (
    "id" VARCHAR(200) NOT NULL,
    "campaign_id" VARCHAR(48) NOT NULL,
    "run_key" VARCHAR(190) NOT NULL,
    "terminal_id" CHAR(8) NOT NULL,
    "called_number" VARCHAR(20) NOT NULL,
    "profile_id" VARCHAR(64) NOT NULL,
    "text" VARCHAR(200) NOT NULL,
    "sender" VARCHAR(20),
    "utc_offset_minutes" INTEGER NOT NULL DEFAULT 0,
    "status" "push_status" NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_outcome" VARCHAR(16),
    "delivered_via" VARCHAR(16),
    "delivered_at" TIMESTAMPTZ(6),
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,
    CONSTRAINT "push_message_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "push_message_terminal_id_status_idx" ON "push_message"("terminal_id", "status");
CREATE INDEX "push_message_campaign_id_status_idx" ON "push_message"("campaign_id", "status");
