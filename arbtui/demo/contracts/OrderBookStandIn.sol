// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.20;

import "@pythnetwork/pyth-sdk-solidity/IPyth.sol";
import "@pythnetwork/pyth-sdk-solidity/PythStructs.sol";

// Struct layouts of IOrderBookV4 (uint256[] signed-context form), so the events hash exactly like the
// deployed orderbook's.
struct EvaluableV3 {
    address interpreter;
    address store;
    bytes bytecode;
}

struct IO {
    address token;
    uint8 decimals;
    uint256 vaultId;
}

struct OrderV3 {
    address owner;
    EvaluableV3 evaluable;
    IO[] validInputs;
    IO[] validOutputs;
    bytes32 nonce;
}

struct SignedContextV1 {
    address signer;
    uint256[] context;
    bytes signature;
}

struct TakeOrderConfigV3 {
    OrderV3 order;
    uint256 inputIOIndex;
    uint256 outputIOIndex;
    SignedContextV1[] signedContext;
}

struct ClearConfig {
    uint256 aliceInputIOIndex;
    uint256 aliceOutputIOIndex;
    uint256 bobInputIOIndex;
    uint256 bobOutputIOIndex;
    uint256 aliceBountyVaultId;
    uint256 bobBountyVaultId;
}

struct ClearStateChange {
    uint256 aliceOutput;
    uint256 bobOutput;
    uint256 aliceInput;
    uint256 bobInput;
}

interface IERC20Like {
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function transfer(address to, uint256 amount) external returns (bool);
}

/// Stand-in for the Raindex orderbook: emits the real IOrderBookV4 events on demand, keeps vault
/// balances that deposit/withdraw move with real token transfers, and reads Pyth in the same
/// transaction as a take (as a real order's expression would).
contract OrderBookStandIn {
    event TakeOrderV2(address sender, TakeOrderConfigV3 config, uint256 input, uint256 output);
    event ClearV2(address sender, OrderV3 alice, OrderV3 bob, ClearConfig clearConfig);
    event AfterClear(address sender, ClearStateChange clearStateChange);
    event AddOrderV2(address sender, bytes32 orderHash, OrderV3 order);
    event RemoveOrderV2(address sender, bytes32 orderHash, OrderV3 order);
    event Deposit(address sender, address token, uint256 vaultId, uint256 amount);
    event Withdraw(address sender, address token, uint256 vaultId, uint256 targetAmount, uint256 amount);

    IPyth public immutable pyth;
    mapping(address => mapping(address => mapping(uint256 => uint256))) private vaults;

    constructor(IPyth pyth_) {
        pyth = pyth_;
    }

    function vaultBalance(address owner, address token, uint256 vaultId) external view returns (uint256 balance) {
        return vaults[owner][token][vaultId];
    }

    function deposit(address token, uint256 vaultId, uint256 amount) external {
        require(IERC20Like(token).transferFrom(msg.sender, address(this), amount), "transferFrom");
        vaults[msg.sender][token][vaultId] += amount;
        emit Deposit(msg.sender, token, vaultId, amount);
    }

    function withdraw(address token, uint256 vaultId, uint256 targetAmount) external {
        uint256 balance = vaults[msg.sender][token][vaultId];
        uint256 amount = targetAmount < balance ? targetAmount : balance;
        vaults[msg.sender][token][vaultId] = balance - amount;
        require(IERC20Like(token).transfer(msg.sender, amount), "transfer");
        emit Withdraw(msg.sender, token, vaultId, targetAmount, amount);
    }

    function addOrder(OrderV3 calldata order) external {
        emit AddOrderV2(msg.sender, keccak256(abi.encode(order)), order);
    }

    /// Emits one TakeOrderV2 per config (input/output are the taker's), reading each Pyth feed first.
    /// A feed read that reverts is caught (its trace frame carries `error`).
    function takeOrders(
        TakeOrderConfigV3[] calldata configs,
        uint256[] calldata inputs,
        uint256[] calldata outputs,
        bytes32[] calldata pythFeeds,
        uint256 maxAge
    ) external {
        _readPyth(pythFeeds, maxAge);
        for (uint256 i = 0; i < configs.length; i++) {
            emit TakeOrderV2(msg.sender, configs[i], inputs[i], outputs[i]);
        }
    }

    /// Emits `count` TakeOrderV2 events for one order, amounts stepping by one base unit (history).
    function takeOrderRepeated(
        TakeOrderConfigV3 calldata config,
        uint256 input,
        uint256 output,
        uint256 count
    ) external {
        for (uint256 i = 0; i < count; i++) {
            emit TakeOrderV2(msg.sender, config, input + i, output + i);
        }
    }

    /// ClearV2 followed (optionally) by its AfterClear, as the orderbook emits them.
    function clear(
        OrderV3 calldata alice,
        OrderV3 calldata bob,
        ClearConfig calldata clearConfig,
        ClearStateChange calldata change,
        bool emitAfterClear,
        bytes32[] calldata pythFeeds,
        uint256 maxAge
    ) external {
        _readPyth(pythFeeds, maxAge);
        emit ClearV2(msg.sender, alice, bob, clearConfig);
        if (emitAfterClear) emit AfterClear(msg.sender, change);
    }

    /// Arbitrary raw log from this address: the hostile cases (truncated data, wrong topic count).
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
