-- unified_trade_view with the exact quantity beside the REAL one (reports print money and shares
-- exactly). The seed's dashboard query (created_at, direction, price, trade_type by symbol) is unchanged.
DROP VIEW unified_trade_view;

CREATE VIEW unified_trade_view AS
SELECT
    created_at,
    symbol,
    direction,
    price_usdc AS price,
    json_extract(payload, '$.price_usdc') AS price_exact,
    amount AS quantity,
    json_extract(payload, '$.amount') AS quantity_exact,
    'ONCHAIN' AS trade_type,
    view_id AS trade_ref
FROM onchain_trade_view
UNION ALL
SELECT
    executed_at AS created_at,
    symbol,
    direction,
    CAST(json_extract(payload, '$.price_usd') AS REAL) AS price,
    json_extract(payload, '$.price_usd') AS price_exact,
    CAST(json_extract(payload, '$.shares_filled') AS REAL) AS quantity,
    json_extract(payload, '$.shares_filled') AS quantity_exact,
    'OFFCHAIN' AS trade_type,
    view_id AS trade_ref
FROM offchain_trade_view
WHERE status IN ('FILLED', 'CANCELLED') AND json_extract(payload, '$.shares_filled') != '0';
