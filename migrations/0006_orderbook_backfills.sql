-- An orderbook added to the configuration of a ledger that already has a chain cursor is read from two
-- sides: blocks above the cursor by the ordinary passes (with every configured book), and its history —
-- first_block (its deployment block) through through_block (the cursor when the book joined, read once,
-- in the same transaction that recorded the book in ledger_orderbooks) — by its own backfill.
-- done_through moves in the same transaction as the fills of each backfilled range, so a crash resumes
-- where it stopped and a restart neither redoes nor skips it; completed_at is stamped by the transaction
-- that reaches through_block. Operational state like chain_checkpoints: `db rebuild-views` leaves it alone.
-- A ledger's first books (and every book of a ledger started before this migration) have no row: the
-- ordinary passes read them from their deployment block.
CREATE TABLE orderbook_backfills (
    address TEXT PRIMARY KEY CHECK (address = lower(address) AND length(address) = 42),
    first_block INTEGER NOT NULL CHECK (first_block >= 0),
    through_block INTEGER NOT NULL,
    done_through INTEGER NOT NULL CHECK (done_through >= first_block - 1 AND done_through <= through_block),
    created_at TEXT NOT NULL,
    completed_at TEXT
);

CREATE TRIGGER orderbook_backfills_forward_only BEFORE UPDATE ON orderbook_backfills
WHEN NEW.done_through < OLD.done_through OR NEW.first_block != OLD.first_block
    OR NEW.through_block != OLD.through_block
BEGIN
    SELECT RAISE(ABORT, 'orderbook_backfills only move forward');
END;

CREATE TRIGGER orderbook_backfills_no_delete BEFORE DELETE ON orderbook_backfills
BEGIN
    SELECT RAISE(ABORT, 'orderbook_backfills rows are never removed');
END;
