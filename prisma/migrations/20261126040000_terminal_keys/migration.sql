-- Terminal key state shared by every worker (prisma/schema/terminal-keys.prisma): key material only
-- as HSM handles (key blocks under the LMK), never clear; PSAM counters advanced atomically.
CREATE TABLE "terminal_key" (
    "terminal_id" VARCHAR(16) NOT NULL,
    "tmk" JSONB NOT NULL,
    "current_keys" JSONB,
    "previous_keys" JSONB,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,
    CONSTRAINT "terminal_key_pkey" PRIMARY KEY ("terminal_id")
);

CREATE TABLE "psam_counter" (
    "psam_serial" VARCHAR(32) NOT NULL,
    "counter" BIGINT NOT NULL,
    "request_key" VARCHAR(255) NOT NULL,
    "updated_at" TIMESTAMPTZ(6) NOT NULL,
    CONSTRAINT "psam_counter_pkey" PRIMARY KEY ("psam_serial"),
    CONSTRAINT "psam_counter_non_negative" CHECK ("counter" >= 0)
);
