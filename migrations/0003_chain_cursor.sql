-- Where intake has reached: one row per recorded block range end (newest = the cursor). Advanced in
-- the same transaction as the trades of that range; older rows are the checkpoints reorg detection
-- walks back through. Operational state, not a view: losing it only means a longer (deduplicated)
-- backfill from the deployment block.
CREATE TABLE chain_checkpoints (
    block_number INTEGER PRIMARY KEY,
    block_hash TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
