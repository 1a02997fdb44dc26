-- Provider catalogue entries managed by API (ADR 0029): the documents the provider loader reads
-- beside its directory, per mode, with the partner that manages each (null: an operator's).
CREATE TABLE "catalogue_entry" (
    "mode" "partner_key_mode" NOT NULL,
    "kind" VARCHAR(32) NOT NULL,
    "entry_id" VARCHAR(63) NOT NULL,
    "owner_partner_id" VARCHAR(32),
    "document" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_by" VARCHAR(120) NOT NULL,
    CONSTRAINT "catalogue_entry_pkey" PRIMARY KEY ("mode", "kind", "entry_id")
);

CREATE INDEX "catalogue_entry_owner_partner_id_idx" ON "catalogue_entry"("owner_partner_id");
