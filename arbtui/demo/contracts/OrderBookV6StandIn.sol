// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.20;

import "@pythnetwork/pyth-sdk-solidity/IPyth.sol";
import "@pythnetwork/pyth-sdk-solidity/PythStructs.sol";

// Struct layouts of IOrderBookV5 / IRaindexV6 (their fill events are the same), written from the
// interface's field list so the events hash exactly like a deployed V5/V6 orderbook's. Amounts are rain
// `Float`s: one bytes32 each (int32 exponent in the top 32 bits, int224 coefficient below). This
// contract never builds a Float itself: callers pass the bytes (tests encode them with Rain's own
// @rainlanguage/float).
struct EvaluableV4S {
    address interpreter;
    address store;
    bytes bytecode;
}

struct IOV2S {
    address token;
    bytes32 vaultId;
}

struct OrderV4S {
    address owner;
    EvaluableV4S evaluable;
    IOV2S[] validInputs;
    IOV2S[] validOutputs;
    bytes32 nonce;
}

struct SignedContextV1S {
    address signer;
    bytes32[] context;
    bytes signature;
}

struct TakeOrderConfigV4S {
    OrderV4S order;
    uint256 inputIOIndex;
    uint256 outputIOIndex;
    SignedContextV1S[] signedContext;
}

struct ClearConfigV2S {
    uint256 aliceInputIOIndex;
    uint256 aliceOutputIOIndex;
    uint256 bobInputIOIndex;
    uint256 bobOutputIOIndex;
    bytes32 aliceBountyVaultId;
    bytes32 bobBountyVaultId;
}

struct ClearStateChangeV2S {
    bytes32 aliceOutput;
    bytes32 bobOutput;
    bytes32 aliceInput;
    bytes32 bobInput;
}

/// Stand-in for a Raindex V5/V6 orderbook: emits the real `TakeOrderV3`, `ClearV3` and `AfterClearV2`
/// events on demand, keeps settable `vaultBalance2` Floats (inventory reads), and reads Pyth in the same
/// transaction as a take or clear (as a real order's expression would).
contract OrderBookV6StandIn {
    event TakeOrderV3(address sender, TakeOrderConfigV4S config, bytes32 input, bytes32 output);
    event ClearV3(address sender, OrderV4S alice, OrderV4S bob, ClearConfigV2S clearConfig);
    event AfterClearV2(address sender, ClearStateChangeV2S clearStateChange);

    IPyth public immutable pyth;
    mapping(address => mapping(address => mapping(bytes32 => bytes32))) private vaults;

    constructor(IPyth pyth_) {
        pyth = pyth_;
    }

    /// The vault's balance as a Float (`IRaindexV6.vaultBalance2`); zero bytes when never set.
    function vaultBalance2(address owner, address token, bytes32 vaultId) external view returns (bytes32 balance) {
        return vaults[owner][token][vaultId];
    }

    /// Test and demo hook: set a vault's Float balance directly.
    function setVaultBalance2(address owner, address token, bytes32 vaultId, bytes32 balance) external {
        vaults[owner][token][vaultId] = balance;
    }

    /// Emits one TakeOrderV3 per config (input/output are the taker's), reading each Pyth feed first.
    function takeOrders(
        TakeOrderConfigV4S[] calldata configs,
        bytes32[] calldata inputs,
        bytes32[] calldata outputs,
        bytes32[] calldata pythFeeds,
        uint256 maxAge
    ) external {
        _readPyth(pythFeeds, maxAge);
        for (uint256 i = 0; i < configs.length; i++) {
            emit TakeOrderV3(msg.sender, configs[i], inputs[i], outputs[i]);
        }
    }

    /// Emits `count` TakeOrderV3 events for one order (history for benchmarks): the i-th carries the
    /// given Floats with i added to their coefficient (the low bits), so amounts differ per event.
    function takeOrderRepeated(
        TakeOrderConfigV4S calldata config,
        bytes32 input,
        bytes32 output,
        uint256 count
    ) external {
        for (uint256 i = 0; i < count; i++) {
            emit TakeOrderV3(msg.sender, config, bytes32(uint256(input) + i), bytes32(uint256(output) + i));
        }
    }

    /// ClearV3 followed (optionally) by its AfterClearV2, as the orderbook emits them.
    function clear(
        OrderV4S calldata alice,
        OrderV4S calldata bob,
        ClearConfigV2S calldata clearConfig,
        ClearStateChangeV2S calldata change,
        bool emitAfterClear,
        bytes32[] calldata pythFeeds,
        uint256 maxAge
    ) external {
        _readPyth(pythFeeds, maxAge);
        emit ClearV3(msg.sender, alice, bob, clearConfig);
        if (emitAfterClear) emit AfterClearV2(msg.sender, change);
    }

    /// Arbitrary raw log from this address: the hostile cases (truncated data, unknown topics).
    function rawLog(bytes32[] calldata topics, bytes calldata data) external {
        bytes memory payload = data;
        uint256 n = topics.length;
        require(n <= 4, "too many topics");
        assembly {
            let ptr := add(payload, 32)
            let len := mload(payload)
            switch n
            case 0 { log0(ptr, len) }
            case 1 { log1(ptr, len, calldataload(topics.offset)) }
            case 2 { log2(ptr, len, calldataload(topics.offset), calldataload(add(topics.offset, 32))) }
            case 3 {
                log3(ptr, len, calldataload(topics.offset), calldataload(add(topics.offset, 32)),
                    calldataload(add(topics.offset, 64)))
            }
            default {
                log4(ptr, len, calldataload(topics.offset), calldataload(add(topics.offset, 32)),
                    calldataload(add(topics.offset, 64)), calldataload(add(topics.offset, 96)))
            }
        }
    }

    function _readPyth(bytes32[] calldata feeds, uint256 maxAge) internal view {
        for (uint256 i = 0; i < feeds.length; i++) {
            try pyth.getPriceNoOlderThan(feeds[i], maxAge) returns (PythStructs.Price memory) {} catch {}
        }
    }
}
