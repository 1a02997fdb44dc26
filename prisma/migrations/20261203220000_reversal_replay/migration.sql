-- An operator's replay of a stuck reversal (fixpay ops reversal replay, ADR 0031): how many times it
-- was replayed, when last, and how many attempts it had then; the forwarder's attempt and expiry
-- limits count from the last replay.
ALTER TABLE "card_network_reversal" ADD COLUMN "replays" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "card_network_reversal" ADD COLUMN "replayed_at" TIMESTAMPTZ(6);
ALTER TABLE "card_network_reversal" ADD COLUMN "attempts_at_replay" INTEGER NOT NULL DEFAULT 0;
