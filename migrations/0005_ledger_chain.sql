-- One chain per ledger: the chain id the ledger was first started on, and every orderbook address it
-- has been started with. Written once at the first start (or the first start after this migration) and
-- compared at every start and intake session; a node answering another chain id is refused. Facts about
-- the ledger, not views: `db rebuild-views` leaves them alone. Rows are never changed or removed.
CREATE TABLE ledger_chain (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    chain_id INTEGER NOT NULL CHECK (chain_id > 0),
    recorded_at TEXT NOT NULL
);

CREATE TABLE ledger_orderbooks (
    address TEXT PRIMARY KEY CHECK (address = lower(address) AND length(address) = 42),
    first_seen_at TEXT NOT NULL
);

CREATE TRIGGER ledger_chain_no_update BEFORE UPDATE ON ledger_chain
BEGIN
    SELECT RAISE(ABORT, 'ledger_chain is append-only');
END;

CREATE TRIGGER ledger_chain_no_delete BEFORE DELETE ON ledger_chain
BEGIN
    SELECT RAISE(ABORT, 'ledger_chain is append-only');
END;

CREATE TRIGGER ledger_orderbooks_no_update BEFORE UPDATE ON ledger_orderbooks
BEGIN
    SELECT RAISE(ABORT, 'ledger_orderbooks is append-only');
END;

CREATE TRIGGER ledger_orderbooks_no_delete BEFORE DELETE ON ledger_orderbooks
BEGIN
    SELECT RAISE(ABORT, 'ledger_orderbooks is append-only');
END;
